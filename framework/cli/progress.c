/*
 * progress.c - part of the dlpool command (framework/cli/main.c): the
 * progress line of `dlpool run --progress`.  See progress.h.
 */
#include "config.h"

#include "progress.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Ten redraws a second at most: often enough to look alive, rarely
 * enough to cost nothing. */
#define TICK_US 100000

static struct {
    int on;
    int fd;
    void (*flush_output)(void); /* NULL: output is elsewhere */
    int drawn;
    progress_size size;
    uint64_t done, failed;
    struct timespec t0;
    struct sigaction old_alrm;
} pg;

/* Set by the timer, cleared by a redraw. */
static volatile sig_atomic_t pg_due;
static void (*volatile pg_wake)(void);

static void on_tick(int sig)
{
    void (*wake)(void) = pg_wake;
    (void)sig;
    pg_due = 1;
    if (wake)
        wake();
}

/* Write all of buf; a terminal that is gone is not worth an error. */
static void put_all(const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(pg.fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        buf += w;
        len -= (size_t)w;
    }
}

/* "42s", "3m05s", "2h07m". */
static void fmt_duration(char *buf, size_t size, double s)
{
    unsigned long t = s < 0 ? 0 : s > 359999999.0 ? 359999999ul
                                                   : (unsigned long)(s + 0.5);
    if (t < 60)
        snprintf(buf, size, "%lus", t);
    else if (t < 3600)
        snprintf(buf, size, "%lum%02lus", t / 60, t % 60);
    else
        snprintf(buf, size, "%luh%02lum", t / 3600, t / 60 % 60);
}

/* "0.7/s", "85/s", "12.4k/s", "2.47M/s". */
static void fmt_rate(char *buf, size_t size, double r)
{
    if (r < 10)
        snprintf(buf, size, "%.1f/s", r);
    else if (r < 10000)
        snprintf(buf, size, "%.0f/s", r);
    else if (r < 1e6)
        snprintf(buf, size, "%.1fk/s", r / 1e3);
    else
        snprintf(buf, size, "%.2fM/s", r / 1e6);
}

/* The fraction of the work done, or -1 when it is not known. */
static double fraction_done(void)
{
    const progress_size *s = &pg.size;
    dlp_job_counts n;
    progress_pos pos = {0, 0};
    double f;
    if (s->tasks)
        return (double)pg.done / (double)s->tasks;
    if (!s->bytes || !s->where || !s->job)
        return -1;
    s->where(s->where_ud, &pos);
    dlp_job_counts_get(s->job, &n);
    /* Tasks read: those the job took, and those done without it (taken
     * from a checkpoint, counted in done but never pulled). */
    uint64_t seen = n.pulled + (pg.done > n.delivered ? pg.done - n.delivered
                                                      : 0);
    if (!seen)
        return 0;
    if (pos.complete)
        return (double)pg.done / (double)seen; /* the total is known */
    /* The tasks done have used about done/seen of the bytes read. */
    f = (double)pg.done / (double)seen * (double)pos.bytes /
        (double)s->bytes;
    return f > 1 ? 1 : f;
}

static unsigned columns(void)
{
    struct winsize ws;
    if (ioctl(pg.fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 80;
}

static void draw(void)
{
    char line[512], stats[160], rate[32], t[32];
    struct timespec now;
    double elapsed, f;
    unsigned width = columns() - 1; /* the last column would wrap */
    size_t len = 0;

    pg_due = 0;
    if (pg.flush_output)
        pg.flush_output(); /* results first, each on a line of its own */
    clock_gettime(CLOCK_MONOTONIC, &now);
    elapsed = (double)(now.tv_sec - pg.t0.tv_sec) +
              (double)(now.tv_nsec - pg.t0.tv_nsec) / 1e9;
    fmt_rate(rate, sizeof rate, elapsed > 0 ? (double)pg.done / elapsed : 0);
    f = fraction_done();
    if (f < 0) {
        fmt_duration(t, sizeof t, elapsed);
        snprintf(stats, sizeof stats,
                 "%" PRIu64 " done, %" PRIu64 " failed, %s, %s elapsed",
                 pg.done, pg.failed, rate, t);
    } else {
        if (f > 0 && f < 1)
            fmt_duration(t, sizeof t, elapsed * (1 - f) / f);
        else
            snprintf(t, sizeof t, f >= 1 ? "0s" : "--");
        snprintf(stats, sizeof stats,
                 "%" PRIu64 " done, %" PRIu64 " failed, %s, ETA %s", pg.done,
                 pg.failed, rate, t);
    }

    line[len++] = '\r';
    if (f >= 0) {
        /* " 42% [========            ] " when there is room for it. */
        unsigned pct = (unsigned)(f * 100);
        size_t room = width > strlen(stats) + 7 ? width - strlen(stats) - 7
                                                : 0;
        unsigned bar = room >= 12 ? (room > 32 ? 30 : (unsigned)room - 2) : 0;
        len += (size_t)snprintf(line + len, sizeof line - len, "%3u%% ",
                                pct > 100 ? 100 : pct);
        if (bar) {
            unsigned full = (unsigned)(f * bar);
            line[len++] = '[';
            for (unsigned i = 0; i < bar; i++)
                line[len++] = i < full ? '=' : ' ';
            line[len++] = ']';
            line[len++] = ' ';
        }
    }
    /* Cut to the width: a line that wraps cannot be redrawn in place. */
    len += (size_t)snprintf(line + len, sizeof line - len, "%.*s",
                            (int)(width > len - 1 ? width - (len - 1) : 0),
                            stats);
    memcpy(line + len, "\033[K", 3);
    len += 3;
    put_all(line, len);
    pg.drawn = 1;
}

int progress_start(int fd, const progress_size *size,
                   void (*flush_output)(void), void (*wake)(void))
{
    struct sigaction sa;
    struct itimerval it = {{0, TICK_US}, {0, TICK_US}};
    memset(&pg, 0, sizeof pg);
    pg.fd = fd;
    pg.size = *size;
    pg.flush_output = flush_output;
    clock_gettime(CLOCK_MONOTONIC, &pg.t0);
    pg_due = 0;
    pg_wake = wake;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_tick;
    /* SA_RESTART: reads of input and writes of results go on; waiting in
     * the pool is cut short by wake instead. */
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, &pg.old_alrm))
        return -errno;
    if (setitimer(ITIMER_REAL, &it, NULL)) {
        int e = errno;
        sigaction(SIGALRM, &pg.old_alrm, NULL);
        return -e;
    }
    pg.on = 1;
    return 0;
}

void progress_before_output(void)
{
    if (pg.drawn && pg.flush_output)
        progress_erase();
}

void progress_update(uint64_t done, uint64_t failed)
{
    pg.done = done;
    pg.failed = failed;
    if (pg_due && pg.on)
        draw();
}

int progress_tick(void)
{
    if (!pg.on)
        return 0;
    if (pg_due)
        draw();
    return 1;
}

void progress_erase(void)
{
    if (pg.drawn) {
        put_all("\r\033[K", 4);
        pg.drawn = 0;
    }
}

void progress_end(void)
{
    struct itimerval off = {{0, 0}, {0, 0}};
    if (!pg.on)
        return;
    setitimer(ITIMER_REAL, &off, NULL);
    sigaction(SIGALRM, &pg.old_alrm, NULL);
    pg_wake = NULL;
    pg.on = 0;
    progress_erase();
}
