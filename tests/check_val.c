#include "testutil.h"
Suite *dlp_test_val(void);
START_TEST(test_placeholder) { ck_assert_int_eq(1, 1); }
END_TEST
Suite *dlp_test_val(void)
{
    Suite *s = suite_create("val");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_placeholder);
    suite_add_tcase(s, tc);
    return s;
}
TU_MAIN(dlp_test_val)
