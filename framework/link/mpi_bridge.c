/*
 * mpi_bridge.c - the MPI module (mpi_module.h).  On rank 0, a bridge: a
 * thread that carries the bytes of links (transport.h) between
 * descriptors and MPI messages, so that the pool reads and writes
 * descriptors as it does for local workers, and only the bridge's thread
 * calls MPI there.  On every other rank, a channel: the agent's own
 * thread calls it between the polls of its loop, with no thread and no
 * descriptor between MPI and the agent's buffers.
 *
 * Messages: TAG_DATA carries the next bytes of the link's stream (a
 * bridge's at most BRIDGE_CHUNK long); TAG_CLOSE says the sender's side
 * of the stream ended.  MPI keeps the messages between two ranks with one
 * tag in order, which is all a byte stream needs.  Sends are
 * non-blocking, one outstanding per link: two sides sending to each other
 * at once must never both wait in MPI_Send.
 *
 * Built as a module of its own, linked with MPI, and loaded by the
 * library only when the MPI transport is used.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mpi.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dlpool.h"
#include "mpi_module.h"

/* A growable byte buffer (the library's own is not exported to modules). */
typedef struct mbuf {
    unsigned char *p;
    size_t len, cap;
} mbuf;

static int mbuf_reserve(mbuf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n)
        cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

static void mbuf_free(mbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

#define TAG_DATA 7401
#define TAG_CLOSE 7402
/* A bridge reads at most BRIDGE_CHUNK bytes of a link ahead of MPI.  Its
 * buffers stay that small: filling fresh pages was much of what a bridge
 * cost where a page fault is dear (with 1 MiB chunks, a run of a million
 * tiny tasks took a quarter longer).  Much smaller chunks starve the far
 * workers instead: each chunk waits for a round trip of its own
 * (DESIGN-NOTES.md, "Links, agents and MPI"). */
#define BRIDGE_CHUNK (256u << 10)
/* An idle bridge yields the CPU SPIN times, then naps (mpi_module.h).
 * Spinning longer took the CPU from the processes whose bytes it waits
 * for (DESIGN-NOTES.md, "Links, agents and MPI"). */
#define SPIN 4u

typedef struct blink {
    int fd;              /* our end of the socketpair, non-blocking */
    int rank;            /* the peer */
    mbuf pend;       /* read from fd, not yet handed to MPI */
    mbuf sending;    /* the bytes of the send in flight */
    MPI_Request req;     /* MPI_REQUEST_NULL when none */
    mbuf out;        /* received, not yet written to fd */
    size_t out_off;
    int eof_local;       /* fd said end of stream (or failed) */
    int close_sent;
    int eof_remote;      /* the peer said TAG_CLOSE */
    int shut;            /* and we passed it on: shutdown(fd, SHUT_WR) */
} blink;

struct dlp__bridge {
    pthread_t thread;
    unsigned n;
    blink *l;
    struct pollfd *pfd; /* n: what a nap watches */
    int init_mpi; /* we called MPI_Init_thread: we finalize */
};

/* Start MPI for a bridge (own_thread: a thread of its own calls it) or a
 * channel (the caller's thread does), setting *init when we started it;
 * or check that the program's own start lets that thread call it. */
static int mpi_start(int own_thread, int *init, char *msg, size_t size)
{
    int inited = 0, finalized = 0, provided = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (finalized) {
        snprintf(msg, size, "MPI has been finalized in this process");
        return DLP_EINVAL;
    }
    if (!inited) {
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) !=
            MPI_SUCCESS) {
            snprintf(msg, size, "MPI_Init_thread failed");
            return DLP_EWORKER;
        }
        *init = 1;
        return 0;
    }
    MPI_Query_thread(&provided);
    if (!own_thread) {
        int main_thread = 0;
        MPI_Is_thread_main(&main_thread);
        if (provided >= MPI_THREAD_SERIALIZED || main_thread)
            return 0;
        snprintf(msg, size,
                 "the program initialised MPI for one thread, not this one: "
                 "call dlp_mpi_agent from the thread that initialised MPI, "
                 "or initialise with MPI_Init_thread(..., "
                 "MPI_THREAD_SERIALIZED, ...)");
        return DLP_EINVAL;
    }
    if (provided < MPI_THREAD_MULTIPLE) {
        snprintf(msg, size,
                 "the program initialised MPI without MPI_THREAD_MULTIPLE: "
                 "dlpool's MPI transport calls MPI from a thread of its own "
                 "(initialise with MPI_Init_thread(..., "
                 "MPI_THREAD_MULTIPLE, ...), or let dlpool initialise MPI)");
        return DLP_EINVAL;
    }
    return 0;
}

