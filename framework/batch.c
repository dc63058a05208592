/*
 * batch.c - batches: their memory (a pool keeps a few answered ones for
 * its next), the limits a link's batch carries, and the owner of a batch
 * nobody owns any more.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "pool.h"

/* Spare batches a pool keeps, and the largest frame memory kept: a batch
 * of 4,096 tiny tasks is a frame of ~115 KiB, and freed, glibc gave the
 * top of the heap back, to fault it in again for the next batch. */
#define SPARE_BATCHES 8u
#define SPARE_FRAME_MAX ((size_t)1 << 20)

void dlp__batch_free(dlp__batch *b)
{
    if (b) {
        dlp__buf_free(&b->frame);
        free(b);
    }
}

dlp__batch *dlp__batch_take(dlp_pool *p)
{
    DLP_ASSERT_HELD(&p->mu);
    dlp__batch *b = p->spare_batches;
    if (!b)
        return calloc(1, sizeof(dlp__batch));
    p->spare_batches = b->next;
    p->nspare_batches--;
    dlp__buf frame = b->frame;
    memset(b, 0, sizeof *b);
    b->frame = frame;
    b->frame.len = 0;
    return b;
}

void dlp__batch_recycle(dlp_pool *p, dlp__batch *b)
{
    DLP_ASSERT_HELD(&p->mu);
    if (b && p->nspare_batches < SPARE_BATCHES &&
        b->frame.cap <= SPARE_FRAME_MAX) {
        b->next = p->spare_batches;
        p->spare_batches = b;
        p->nspare_batches++;
        return;
    }
    dlp__batch_free(b);
}

void dlp__batch_spares_free(dlp_pool *p)
{
    while (p->spare_batches) {
        dlp__batch *b = p->spare_batches;
        p->spare_batches = b->next;
        dlp__batch_free(b);
    }
    p->nspare_batches = 0;
}

/* A batch for a link carries its job's limits: the agent enforces them
 * (transport.h).  They trail the records, so the pool's own reading of
 * the frame (by count, from scan) does not see them. */
void dlp__batch_add_limits(dlp__batch *b)
{
    uint64_t timeout = 0;
    uint32_t retries = 0;
    uint16_t flags = dlp__hdr_flags(b->frame.p);
    if (!b->ops->limits || (flags & DLP_BATCH_LIMITS))
        return;
    b->ops->limits(b, &timeout, &retries);
    if (!timeout && !retries)
        return;
    if (dlp__put_limits(&b->frame, timeout, retries))
        return; /* out of memory: it runs without limits */
    flags |= DLP_BATCH_LIMITS;
    dlp__hdr_set_flags(b->frame.p, flags);
    dlp__frame_end(&b->frame, 0);
}

void dlp__batch_strip_limits(dlp__batch *b)
{
    uint16_t flags = dlp__hdr_flags(b->frame.p);
    if (!(flags & DLP_BATCH_LIMITS))
        return;
    flags &= (uint16_t)~DLP_BATCH_LIMITS;
    dlp__hdr_set_flags(b->frame.p, flags);
    b->frame.len -= DLP_BATCH_LIMITS_SIZE;
    dlp__frame_end(&b->frame, 0);
}

int dlp__batch_no_result(dlp__batch *b, uint64_t index, int kind,
                         const unsigned char *payload, uint32_t len,
                         pid_t pid)
{
    (void)b;
    (void)index;
    (void)kind;
    (void)payload;
    (void)len;
    (void)pid;
    return 0;
}

static int orphan_lost(dlp__batch *b, struct dlp__worker *w,
                       const dlp__batch_loss *loss)
{
    (void)w;
    (void)loss;
    dlp__batch_free(b);
    return 0;
}

const dlp__batch_ops dlp__batch_orphan = {.result = dlp__batch_no_result,
                                          .lost = orphan_lost};
