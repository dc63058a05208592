/*
 * checkpoint.c - part of the dlpool command (framework/cli/main.c): the
 * --checkpoint file.  See checkpoint.h, and ckformat.h for its format.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "checkpoint.h"
#include "ckformat.h"
#include "fingerprint.h"
#include "output.h"
#include "text.h"

#define CK_WBUF (64u * 1024)
#define CACHE_SIZE (64u * 1024)

/* A task of the checkpoint: its index and where its record starts. */
typedef struct stored {
    uint64_t index, off;
} stored;

/* A window of the checkpoint file read back. */
typedef struct cache {
    char *buf;
    size_t cap, len;
    uint64_t off;
} cache;

struct ckpt {
    const char *path;
    text_error *err; /* the run's first error */
    int fd, fresh;
    uint64_t end, flushed;
    char *wbuf;
    size_t wlen;
    /* The tasks of an existing checkpoint, by index: the first st_verify
     * have had their input line read and checked, the first st_emit have
     * had their line written. */
    stored *st;
    size_t st_n, st_verify, st_emit;
    cache c_scan, c_verify, c_emit;
    char *fingerprint; /* this run's, one line of JSON */
    char note[512];
};

static int ck_fail(ckpt *ck, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int ck_fail(ckpt *ck, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    text_vfail(ck->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- writing ------------------------------------------------------------ */

/* A write to the checkpoint failed (a full disk): cut the file back to
 * what was wholly written and write no more, so that a rerun finds every
 * record before the cut intact rather than a torn one in the middle. */
static int ck_write_failed(ckpt *ck, int rc)
{
    if (ftruncate(ck->fd, (off_t)ck->flushed) != 0) {
        /* It stays torn at its end, where a rerun looks for it. */
    }
    ck->wlen = 0;
    return ck_fail(ck, "writing checkpoint %s: %s", ck->path,
                   strerror(-rc));
}

static int ck_flush(ckpt *ck)
{
    int rc;
    if (!ck->wlen)
        return 0;
    if ((rc = output_write_all(ck->fd, ck->wbuf, ck->wlen, NULL)))
        return ck_write_failed(ck, rc);
    ck->flushed += ck->wlen;
    ck->wlen = 0;
    return 0;
}

static int ck_put(ckpt *ck, const void *p, size_t n)
{
    int rc;
    if (ck->wlen + n > CK_WBUF && ck_flush(ck))
        return -1;
    if (n > CK_WBUF) {
        if ((rc = output_write_all(ck->fd, p, n, NULL)))
            return ck_write_failed(ck, rc);
        ck->flushed += n;
        return 0;
    }
    memcpy(ck->wbuf + ck->wlen, p, n);
    ck->wlen += n;
    return 0;
}

/* Append a record of type t made of the pieces; *off is where it starts. */
static int ck_record(ckpt *ck, char t, const void *const *piece,
                     const size_t *len, int n, uint64_t *off)
{
    char hdr[CK_HDR_MAX];
    uint32_t crc = 0;
    uint64_t total = 0;
    int hn;
    for (int k = 0; k < n; k++) {
        crc = ckformat_crc(crc, piece[k], len[k]);
        total += len[k];
    }
    hn = snprintf(hdr, sizeof hdr, "%c %" PRIu64 " %08" PRIx32 "\n", t, total,
                  crc);
    if (off)
        *off = ck->end;
    if (ck_put(ck, hdr, (size_t)hn))
        return -1;
    for (int k = 0; k < n; k++)
        if (ck_put(ck, piece[k], len[k]))
            return -1;
    ck->end += (uint64_t)hn + total;
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

/* Bytes [off, off + n) of the checkpoint, through cache c; NULL when the
 * file is shorter (*got says how much there is) or cannot be read. */
static const char *ck_read(ckpt *ck, cache *c, uint64_t off, size_t n,
                           size_t *got)
{
    size_t want;
    if (got)
        *got = 0;
    if (off >= c->off && off - c->off <= c->len &&
        n <= c->len - (off - c->off)) {
        if (got)
            *got = n;
        return c->buf + (off - c->off);
    }
    if (off + n > ck->flushed && ck->wlen && ck_flush(ck))
        return NULL;
    want = n > CACHE_SIZE ? n : CACHE_SIZE;
    if (want > c->cap) {
        char *b = realloc(c->buf, want);
        if (!b) {
            ck_fail(ck, "out of memory");
            return NULL;
        }
        c->buf = b;
        c->cap = want;
    }
    c->off = off;
    c->len = 0;
    while (c->len < c->cap) {
        ssize_t k = pread(ck->fd, c->buf + c->len, c->cap - c->len,
                          (off_t)(off + c->len));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            ck_fail(ck, "reading checkpoint %s: %s", ck->path,
                    strerror(errno));
            c->len = 0;
            return NULL;
        }
        if (k == 0)
            break;
        c->len += (size_t)k;
        if (c->len >= n)
            break;
    }
    if (got)
        *got = c->len < n ? c->len : n;
    return c->len >= n ? c->buf : NULL;
}

/* Whether a whole, valid record starts at off (the file has size bytes):
 * its header parses, its payload is all there and its checksum holds. */
static int record_at(ckpt *ck, cache *c, uint64_t off, uint64_t size,
                     char *type, uint64_t *plen, size_t *hlen)
{
    size_t got,
        n = size - off < CK_HDR_MAX ? (size_t)(size - off) : CK_HDR_MAX;
    const char *p;
    uint32_t want, crc = 0;
    uint64_t done = 0;
    ck_read(ck, c, off, n, &got);
    p = c->buf + (off - c->off);
    if (got < n || !ckformat_header(p, n, type, plen, &want, hlen))
        return 0;
    if (*plen > size - off - *hlen)
        return 0;
    while (done < *plen) {
        size_t k = *plen - done > CACHE_SIZE ? CACHE_SIZE
                                             : (size_t)(*plen - done);
        p = ck_read(ck, c, off + *hlen + done, k, NULL);
        if (!p)
            return 0;
        crc = ckformat_crc(crc, p, k);
        done += k;
    }
    return crc == want;
}

/* Whether a valid record starts anywhere after off, at the start of a
 * line: then the bad record at off is damage, not a cut-off end. */
static int valid_after(ckpt *ck, uint64_t off, uint64_t size)
{
    uint64_t p = off + 1;
    while (p < size) {
        size_t got, n = size - p < CACHE_SIZE ? (size_t)(size - p)
                                              : CACHE_SIZE;
        const char *b = ck_read(ck, &ck->c_scan, p, n, &got);
        const char *nl;
        uint64_t q, plen;
        size_t hlen;
        char t;
        if (!b)
            return 0;
        if (!(nl = memchr(b, '\n', n))) {
            p += n;
            continue;
        }
        q = p + (uint64_t)(nl - b) + 1;
        if (q < size && record_at(ck, &ck->c_scan, q, size, &t, &plen, &hlen))
            return 1;
        p = q;
    }
    return 0;
}

static int read_task(ckpt *ck, cache *c, const stored *s, uint64_t *hash,
                     dlp_fail_kind *kind, char **msg, const char **line,
                     size_t *len)
{
    uint64_t size = ck->end, plen, index;
    size_t hlen, rest;
    const char *p, *nl;
    char t;
    if (!record_at(ck, c, s->off, size, &t, &plen, &hlen) || t != 'R' ||
        !(p = ck_read(ck, c, s->off, hlen + (size_t)plen, NULL)))
        return ck->err->msg[0]
                   ? -1
                   : ck_fail(ck, "checkpoint %s changed while it was read "
                                 "(the record at byte %" PRIu64 ")",
                             ck->path, s->off);
    p += hlen;
    if (ckformat_meta(p, (size_t)plen, &index, hash, kind, &rest) ||
        index != s->index ||
        !(nl = memchr(p + rest, '\n', (size_t)plen - rest)))
        return ck_fail(ck, "checkpoint %s: the record at byte %" PRIu64
                           " is not understood",
                       ck->path, s->off);
    if (msg) {
        *msg = NULL;
        if (*kind != DLP_FAIL_NONE && nl > p + rest) {
            json_error_t je;
            json_t *j = json_loadb(p + rest, (size_t)(nl - p - rest),
                                   JSON_DECODE_ANY, &je);
            if (j && json_is_string(j))
                *msg = strdup(json_string_value(j));
            json_decref(j);
        }
    }
    if (line) {
        *line = nl + 1;
        *len = (size_t)(p + plen - (nl + 1));
    }
    return 0;
}

/* A stored task's hash, from the first line of its record: enough to
 * check its input line (the whole record was checked when the file was
 * opened, and is checked again when its line is written). */
static int read_hash(ckpt *ck, cache *c, const stored *s, uint64_t *hash)
{
    uint64_t plen, index;
    uint32_t crc;
    size_t hlen, rest, got, n;
    dlp_fail_kind kind;
    const char *p;
    char t;
    n = ck->end - s->off < CK_HDR_MAX + 64 ? (size_t)(ck->end - s->off)
                                          : CK_HDR_MAX + 64;
    p = ck_read(ck, c, s->off, n, &got);
    if (!p || !ckformat_header(p, n, &t, &plen, &crc, &hlen) || t != 'R' ||
        ckformat_meta(p + hlen, n - hlen, &index, hash, &kind, &rest) ||
        index != s->index)
        return ck->err->msg[0]
                   ? -1
                   : ck_fail(ck, "checkpoint %s changed while it was read "
                                 "(the record at byte %" PRIu64 ")",
                             ck->path, s->off);
    return 0;
}

/* ---- opening ------------------------------------------------------------ */

static int cmp_stored(const void *a, const void *b)
{
    const stored *x = a, *y = b;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* The file does not start with a valid header: a header cut short (the
 * first run was killed as it started) is started afresh; anything else is
 * refused.  0 or -1. */
static int ck_restart(ckpt *ck, uint64_t size)
{
    const char *path = ck->path;
    size_t got;
    const char *p;
    int torn;
    if (ck->err->msg[0])
        return -1;
    /* Read again: record_at may have moved the cache on. */
    p = ck_read(ck, &ck->c_scan, 0, size < 256 ? (size_t)size : 256, &got);
    if (ck->err->msg[0])
        return -1;
    torn = p && ckformat_header_prefix(p, got);
    if (torn && valid_after(ck, 0, size))
        return ck_fail(ck, "checkpoint %s is damaged at byte 0 (its "
                           "header fails its checksum and intact records "
                           "follow it)",
                       path);
    if (!torn)
        return ck_fail(ck, "%s is not a dlpool checkpoint (it does not "
                           "start with a checkpoint header); not "
                           "overwriting it",
                       path);
    /* A header cut short: the first run was killed as it started. */
    ck->fresh = 1;
    ck->end = ck->flushed = 0;
    if (ftruncate(ck->fd, 0) < 0)
        return ck_fail(ck, "checkpoint %s: cannot truncate it: %s", path,
                       strerror(errno));
    return 0;
}

/* Index the task records in [off, size): each one checked, a damaged last
 * record cut off.  0 or -1. */
static int ck_index(ckpt *ck, uint64_t off, uint64_t size, size_t *cap)
{
    const char *path = ck->path;
    uint64_t plen;
    size_t hlen;
    const char *p;
    char t;
    while (off < size) {
        uint64_t index, hash;
        dlp_fail_kind kind;
        const char *why;
        size_t rest;
        if (!record_at(ck, &ck->c_scan, off, size, &t, &plen, &hlen)) {
            if (ck->err->msg[0])
                return -1;
            if (valid_after(ck, off, size))
                return ck_fail(ck, "checkpoint %s is damaged at byte %" PRIu64
                                   " (the record there fails its checksum and "
                                   "intact records follow it)",
                               path, off);
            /* The last record, cut short when the run was killed while
             * writing it: it is not used, and is cut off before anything
             * is appended. */
            snprintf(ck->note, sizeof ck->note,
                     "checkpoint %s: its last record (at byte %" PRIu64
                     ") is incomplete and was ignored",
                     path, off);
            text_trim(ck->note);
            if (ftruncate(ck->fd, (off_t)off) < 0)
                return ck_fail(ck, "checkpoint %s: cannot cut off its damaged "
                                   "end: %s",
                               path, strerror(errno));
            ck->end = ck->flushed = off;
            break;
        }
        if (t != 'R')
            return ck_fail(ck, "checkpoint %s has a second header, at byte "
                               "%" PRIu64,
                           path, off);
        p = ck_read(ck, &ck->c_scan, off + hlen, (size_t)plen, NULL);
        if (p && (why = ckformat_check_task(p, (size_t)plen)))
            return ck_fail(ck, "checkpoint %s: the record at byte %" PRIu64
                               " %s", path, off, why);
        if (!p || ckformat_meta(p, (size_t)plen, &index, &hash, &kind, &rest))
            return ck->err->msg[0]
                       ? -1
                       : ck_fail(ck, "checkpoint %s: the record at byte "
                                     "%" PRIu64 " is not understood",
                                 path, off);
        if (ck->st_n == *cap) {
            stored *s = realloc(ck->st, (*cap = *cap ? *cap * 2 : 1024) *
                                           sizeof *s);
            if (!s)
                return ck_fail(ck, "out of memory");
            ck->st = s;
        }
        ck->st[ck->st_n++] = (stored){index, off};
        off += hlen + plen;
    }
    return 0;
}

/* Read an existing checkpoint: check its header against this run, index
 * its tasks, cut off a damaged last record. */
static int ck_load(ckpt *ck, uint64_t size)
{
    uint64_t plen;
    size_t hlen, cap = 0;
    const char *p;
    char t;

    ck->end = ck->flushed = size;
    if (!record_at(ck, &ck->c_scan, 0, size, &t, &plen, &hlen) || t != 'H')
        return ck_restart(ck, size);
    if (!(p = ck_read(ck, &ck->c_scan, hlen, (size_t)plen, NULL)) ||
        fingerprint_check(ck->path, p, (size_t)plen, ck->fingerprint,
                          ck->err))
        return -1;
    if (ck_index(ck, hlen + plen, size, &cap))
        return -1;
    qsort(ck->st, ck->st_n, sizeof *ck->st, cmp_stored);
    {
        /* A task is stored once; if a copy of the file was ever merged,
         * the first record of an index stands. */
        size_t k = 0;
        for (size_t i = 0; i < ck->st_n; i++)
            if (!k || ck->st[k - 1].index != ck->st[i].index)
                ck->st[k++] = ck->st[i];
        ck->st_n = k;
        if (k && k < cap) {
            stored *s = realloc(ck->st, k * sizeof *s);
            if (s)
                ck->st = s;
        }
    }
    return 0;
}

static int ck_open(ckpt *ck, const fingerprint_of *of)
{
    const char *path = ck->path;
    struct stat st;
    ck->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (ck->fd < 0)
        return ck_fail(ck, "cannot open checkpoint %s: %s", path,
                       strerror(errno));
    if (fstat(ck->fd, &st) < 0 || !S_ISREG(st.st_mode))
        return ck_fail(ck, "checkpoint %s is not a regular file", path);
    if (flock(ck->fd, LOCK_EX | LOCK_NB) < 0)
        return ck_fail(ck, "checkpoint %s is in use by another run", path);
    if (!(ck->wbuf = malloc(CK_WBUF)))
        return ck_fail(ck, "out of memory");
    if (!(ck->fingerprint = fingerprint_make(of, ck->err)))
        return ck->err->msg[0] ? -1 : ck_fail(ck, "out of memory");
    if (st.st_size == 0) {
        ck->fresh = 1;
        return 0;
    }
    return ck_load(ck, (uint64_t)st.st_size);
}

/* ---- the interface ------------------------------------------------------ */

int ckpt_open(ckpt **out, const char *path, const fingerprint_of *of,
              text_error *err)
{
    ckpt *ck = calloc(1, sizeof *ck);
    *out = ck;
    if (!ck)
        return text_fail(err, "out of memory");
    ck->path = path;
    ck->err = err;
    ck->fd = -1;
    return ck_open(ck, of);
}

int ckpt_start(ckpt *ck)
{
    if (ck->fresh) {
        const void *piece[2] = {ck->fingerprint, "\n"};
        size_t len[2] = {strlen(ck->fingerprint), 1};
        if (ck_record(ck, 'H', piece, len, 2, NULL) || ck_flush(ck))
            return -1;
        ck->fresh = 0;
    }
    return 0;
}

int ckpt_check_line(ckpt *ck, uint64_t index, uint64_t h)
{
    uint64_t was;
    if (ck->st_verify >= ck->st_n || ck->st[ck->st_verify].index != index)
        return 0;
    if (read_hash(ck, &ck->c_verify, &ck->st[ck->st_verify], &was))
        return -1;
    if (was != h)
        return ck_fail(ck, "checkpoint %s was written for different input: "
                           "line %" PRIu64 " differs",
                       ck->path, index + 1);
    ck->st_verify++;
    return 1;
}

int ckpt_input_end(ckpt *ck, uint64_t lines)
{
    if (ck->st_verify < ck->st_n)
        return ck_fail(ck, "checkpoint %s was written for different input: "
                           "it has a result for line %" PRIu64 ", and the "
                           "input ends at line %" PRIu64,
                       ck->path, ck->st[ck->st_verify].index + 1, lines);
    return 0;
}

int ckpt_ready(const ckpt *ck, uint64_t *index)
{
    if (ck->st_emit >= ck->st_verify)
        return 0;
    if (index)
        *index = ck->st[ck->st_emit].index;
    return 1;
}

int ckpt_take(ckpt *ck, uint64_t *index, dlp_fail_kind *kind, char **msg,
              const char **line, size_t *len)
{
    const stored *s = &ck->st[ck->st_emit];
    uint64_t hash;
    if (read_task(ck, &ck->c_emit, s, &hash, kind, msg, line, len))
        return -1;
    *index = s->index;
    ck->st_emit++;
    return 0;
}

int ckpt_read_line(ckpt *ck, uint64_t index, uint64_t off,
                   dlp_fail_kind *kind, const char **line, size_t *len)
{
    stored s = {index, off};
    uint64_t hash;
    return read_task(ck, &ck->c_emit, &s, &hash, kind, NULL, line, len);
}

int ckpt_append(ckpt *ck, uint64_t index, uint64_t hash, dlp_fail_kind kind,
                const char *msg, const char *line, size_t len, uint64_t *off)
{
    char meta[64];
    char *mj = NULL;
    const void *piece[4];
    size_t plen[4];
    int rc;
    int mn = snprintf(meta, sizeof meta, "%" PRIu64 " %016" PRIx64 " %s\n",
                      index, hash, text_kind(kind));
    if (kind != DLP_FAIL_NONE &&
        !(mj = text_json(msg ? msg : "", msg ? strlen(msg) : 0)))
        return ck_fail(ck, "out of memory");
    piece[0] = meta;
    plen[0] = (size_t)mn;
    piece[1] = mj ? mj : "";
    plen[1] = mj ? strlen(mj) : 0;
    piece[2] = "\n";
    plen[2] = 1;
    piece[3] = line;
    plen[3] = len;
    rc = ck_record(ck, 'R', piece, plen, 4, off);
    free(mj);
    return rc;
}

int ckpt_flush(ckpt *ck)
{
    return ck_flush(ck);
}

const char *ckpt_note(const ckpt *ck)
{
    return ck->note[0] ? ck->note : NULL;
}

void ckpt_close(ckpt *ck)
{
    if (!ck)
        return;
    if (ck->fd >= 0)
        close(ck->fd);
    free(ck->st);
    free(ck->wbuf);
    free(ck->c_scan.buf);
    free(ck->c_verify.buf);
    free(ck->c_emit.buf);
    free(ck->fingerprint);
    free(ck);
}