/* Read what link l's descriptor has, up to a chunk. */
static int pump_in(blink *l)
{
    int moved = 0;
    while (!l->eof_local && l->pend.len < BRIDGE_CHUNK) {
        if (mbuf_reserve(&l->pend, BRIDGE_CHUNK - l->pend.len))
            return moved;
        ssize_t r = read(l->fd, l->pend.p + l->pend.len,
                         BRIDGE_CHUNK - l->pend.len);
        if (r > 0) {
            l->pend.len += (size_t)r;
            moved = 1;
        } else if (r == 0 || (errno != EINTR && errno != EAGAIN &&
                              errno != EWOULDBLOCK)) {
            l->eof_local = 1;
            moved = 1;
        } else if (errno != EINTR) {
            break;
        }
    }
    return moved;
}

/* Finish the send in flight, if done, and start the next. */
static int pump_send(blink *l)
{
    int moved = 0;
    if (l->req != MPI_REQUEST_NULL) {
        int done = 0;
        MPI_Test(&l->req, &done, MPI_STATUS_IGNORE);
        if (!done)
            return 0;
        l->sending.len = 0;
        moved = 1;
    }
    if (l->pend.len) {
        /* Swap: the pending bytes become the send's own buffer. */
        mbuf t = l->sending;
        l->sending = l->pend;
        l->pend = t;
        l->pend.len = 0;
        MPI_Isend(l->sending.p, (int)l->sending.len, MPI_BYTE, l->rank,
                  TAG_DATA, MPI_COMM_WORLD, &l->req);
        return 1;
    }
    if (l->eof_local && !l->close_sent) {
        MPI_Send(NULL, 0, MPI_BYTE, l->rank, TAG_CLOSE, MPI_COMM_WORLD);
        l->close_sent = 1;
        return 1;
    }
    return moved;
}

/* Write what link l received to its descriptor. */
static int pump_out(blink *l)
{
    int moved = 0;
    while (l->out_off < l->out.len) {
        ssize_t w = send(l->fd, l->out.p + l->out_off,
                         l->out.len - l->out_off, MSG_NOSIGNAL);
        if (w > 0) {
            l->out_off += (size_t)w;
            moved = 1;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return moved;
        } else {
            /* The local side is gone: drop what it will never read. */
            l->out_off = l->out.len;
            l->eof_local = 1;
        }
    }
    l->out.len = l->out_off = 0;
    if (l->eof_remote && !l->shut) {
        shutdown(l->fd, SHUT_WR);
        l->shut = 1;
    }
    return moved;
}

/* Receive (and drop) a message that is not ours: a program's own message
 * on an agent rank would be a misuse, but must not block ours. */
