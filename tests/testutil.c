/*
 * testutil.c - fixtures shared by the Check suites.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static char slots[16][4096];
static unsigned next_slot;

static char *slot(void)
{
    return slots[next_slot++ % 16];
}

const char *tu_plugin(const char *name)
{
    char *p = slot();
    snprintf(p, sizeof slots[0], "%s/%s.so",
             env_or("DLPOOL_TEST_PLUGINS", "tests/plugins/.libs"), name);
    return p;
}

const char *tu_examples(void)
{
    char *p = slot();
    snprintf(p, sizeof slots[0], "%s/examples.so",
             env_or("DLPOOL_EXAMPLES", "plugins/.libs"));
    return p;
}

const char *tu_ref(const char *plugin, const char *symbol)
{
    char *p = slot();
    snprintf(p, sizeof slots[0], "%s:%s", plugin, symbol);
    return p;
}

int tu_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

void tu_assert_clean(int fds_before)
{
    int st;
    pid_t r = waitpid(-1, &st, WNOHANG);
    ck_assert_msg(r == -1 && errno == ECHILD,
                  "expected no child process left, but waitpid returned %d "
                  "(errno %d)",
                  (int)r, errno);
    ck_assert_msg(tu_fd_count() == fds_before,
                  "expected %d open descriptors (as before), got %d",
                  fds_before, tu_fd_count());
}

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
