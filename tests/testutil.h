/*
 * testutil.h - fixtures shared by the Check suites.
 */
#ifndef DLPOOL_TESTS_TESTUTIL_H
#define DLPOOL_TESTS_TESTUTIL_H

#include <check.h>

#include "dlpool.h"

/* Path of a test plugin (tests/plugins/NAME.so) or of the example plugin
 * (plugins/examples.so) in the build tree.  Static storage, one per name
 * slot: valid for the rest of the test. */
const char *tu_plugin(const char *name);
const char *tu_examples(void);

/* "PATH:SYMBOL" for a test plugin's function (static storage). */
const char *tu_ref(const char *plugin, const char *symbol);

/* Open descriptors of this process. */
int tu_fd_count(void);

/* Fail the test unless this process has no child left (waitpid reports
 * ECHILD) and fds_before descriptors are open again. */
void tu_assert_clean(int fds_before);

/* ck_assert that rc is 0, printing dlp_strerror(rc) and err's message. */
#define tu_ok(rc, err)                                                         \
    ck_assert_msg((rc) == 0, "expected success, got %d (%s): %s", (rc),       \
                  dlp_strerror(rc), (err).msg)

/* Run one suite, in Check's fork mode unless CK_FORK says otherwise;
 * returns the process exit status. */
int tu_run(Suite *s);

#define TU_MAIN(suite_fn)                                                      \
    int main(void)                                                             \
    {                                                                          \
        return tu_run(suite_fn());                                             \
    }

#endif