static void drop_message(const MPI_Status *st)
{
    int count = 0;
    MPI_Get_count(st, MPI_BYTE, &count);
    char *junk = malloc(count > 0 ? (size_t)count : 1);
    MPI_Recv(junk, junk ? count : 0, MPI_BYTE, st->MPI_SOURCE, st->MPI_TAG,
             MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    free(junk);
}

/* Whether link l can take a message now: its descriptor is at most a
 * chunk behind.  A far side that sends faster than ours reads waits in
 * MPI's queue, not in our memory. */
static int has_room(const blink *l)
{
    return l->out.len - l->out_off < BRIDGE_CHUNK;
}

/* The link to rank, or NULL. */
static blink *link_of(struct dlp__bridge *b, int rank)
{
    for (unsigned i = 0; i < b->n; i++)
        if (b->l[i].rank == rank)
            return &b->l[i];
    return NULL;
}

/* Receive one message, if any has arrived, for the link of its source. */
static int pump_recv(struct dlp__bridge *b)
{
    int flag = 0, count = 0;
    MPI_Status st;
    blink *l;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if (!flag)
        return 0;
    l = link_of(b, st.MPI_SOURCE);
    if (l && st.MPI_TAG == TAG_DATA && !has_room(l)) {
        /* The first message waiting is for a link that is behind: look
         * for one from a link that is not. */
        flag = 0;
        for (unsigned i = 0; i < b->n && !flag; i++)
            if (has_room(&b->l[i]) && !b->l[i].eof_remote)
                MPI_Iprobe(b->l[i].rank, MPI_ANY_TAG, MPI_COMM_WORLD, &flag,
                           &st);
        if (!flag)
            return 0;
        l = link_of(b, st.MPI_SOURCE);
    }
    MPI_Get_count(&st, MPI_BYTE, &count);
    if (!l || (st.MPI_TAG != TAG_DATA && st.MPI_TAG != TAG_CLOSE) ||
        count < 0) {
        drop_message(&st);
        return 1;
    }
    if (st.MPI_TAG == TAG_CLOSE) {
        MPI_Recv(NULL, 0, MPI_BYTE, l->rank, TAG_CLOSE, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
        l->eof_remote = 1; /* pump_out passes it on once out is empty */
        return 1;
    }
    if (l->out_off && l->out.cap - l->out.len < (size_t)count) {
        /* Keep out within two chunks: drop what the descriptor took. */
        memmove(l->out.p, l->out.p + l->out_off, l->out.len - l->out_off);
        l->out.len -= l->out_off;
        l->out_off = 0;
    }
    if (mbuf_reserve(&l->out, (size_t)count)) {
        l->eof_local = 1; /* out of memory: this link is lost */
        return 1;
    }
    MPI_Recv(l->out.p + l->out.len, count, MPI_BYTE, l->rank, TAG_DATA,
             MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    l->out.len += (size_t)count;
    return 1;
}

static void *bridge_main(void *arg)
{
    struct dlp__bridge *b = arg;
    unsigned idle = 0;
    for (;;) {
        int moved = 0, open = 0, sending = 0;
        for (unsigned i = 0; i < b->n; i++) {
            blink *l = &b->l[i];
            moved |= pump_in(l);
            moved |= pump_send(l);
            moved |= pump_out(l);
            if (l->req != MPI_REQUEST_NULL)
                sending = 1;
            if (!l->close_sent || !l->eof_remote ||
                l->req != MPI_REQUEST_NULL)
                open = 1;
        }
        moved |= pump_recv(b);
        if (!open)
            break;
        if (moved) {
            idle = 0;
            continue;
        }
        /* Nothing moved: MPI has no descriptor to sleep on, so back off
         * from spinning to naps watching our descriptors, growing from
         * DLP_MPI_NAP_MIN to DLP_MPI_NAP_MAX while nothing comes. */
        if (idle < SPIN + 16)
            idle++; /* by SPIN + 10 the nap is at its longest already */
        if (idle <= SPIN) {
            sched_yield(); /* others may need this CPU to answer us */
        } else {
            struct pollfd *pfd = b->pfd;
            unsigned n = 0;
            unsigned k = idle - SPIN > 10 ? 10 : idle - SPIN;
            long ns = DLP_MPI_NAP_MIN << k;
            long max = sending ? DLP_MPI_NAP_SENDING : DLP_MPI_NAP_MAX;
            struct timespec ts = {0, ns < max ? ns : max};
            for (unsigned i = 0; i < b->n; i++) {
                const blink *l = &b->l[i];
                /* Readable when we can take more, writable when it is
                 * behind: waiting for what we cannot act on would spin. */
                short ev = (short)((l->pend.len < BRIDGE_CHUNK ? POLLIN : 0) |
                                   (l->out_off < l->out.len ? POLLOUT : 0));
                if (!l->eof_local && ev) {
                    pfd[n].fd = l->fd;
                    pfd[n].events = ev;
                    n++;
                }
            }
            ppoll(pfd, n, &ts, NULL);
        }
    }
    for (unsigned i = 0; i < b->n; i++)
        close(b->l[i].fd);
    if (b->init_mpi)
        MPI_Finalize();
    return NULL;
}

/* Free bridge b, closing both ends of its first npairs socketpairs
 * (ours in fds). */
static void bridge_free(struct dlp__bridge *b, const int *fds,
                        unsigned npairs)
{
    if (!b)
        return;
    for (unsigned i = 0; i < npairs; i++) {
        close(fds[i]);
        close(b->l[i].fd);
    }
    for (unsigned i = 0; b->l && i < b->n; i++) {
        mbuf_free(&b->l[i].pend);
        mbuf_free(&b->l[i].sending);
        mbuf_free(&b->l[i].out);
    }
    free(b->pfd);
    free(b->l);
    free(b);
}

/* Make a bridge of n links to ranks[], returning our ends of the
 * socketpairs (for the pool or the agent) in fds.  MPI is started in the
 * bridge's thread, which waits until it is up. */
typedef struct bridge_start {
    struct dlp__bridge *b;
    char *msg;
    size_t size;
    int rc, ready;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} bridge_start;

static void *bridge_boot(void *arg)
{
    bridge_start *s = arg;
    struct dlp__bridge *b = s->b;
    int rc = mpi_start(1, &b->init_mpi, s->msg, s->size);
    pthread_mutex_lock(&s->mu);
    s->rc = rc;
    s->ready = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (rc)
        return NULL;
    return bridge_main(b);
}

/* fds receives our ends of new socketpairs, the bridge keeping the
 * others. */
static int bridge_open(void **out, const int *ranks, unsigned n, int *fds,
                       char *msg, size_t size)
{
    struct dlp__bridge *b = calloc(1, sizeof *b);
    bridge_start s;
    sigset_t all, old;
    int rc;

    *out = NULL;
    if (!b || !(b->l = calloc(n, sizeof *b->l)) ||
        !(b->pfd = calloc(n, sizeof *b->pfd))) {
        bridge_free(b, fds, 0);
        snprintf(msg, size, "out of memory");
        return -ENOMEM;
    }
    b->n = n;
    for (unsigned i = 0; i < n; i++) {
        int sv[2];
        blink *l = &b->l[i];
        /* A link's buffers are made once, at their largest: growing
         * them would fill fresh pages again at every step. */
        if (mbuf_reserve(&l->pend, BRIDGE_CHUNK) ||
            mbuf_reserve(&l->sending, BRIDGE_CHUNK) ||
            mbuf_reserve(&l->out, 2 * BRIDGE_CHUNK)) {
            bridge_free(b, fds, i);
            snprintf(msg, size, "out of memory");
            return -ENOMEM;
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
            rc = -errno;
            bridge_free(b, fds, i);
            snprintf(msg, size, "socketpair: %s", strerror(-rc));
            return rc;
        }
        fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
        fds[i] = sv[0];
        b->l[i].fd = sv[1];
        b->l[i].rank = ranks[i];
        b->l[i].req = MPI_REQUEST_NULL;
    }
    memset(&s, 0, sizeof s);
    s.b = b;
    s.msg = msg;
    s.size = size;
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    /* The bridge takes no signal: they are the program's. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&b->thread, NULL, bridge_boot, &s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) {
        pthread_mutex_lock(&s.mu);
        while (!s.ready)
            pthread_cond_wait(&s.cv, &s.mu);
        pthread_mutex_unlock(&s.mu);
        rc = s.rc;
        if (rc)
            pthread_join(b->thread, NULL);
    } else {
        snprintf(msg, size, "cannot start the MPI bridge: %s", strerror(rc));
        rc = -rc;
    }
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
    if (rc) {
        bridge_free(b, fds, n);
        return rc;
    }
    *out = b;
    return 0;
}

static void bridge_close(void *arg)
{
    struct dlp__bridge *b = arg;
    if (!b)
        return;
    pthread_join(b->thread, NULL);
    bridge_free(b, NULL, 0); /* the thread closed the links */
}

/* ---- channels: one link driven from the caller's own thread ---------- */

/* An agent rank's one link to rank 0, without a thread or a descriptor:
 * the agent's loop calls MPI itself between its polls (mpi_module.h). */
typedef struct mchan {
    int peer;
    int init_mpi;
    MPI_Request req;  /* the send in flight, MPI_REQUEST_NULL when none */
    int waiting;      /* a TAG_DATA message of count bytes is probed */
    int count;
    int closed;       /* the peer's TAG_CLOSE was received */
} mchan;

static int chan_open(void **out, int peer, char *msg, size_t size)
{
    mchan *c = calloc(1, sizeof *c);
    int rc;
    *out = NULL;
    if (!c) {
        snprintf(msg, size, "out of memory");
        return -ENOMEM;
    }
    if ((rc = mpi_start(0, &c->init_mpi, msg, size))) {
        free(c);
        return rc;
    }
    c->peer = peer;
    c->req = MPI_REQUEST_NULL;
    *out = c;
    return 0;
}

static int chan_peek(void *arg, size_t *n)
{
    mchan *c = arg;
    while (!c->waiting && !c->closed) {
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
        if (!flag)
            return 0;
        if (st.MPI_SOURCE != c->peer ||
            (st.MPI_TAG != TAG_DATA && st.MPI_TAG != TAG_CLOSE)) {
            drop_message(&st);
        } else if (st.MPI_TAG == TAG_CLOSE) {
            MPI_Recv(NULL, 0, MPI_BYTE, c->peer, TAG_CLOSE, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
            c->closed = 1;
        } else {
            MPI_Get_count(&st, MPI_BYTE, &c->count);
            c->waiting = 1;
        }
    }
    if (c->waiting) {
        *n = (size_t)(c->count > 0 ? c->count : 0);
        return 1;
    }
    return 2;
}

static void chan_take(void *arg, void *p)
{
    mchan *c = arg;
    MPI_Recv(p, c->count, MPI_BYTE, c->peer, TAG_DATA, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    c->waiting = 0;
}

static int chan_busy(void *arg)
{
    mchan *c = arg;
    int done = 0;
    if (c->req == MPI_REQUEST_NULL)
        return 0;
    MPI_Test(&c->req, &done, MPI_STATUS_IGNORE);
    return !done;
}

static int chan_send(void *arg, const void *p, size_t n)
{
    mchan *c = arg;
    if (c->req != MPI_REQUEST_NULL || n > INT_MAX)
        return -EINVAL;
    MPI_Isend(p, (int)n, MPI_BYTE, c->peer, TAG_DATA, MPI_COMM_WORLD,
              &c->req);
    return 0;
}

static void chan_close(void *arg)
{
    mchan *c = arg;
    if (!c)
        return;
    MPI_Wait(&c->req, MPI_STATUS_IGNORE);
    MPI_Send(NULL, 0, MPI_BYTE, c->peer, TAG_CLOSE, MPI_COMM_WORLD);
    /* Take what the peer still sends until it closes too: a send of its
     * left waiting would keep its side from ending. */
    for (;;) {
        size_t n;
        int r = chan_peek(c, &n);
        if (r == 2)
            break;
        if (r == 1) {
            MPI_Status st;
            MPI_Probe(c->peer, TAG_DATA, MPI_COMM_WORLD, &st);
            drop_message(&st);
            c->waiting = 0;
        } else {
            struct timespec ts = {0, DLP_MPI_NAP_SENDING};
            nanosleep(&ts, NULL);
        }
    }
    if (c->init_mpi)
        MPI_Finalize();
    free(c);
}

static int world(int *rank, int *size)
{
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (!inited || finalized)
        return 0;
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    return 1;
}

static const dlp_mpi_module module = {
    DLP_MPI_MODULE_ABI, bridge_open, bridge_close, world,    chan_open,
    chan_peek,          chan_take,   chan_send,    chan_busy, chan_close};

/* The module's one export (mpi_module.h). */
const dlp_mpi_module *dlp_mpi_module_get(void);

const dlp_mpi_module *dlp_mpi_module_get(void)
{
    return &module;
}

