/* idlecrash - a plugin that crashes every worker outside any task: its
 * init hook starts a thread that kills the process 20 ms later, whether or
 * not a task is running.  The pool must stop replacing workers past its
 * restart intensity instead of forking in a loop. */
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <dlpool/plugin.h>

static void *bomb(void *arg)
{
    struct timespec ts = {0, 20000000};
    (void)arg;
    nanosleep(&ts, NULL);
    raise(SIGSEGV);
    return NULL;
}

static int init(void)
{
    pthread_t t;
    return pthread_create(&t, NULL, bomb, NULL) != 0;
}

static int64_t slow(int64_t v)
{
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    return v;
}

DLP_PLUGIN_HOOKS("idlecrash", init, NULL, DLP_FN(slow, "i64(i64)"));
