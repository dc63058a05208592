#include "testutil.h"
Suite *dlp_test_process(void);
START_TEST(test_placeholder) { ck_assert_int_eq(1, 1); }
END_TEST
Suite *dlp_test_process(void)
{
    Suite *s = suite_create("process");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_placeholder);
    suite_add_tcase(s, tc);
    return s;
}
TU_MAIN(dlp_test_process)
