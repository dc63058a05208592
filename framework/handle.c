/*
 * handle.c - the registry of live handles (handle.h).
 *
 * A set of addresses with their kind, in an open-addressing table with
 * linear probing, guarded by one mutex: the library's only process-wide
 * state in the calling process.  Deletion shifts the entries after the
 * removed one back, so there are no tombstones and a lookup stops at the
 * first empty slot.  The table doubles at half full and never shrinks; a
 * program holds few handles at once.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "handle.h"

struct slot {
    const void *h; /* NULL: empty */
    int kind;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct slot *tab;
static size_t cap, used; /* cap: 0 or a power of two */
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* A fork taken while another thread holds the lock would leave the child
 * with a lock nobody releases: hold it across the fork. */
static void before_fork(void)
{
    pthread_mutex_lock(&mu);
}

static void after_fork(void)
{
    pthread_mutex_unlock(&mu);
}

static void setup(void)
{
    pthread_atfork(before_fork, after_fork, after_fork);
}

static size_t home(const void *h, size_t n)
{
    uint64_t x = (uint64_t)(uintptr_t)h;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & (n - 1);
}

/* The slot holding h, or the empty slot where it would go. */
static size_t find(const void *h)
{
    size_t i = home(h, cap);
    while (tab[i].h && tab[i].h != h)
        i = (i + 1) & (cap - 1);
    return i;
}

static int grow_table(void)
{
    size_t ncap = cap ? 2 * cap : 64;
    struct slot *old = tab, *n = calloc(ncap, sizeof *n);
    size_t ocap = cap;
    if (!n)
        return -ENOMEM;
    tab = n;
    cap = ncap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].h)
            tab[find(old[i].h)] = old[i];
    free(old);
    return 0;
}

int dlp__handle_add(const void *h, int kind)
{
    int rc = 0;
    size_t i;
    pthread_once(&once, setup);
    pthread_mutex_lock(&mu);
    if (2 * (used + 1) > cap && (rc = grow_table()))
        goto out;
    i = find(h);
    if (!tab[i].h)
        used++;
    tab[i].h = h;
    tab[i].kind = kind;
out:
    pthread_mutex_unlock(&mu);
    return rc;
}

int dlp__handle_take(const void *h, int kind, void (*take)(void *))
{
    int live = 0;
    if (!h)
        return 0;
    pthread_mutex_lock(&mu);
    if (cap) {
        size_t i = find(h);
        live = tab[i].h == h && tab[i].kind == kind;
    }
    if (live && take)
        take((void *)(uintptr_t)h);
    pthread_mutex_unlock(&mu);
    return live;
}

int dlp__handle_live(const void *h, int kind)
{
    return dlp__handle_take(h, kind, NULL);
}

int dlp__handle_drop(const void *h, int kind)
{
    size_t i, j;
    if (!h)
        return 0;
    pthread_mutex_lock(&mu);
    if (!cap || (i = find(h), tab[i].h != h || tab[i].kind != kind)) {
        pthread_mutex_unlock(&mu);
        return 0;
    }
    /* Shift back every entry of the run after i that may sit at i. */
    tab[i].h = NULL;
    used--;
    for (j = (i + 1) & (cap - 1); tab[j].h; j = (j + 1) & (cap - 1)) {
        size_t k = home(tab[j].h, cap);
        /* j's entry may move to i unless its home lies cyclically in
         * (i, j]. */
        if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        tab[i] = tab[j];
        tab[j].h = NULL;
        i = j;
    }
    pthread_mutex_unlock(&mu);
    return 1;
}

int dlp__handle_bad(dlp_error *err, const char *call, const char *what)
{
    return dlp__err(err, DLP_EINVAL, "%s: no such %s (destroyed, or never made)",
                    call, what);
}
