/*
 * check_faults.c - placeholder; the fault suite is being written.
 */
#include "config.h"

#include "testutil.h"

START_TEST(test_placeholder_pool_starts)
{
    dlp_pool *p = NULL;
    dlp_error err = {0, ""};
    int fds = tu_fd_count();
    int rc = dlp_pool_create(&p, NULL, &err);
    tu_ok(rc, err);
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

Suite *dlp_test_faults(void);

Suite *dlp_test_faults(void)
{
    Suite *s = suite_create("faults");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_placeholder_pool_starts);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(dlp_test_faults)
