/*
 * records.c - part of the dlpool command (framework/cli/main.c): what
 * the command keeps of each task besides its output line: --records,
 * --checkpoint, --joblog and --trace.  See records.h.
 *
 * The checkpoint file is a sequence of records, each
 *
 *     TYPE SP LENGTH SP CRC LF PAYLOAD
 *
 * where TYPE is H or R, LENGTH the payload's size in bytes (decimal), and
 * CRC its CRC-32 (IEEE 802.3) in 8 hex digits.  The first record is the
 * only H: its payload is one line of JSON, the fingerprint of the run
 * (what makes its results those of this run).  Each R is one finished
 * task, appended as it finishes:
 *
 *     INDEX SP HASH SP KIND LF      input line INDEX+1, the FNV-1a 64 hash
 *                                   of that line (16 hex digits), and "ok"
 *                                   or the failure kind's name
 *     MESSAGE LF                    a failure's message as a JSON string;
 *                                   empty for "ok"
 *     LINE                          the output line, newline included,
 *                                   exactly as the command wrote it
 *
 * A run killed while appending leaves at most its last record cut short:
 * its length or checksum does not hold and nothing valid follows it, so it
 * is cut off before the rerun appends.  A record that fails its checksum
 * with valid records after it is damage, and is refused, as is a record
 * whose checksum holds but whose content is not what the command writes
 * (check_task).  A rerun keeps in
 * memory 16 bytes per stored task (its index and where its record is) and
 * reads each stored line back from the file when it writes it.
 */
#include "config.h"

#include "output.h"
#include "records.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define CK_FORMAT "dlpool checkpoint"
#define CK_VERSION 1
/* A record header is "R " + at most 20 digits + " " + 8 hex digits + LF. */
#define HDR_MAX 40
#define WBUF_SIZE (64u * 1024)
#define CACHE_SIZE (64u * 1024)
/* Files are flushed at least this often (seconds) while results stream in
 * without a pause; at every pause they are flushed at once. */
#define FLUSH_EVERY 1.0
/* The trace's table of workers already named: past this many it starts
 * again (naming a worker twice is harmless), so it stays small when
 * workers are replaced all the time. */
#define PIDS_MAX 4096u

static int write_all(int fd, const char *p, size_t n);

/* ---- checksums and hashes -------------------------------------------- */

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

/* CRC-32 of p[0, n) continued from crc (0 to start). */
static uint32_t crc32_add(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *b = p;
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#define FNV_START REC_HASH_START

static uint64_t fnv_add(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n--)
        h = (h ^ *b++) * 0x100000001b3ull;
    return h;
}

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the state --------------------------------------------------------- */

/* A file written with a buffer of our own (see wf_put). */
typedef struct wfile wfile;

/* A task in flight: the pool's index, the input's, and its line's hash. */
typedef struct flight {
    uint64_t pool, input, hash;
} flight;

#define FL_EMPTY UINT64_MAX

/* A line written out of its turn, held until the lines before it are:
 * at offset off of the checkpoint, or in memory (line, len). */
typedef struct held {
    uint64_t index, off;
    char *line;
    size_t len;
    dlp_fail_kind kind;
} held;

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

struct rec {
    rec_config cfg;
    int reorder; /* results come as they finish and are put in order here */
    int capture; /* each line is written to mem first */
    FILE *mem;
    char *mem_buf;
    size_t mem_size;
    /* The failure the line being written reports. */
    int noted;
    dlp_fail_kind note_kind;
    char *note_msg;
    size_t note_cap;
    uint64_t cur_hash;

    uint64_t lines;    /* input lines read */
    uint64_t next_out; /* reorder: the index whose line is written next */
    uint64_t written, failures;
    /* Every line written to the output, stored ones included, by how
     * its task ended: the closing count says what the output holds. */
    uint64_t by_kind[DLP_FAIL_CANCELLED + 1];
    int stopped; /* --halt now reached: nothing more is written */

    flight *fl;
    size_t fl_cap, fl_n;
    held *heap;
    size_t heap_n, heap_cap;

    /* The checkpoint. */
    int ck_on, ck_fd, ck_fresh;
    uint64_t ck_end, ck_flushed;
    char *wbuf;
    size_t wlen;
    /* The tasks of an existing checkpoint, by index: the first st_verify
     * have had their input line read and checked, the first st_emit have
     * had their line written. */
    stored *st;
    size_t st_n, st_verify, st_emit;
    cache c_scan, c_verify, c_emit;
    char *fingerprint; /* this run's, one line of JSON */

    wfile *joblog, *trace;
    int trace_events;
    double t0;
    int run_pid;
    int *pids;
    size_t pids_cap, pids_n;
    unsigned rows;
    int input_row;

    int dirty, finished;
    double last_flush;
    char err[1024];
    char note[512];
};

static int fail(rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(rec *r, const char *fmt, ...)
{
    va_list ap;
    if (r->err[0])
        return -1; /* the first error is the one to report */
    va_start(ap, fmt);
    if (vsnprintf(r->err, sizeof r->err, fmt, ap) >= (int)sizeof r->err)
        text_trim(r->err);
    va_end(ap);
    return -1;
}

static const char *kind_name(dlp_fail_kind k)
{
    return k == DLP_FAIL_NONE ? "ok" : dlp_fail_kind_name(k);
}

static int kind_parse(const char *s, size_t n, dlp_fail_kind *out)
{
    for (int k = DLP_FAIL_NONE; k <= DLP_FAIL_CANCELLED; k++) {
        const char *name = kind_name((dlp_fail_kind)k);
        if (strlen(name) == n && !memcmp(name, s, n)) {
            *out = (dlp_fail_kind)k;
            return 0;
        }
    }
    return -1;
}

/* s as a JSON string (malloc'd; NULL when out of memory); each byte that
 * is not part of a valid UTF-8 character becomes '?' (the messages are the
 * plugin's, and the files must stay JSON). */
static char *json_text(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    char *text;
    if (!j) {
        char *copy = text_lossy(s, len);
        if (copy) {
            j = json_stringn(copy, len);
            free(copy);
        }
    }
    text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    return text;
}

static void put_str(FILE *out, const char *s, size_t len)
{
    char *text = json_text(s, len);
    fputs(text ? text : "\"\"", out);
    free(text);
}

/*
 * The job log and the trace are written through a buffer of our own with
 * write(2), not through stdio: the pool forks workers while the run goes
 * on, a forked worker has a copy of every stdio stream with its unwritten
 * data, and a plugin that calls exit() flushes those copies into
 * whatever descriptor has the stream's number in the worker (its channel
 * to the pool, when the number is 3).
 */
struct wfile {
    int fd;
    int err; /* the first write error (an errno), reported at a flush */
    size_t len;
    char buf[WBUF_SIZE];
};

static int wf_flush(wfile *f)
{
    int rc;
    if (f->len && !f->err && (rc = write_all(f->fd, f->buf, f->len)))
        f->err = -rc;
    f->len = 0;
    return f->err;
}

static void wf_put(wfile *f, const char *p, size_t n)
{
    while (n) {
        size_t k = n < WBUF_SIZE - f->len ? n : WBUF_SIZE - f->len;
        memcpy(f->buf + f->len, p, k);
        f->len += k;
        p += k;
        n -= k;
        if (f->len == WBUF_SIZE)
            wf_flush(f);
    }
}

static void wf_puts(wfile *f, const char *s)
{
    wf_put(f, s, strlen(s));
}

static void wf_putc(wfile *f, char c)
{
    wf_put(f, &c, 1);
}

static void wf_printf(wfile *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void wf_printf(wfile *f, const char *fmt, ...)
{
    char small[512], *big = NULL;
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof small) {
        va_start(ap, fmt);
        n = vasprintf(&big, fmt, ap);
        va_end(ap);
    }
    if (n > 0)
        wf_put(f, big ? big : small, (size_t)n);
    free(big);
}

static void wf_str(wfile *f, const char *s, size_t len)
{
    char *text = json_text(s, len);
    wf_puts(f, text ? text : "\"\"");
    free(text);
}

static wfile *wf_open(const char *path)
{
    wfile *f = malloc(sizeof *f);
    if (!f)
        return NULL;
    f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    f->err = 0;
    f->len = 0;
    if (f->fd < 0) {
        int e = errno;
        free(f);
        errno = e;
        return NULL;
    }
    return f;
}

/* Flush and close: 0 or an errno. */
static int wf_close(wfile *f)
{
    int rc = wf_flush(f);
    if (close(f->fd) < 0 && !rc)
        rc = errno;
    free(f);
    return rc;
}

/* ---- tasks in flight: pool index -> input index ------------------------ */

static size_t fl_home(uint64_t k, size_t mask)
{
    return (size_t)((k * 0x9e3779b97f4a7c15ull) >> 32) & mask;
}

static int fl_put(rec *r, uint64_t pool, uint64_t input, uint64_t hash)
{
    size_t i;
    if ((r->fl_n + 1) * 2 > r->fl_cap) {
        size_t cap = r->fl_cap ? r->fl_cap * 2 : 1024;
        flight *t = malloc(cap * sizeof *t);
        if (!t)
            return fail(r, "out of memory");
        for (i = 0; i < cap; i++)
            t[i].pool = FL_EMPTY;
        for (size_t k = 0; k < r->fl_cap; k++) {
            if (r->fl[k].pool == FL_EMPTY)
                continue;
            for (i = fl_home(r->fl[k].pool, cap - 1); t[i].pool != FL_EMPTY;
                 i = (i + 1) & (cap - 1))
                ;
            t[i] = r->fl[k];
        }
        free(r->fl);
        r->fl = t;
        r->fl_cap = cap;
    }
    for (i = fl_home(pool, r->fl_cap - 1); r->fl[i].pool != FL_EMPTY;
         i = (i + 1) & (r->fl_cap - 1))
        ;
    r->fl[i] = (flight){pool, input, hash};
    r->fl_n++;
    return 0;
}

/* Find and remove pool's entry (linear probing, deleted by shifting the
 * entries after it back, so no tombstones pile up). */
static int fl_take(rec *r, uint64_t pool, flight *out)
{
    size_t mask = r->fl_cap - 1, i, j;
    if (!r->fl_cap)
        return 0;
    for (i = fl_home(pool, mask); r->fl[i].pool != pool; i = (i + 1) & mask)
        if (r->fl[i].pool == FL_EMPTY)
            return 0;
    *out = r->fl[i];
    r->fl_n--;
    for (;;) {
        r->fl[i].pool = FL_EMPTY;
        for (j = i;;) {
            size_t h;
            j = (j + 1) & mask;
            if (r->fl[j].pool == FL_EMPTY)
                return 1;
            h = fl_home(r->fl[j].pool, mask);
            /* The entry at j may fill the hole at i only if its home is
             * not cyclically within (i, j]. */
            if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
                continue;
            r->fl[i] = r->fl[j];
            i = j;
            break;
        }
    }
}

/* ---- lines held for order: a min-heap by index ------------------------- */

static int heap_push(rec *r, held h)
{
    size_t i;
    if (r->heap_n == r->heap_cap) {
        size_t cap = r->heap_cap ? r->heap_cap * 2 : 64;
        held *t = realloc(r->heap, cap * sizeof *t);
        if (!t)
            return fail(r, "out of memory");
        r->heap = t;
        r->heap_cap = cap;
    }
    for (i = r->heap_n++; i > 0 && r->heap[(i - 1) / 2].index > h.index;
         i = (i - 1) / 2)
        r->heap[i] = r->heap[(i - 1) / 2];
    r->heap[i] = h;
    return 0;
}

static held heap_pop(rec *r)
{
    held top = r->heap[0], last = r->heap[--r->heap_n];
    size_t i = 0, n = r->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && r->heap[c + 1].index < r->heap[c].index)
            c++;
        if (r->heap[c].index >= last.index)
            break;
        r->heap[i] = r->heap[c];
        i = c;
    }
    if (n)
        r->heap[i] = last;
    return top;
}

/* ---- the checkpoint: writing ------------------------------------------- */

/* EINTR retried and EAGAIN waited out (a FIFO given as a file may be
 * shared with whoever made it non-blocking); no signal cuts it short:
 * the files are written whole. */
static int write_all(int fd, const char *p, size_t n)
{
    return output_write_all(fd, p, n, NULL);
}

/* A write to the checkpoint failed (a full disk): cut the file back to
 * what was wholly written and write no more, so that a rerun finds every
 * record before the cut intact rather than a torn one in the middle. */
static int ck_write_failed(rec *r, int rc)
{
    if (ftruncate(r->ck_fd, (off_t)r->ck_flushed) != 0) {
        /* It stays torn at its end, where a rerun looks for it. */
    }
    r->wlen = 0;
    return fail(r, "writing checkpoint %s: %s", r->cfg.checkpoint,
                strerror(-rc));
}

static int ck_flush(rec *r)
{
    int rc;
    if (!r->wlen)
        return 0;
    if ((rc = write_all(r->ck_fd, r->wbuf, r->wlen)))
        return ck_write_failed(r, rc);
    r->ck_flushed += r->wlen;
    r->wlen = 0;
    return 0;
}

static int ck_put(rec *r, const void *p, size_t n)
{
    int rc;
    if (r->wlen + n > WBUF_SIZE && ck_flush(r))
        return -1;
    if (n > WBUF_SIZE) {
        if ((rc = write_all(r->ck_fd, p, n)))
            return ck_write_failed(r, rc);
        r->ck_flushed += n;
        return 0;
    }
    memcpy(r->wbuf + r->wlen, p, n);
    r->wlen += n;
    return 0;
}

/* Append a record of type t made of the pieces; *off is where it starts. */
static int ck_record(rec *r, char t, const void *const *piece,
                     const size_t *len, int n, uint64_t *off)
{
    char hdr[HDR_MAX];
    uint32_t crc = 0;
    uint64_t total = 0;
    int hn;
    for (int k = 0; k < n; k++) {
        crc = crc32_add(crc, piece[k], len[k]);
        total += len[k];
    }
    hn = snprintf(hdr, sizeof hdr, "%c %" PRIu64 " %08" PRIx32 "\n", t, total,
                  crc);
    if (off)
        *off = r->ck_end;
    if (ck_put(r, hdr, (size_t)hn))
        return -1;
    for (int k = 0; k < n; k++)
        if (ck_put(r, piece[k], len[k]))
            return -1;
    r->ck_end += (uint64_t)hn + total;
    return 0;
}

/* ---- the checkpoint: reading ------------------------------------------- */

/* Bytes [off, off + n) of the checkpoint, through cache c; NULL when the
 * file is shorter (*got says how much there is) or cannot be read. */
static const char *ck_read(rec *r, cache *c, uint64_t off, size_t n,
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
    if (off + n > r->ck_flushed && r->wlen && ck_flush(r))
        return NULL;
    want = n > CACHE_SIZE ? n : CACHE_SIZE;
    if (want > c->cap) {
        char *b = realloc(c->buf, want);
        if (!b) {
            fail(r, "out of memory");
            return NULL;
        }
        c->buf = b;
        c->cap = want;
    }
    c->off = off;
    c->len = 0;
    while (c->len < c->cap) {
        ssize_t k = pread(r->ck_fd, c->buf + c->len, c->cap - c->len,
                          (off_t)(off + c->len));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            fail(r, "reading checkpoint %s: %s", r->cfg.checkpoint,
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

/* Parse a record header at p[0, n): 1 with its type, payload length,
 * checksum and size, else 0. */
static int parse_hdr(const char *p, size_t n, char *type, uint64_t *plen,
                     uint32_t *crc, size_t *hlen)
{
    size_t i = 2, d0;
    uint64_t len = 0;
    uint32_t c = 0;
    if (n < 2 || (p[0] != 'H' && p[0] != 'R') || p[1] != ' ')
        return 0;
    for (d0 = i; i < n && p[i] >= '0' && p[i] <= '9' && i - d0 < 19; i++)
        len = len * 10 + (uint64_t)(p[i] - '0');
    if (i == d0 || i >= n || p[i++] != ' ')
        return 0;
    for (d0 = i; i < n && i - d0 < 8; i++) {
        char h = p[i];
        int v = h >= '0' && h <= '9'   ? h - '0'
                : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                       : -1;
        if (v < 0)
            return 0;
        c = c << 4 | (uint32_t)v;
    }
    if (i - d0 != 8 || i >= n || p[i] != '\n')
        return 0;
    *type = p[0];
    *plen = len;
    *crc = c;
    *hlen = i + 1;
    return 1;
}

/* Whether a whole, valid record starts at off (the file has size bytes):
 * its header parses, its payload is all there and its checksum holds. */
static int record_at(rec *r, cache *c, uint64_t off, uint64_t size,
                     char *type, uint64_t *plen, size_t *hlen)
{
    size_t got, n = size - off < HDR_MAX ? (size_t)(size - off) : HDR_MAX;
    const char *p;
    uint32_t want, crc = 0;
    uint64_t done = 0;
    ck_read(r, c, off, n, &got);
    p = c->buf + (off - c->off);
    if (got < n || !parse_hdr(p, n, type, plen, &want, hlen))
        return 0;
    if (*plen > size - off - *hlen)
        return 0;
    while (done < *plen) {
        size_t k = *plen - done > CACHE_SIZE ? CACHE_SIZE
                                             : (size_t)(*plen - done);
        p = ck_read(r, c, off + *hlen + done, k, NULL);
        if (!p)
            return 0;
        crc = crc32_add(crc, p, k);
        done += k;
    }
    return crc == want;
}

/* Whether a valid record starts anywhere after off, at the start of a
 * line: then the bad record at off is damage, not a cut-off end. */
static int valid_after(rec *r, uint64_t off, uint64_t size)
{
    uint64_t p = off + 1;
    while (p < size) {
        size_t got, n = size - p < CACHE_SIZE ? (size_t)(size - p)
                                              : CACHE_SIZE;
        const char *b = ck_read(r, &r->c_scan, p, n, &got);
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
        if (q < size && record_at(r, &r->c_scan, q, size, &t, &plen, &hlen))
            return 1;
        p = q;
    }
    return 0;
}

/* The meta line of an R payload: index, hash, kind, and where the
 * message line starts. */
static int parse_meta(const char *p, size_t n, uint64_t *index,
                      uint64_t *hash, dlp_fail_kind *kind, size_t *rest)
{
    const char *nl = memchr(p, '\n', n), *sp1, *sp2;
    char num[24];
    char *end;
    if (!nl || !(sp1 = memchr(p, ' ', (size_t)(nl - p))) ||
        !(sp2 = memchr(sp1 + 1, ' ', (size_t)(nl - sp1 - 1))))
        return -1;
    if (sp1 - p < 1 || sp1 - p > 20 || sp2 - sp1 - 1 != 16)
        return -1;
    memcpy(num, p, (size_t)(sp1 - p));
    num[sp1 - p] = 0;
    if (num[0] < '0' || num[0] > '9')
        return -1;
    errno = 0;
    *index = strtoull(num, &end, 10);
    if (errno || *end)
        return -1;
    memcpy(num, sp1 + 1, 16);
    num[16] = 0;
    *hash = strtoull(num, &end, 16);
    if (*end || !((num[0] >= '0' && num[0] <= '9') ||
                  (num[0] >= 'a' && num[0] <= 'f')))
        return -1;
    if (kind_parse(sp2 + 1, (size_t)(nl - sp2 - 1), kind))
        return -1;
    *rest = (size_t)(nl - p) + 1;
    return 0;
}

/* Whether the task record at off (payload p[0, n)) is one this command
 * could have written: 0, or -1 with a message naming its byte offset.
 * Its checksum only says the record is whole; a record made by hand with
 * a valid checksum must not change the output's shape: its output line
 * is one non-empty line of UTF-8 text without control characters, ending
 * in its newline, as every line the command writes. */
static int check_task(rec *r, uint64_t off, const char *p, size_t n)
{
    const char *why = NULL, *msg, *nl, *line;
    uint64_t index, hash;
    dlp_fail_kind kind;
    size_t rest, len;
    if (parse_meta(p, n, &index, &hash, &kind, &rest))
        why = "is not understood";
    else if (index == UINT64_MAX)
        why = "has an index out of range";
    else if (!(nl = memchr(p + rest, '\n', n - rest)))
        why = "has no message line";
    else {
        msg = p + rest;
        line = nl + 1;
        len = (size_t)(p + n - line);
        if (kind == DLP_FAIL_NONE && nl != msg) {
            why = "has a message for a task that succeeded";
        } else if (kind != DLP_FAIL_NONE) {
            json_error_t je;
            json_t *j = json_loadb(msg, (size_t)(nl - msg), JSON_DECODE_ANY,
                                   &je);
            if (!json_is_string(j))
                why = "has a message that is not a JSON string";
            json_decref(j);
        }
        if (why) {
        } else if (len == 0) {
            why = "has no output line";
        } else if (line[len - 1] != '\n') {
            why = "has an output line that does not end in a newline";
        } else if (len == 1) {
            why = "has an empty output line";
        } else if (memchr(line, '\n', len - 1)) {
            why = "has more than one output line";
        } else if (!text_is_utf8(line, len - 1)) {
            why = "has an output line that is not UTF-8 text";
        } else {
            for (size_t i = 0; i + 1 < len; i++)
                if ((unsigned char)line[i] < 0x20) {
                    why = "has a control character in its output line";
                    break;
                }
        }
    }
    if (why)
        return fail(r, "checkpoint %s: the record at byte %" PRIu64 " %s",
                    r->cfg.checkpoint, off, why);
    return 0;
}

/* A stored task's record, read back and checked: its hash, kind, message
 * (malloc'd, only when want_msg and it failed) and output line (pointing
 * into cache c, valid until its next use). */
static int read_task(rec *r, cache *c, const stored *s, uint64_t *hash,
                     dlp_fail_kind *kind, char **msg, const char **line,
                     size_t *len)
{
    uint64_t size = r->ck_end, plen, index;
    size_t hlen, rest;
    const char *p, *nl;
    char t;
    if (!record_at(r, c, s->off, size, &t, &plen, &hlen) || t != 'R' ||
        !(p = ck_read(r, c, s->off, hlen + (size_t)plen, NULL)))
        return r->err[0] ? -1
                         : fail(r, "checkpoint %s changed while it was read "
                                   "(the record at byte %" PRIu64 ")",
                                r->cfg.checkpoint, s->off);
    p += hlen;
    if (parse_meta(p, (size_t)plen, &index, hash, kind, &rest) ||
        index != s->index ||
        !(nl = memchr(p + rest, '\n', (size_t)plen - rest)))
        return fail(r, "checkpoint %s: the record at byte %" PRIu64
                       " is not understood",
                    r->cfg.checkpoint, s->off);
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
static int read_hash(rec *r, cache *c, const stored *s, uint64_t *hash)
{
    uint64_t plen, index;
    uint32_t crc;
    size_t hlen, rest, got, n;
    dlp_fail_kind kind;
    const char *p;
    char t;
    n = r->ck_end - s->off < HDR_MAX + 64 ? (size_t)(r->ck_end - s->off)
                                          : HDR_MAX + 64;
    p = ck_read(r, c, s->off, n, &got);
    if (!p || !parse_hdr(p, n, &t, &plen, &crc, &hlen) || t != 'R' ||
        parse_meta(p + hlen, n - hlen, &index, hash, &kind, &rest) ||
        index != s->index)
        return r->err[0] ? -1
                         : fail(r, "checkpoint %s changed while it was read "
                                   "(the record at byte %" PRIu64 ")",
                                r->cfg.checkpoint, s->off);
    return 0;
}

/* ---- the fingerprint --------------------------------------------------- */

/* Find the plugin's file as the library does (a path, or a name searched
 * in DLPOOL_PLUGIN_PATH and the plugin directory, as NAME or NAME.so); a
 * name the system's library search finds has no file here.  A new string,
 * or NULL. */
static char *find_plugin(const char *name)
{
    const char *dirs[2] = {getenv("DLPOOL_PLUGIN_PATH"), DLP_PLUGINDIR};
    if (strchr(name, '/'))
        return strdup(name);
    if (!*name)
        return NULL;
    for (int k = 0; k < 2; k++) {
        const char *d = dirs[k];
        while (d && *d) {
            const char *colon = strchr(d, ':');
            size_t dlen = colon ? (size_t)(colon - d) : strlen(d);
            for (int so = 0; dlen && so < 2; so++) {
                struct stat st;
                char *p;
                if (asprintf(&p, "%.*s/%s%s", (int)dlen, d, name,
                             so ? ".so" : "") < 0)
                    return NULL;
                if (stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
                    access(p, R_OK) == 0)
                    return p;
                free(p);
            }
            d = colon ? colon + 1 : NULL;
        }
    }
    return NULL;
}

/* What a file that is not a regular file is, for a message. */
static const char *file_kind(mode_t mode)
{
    return S_ISDIR(mode)    ? "a directory"
           : S_ISCHR(mode)  ? "a character device"
           : S_ISBLK(mode)  ? "a block device"
           : S_ISFIFO(mode) ? "a FIFO"
           : S_ISSOCK(mode) ? "a socket"
                            : "not a regular file";
}

/* {"file":PATH,"size":N,"fnv1a64":HEX} for a plugin file, or
 * {"name":NAME} for one the system's library search finds (it is known
 * by its name alone), in *out.  0, or -1 (see r->err): out of memory, or
 * the path is not a regular file.  Only a regular file is read: hashing
 * a FIFO would wait for a writer, and a device may never end. */
static int plugin_identity(rec *r, const char *ref, json_t **out)
{
    const char *colon = strrchr(ref, ':');
    char *name = strndup(ref, colon ? (size_t)(colon - ref) : strlen(ref));
    char *path = name ? find_plugin(name) : NULL, hex[17], buf[1 << 15];
    json_t *j = NULL;
    uint64_t h = FNV_START, size = 0;
    struct stat st = {0};
    int fd = path ? open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC) : -1;
    *out = NULL;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
        if (!st.st_mode) /* fstat failed */
            fail(r, "plugin %s: %s", path, strerror(errno));
        else
            fail(r, "plugin %s is %s, not a shared object file", path,
                 file_kind(st.st_mode));
        close(fd);
        free(path);
        free(name);
        return -1;
    }
    if (fd >= 0) {
        ssize_t k;
        while ((k = read(fd, buf, sizeof buf)) > 0 ||
               (k < 0 && errno == EINTR)) {
            if (k > 0) {
                h = fnv_add(h, buf, (size_t)k);
                size += (uint64_t)k;
            }
        }
        close(fd);
        snprintf(hex, sizeof hex, "%016" PRIx64, h);
        j = json_pack("{s:s, s:I, s:s}", "file", path, "size",
                      (json_int_t)size, "fnv1a64", hex);
    } else if (name) {
        /* Not a file found here: the pool reports it if it is missing. */
        j = json_pack("{s:s}", "name", name);
    }
    free(path);
    free(name);
    if (!j)
        return fail(r, "out of memory");
    *out = j;
    return 0;
}

static char *make_fingerprint(rec *r, const rec_config *cfg)
{
    json_t *input, *fp, *plugin;
    struct stat st;
    char *s;
    if (plugin_identity(r, cfg->ref, &plugin))
        return NULL;
    input = json_pack("{s:s}", "name",
                      cfg->input_name ? cfg->input_name : "standard input");
    if (input && cfg->input_fd >= 0 && fstat(cfg->input_fd, &st) == 0 &&
        S_ISREG(st.st_mode))
        json_object_set_new(input, "size", json_integer(st.st_size));
    fp = json_pack("{s:s, s:i, s:s, s:o, s:o, s:b, s:o}", "format",
                   CK_FORMAT, "version", CK_VERSION, "function", cfg->ref,
                   "plugin", plugin, "sig",
                   cfg->sig ? json_string(cfg->sig) : json_null(), "records",
                   cfg->records, "input", input);
    if (!fp)
        return NULL;
    s = json_dumps(fp, JSON_COMPACT);
    json_decref(fp);
    return s;
}

/* What a fingerprint's field k (see check_fingerprint) says, as a
 * message puts it. */
static void describe(char *buf, size_t size, size_t k, const json_t *v)
{
    const json_t *name = json_object_get(v, "name"),
                 *file = json_object_get(v, "file"),
                 *bytes = json_object_get(v, "size");
    char *any;
    switch (k) {
    case 0:
        snprintf(buf, size, "%s", json_is_string(v) ? json_string_value(v)
                                                    : "?");
        return;
    case 1:
        if (json_is_string(file))
            snprintf(buf, size, "%s, %" JSON_INTEGER_FORMAT " bytes, "
                                "FNV-1a %s",
                     json_string_value(file), json_integer_value(bytes),
                     json_string_value(json_object_get(v, "fnv1a64")));
        else
            snprintf(buf, size, "%s, found by the system",
                     json_is_string(name) ? json_string_value(name) : "?");
        return;
    case 2:
        if (json_is_string(v))
            snprintf(buf, size, "with --sig '%s'", json_string_value(v));
        else
            snprintf(buf, size, "without --sig");
        return;
    case 3:
        snprintf(buf, size, "%s --records",
                 json_is_true(v) ? "with" : "without");
        return;
    case 4:
        if (json_is_integer(bytes))
            snprintf(buf, size, "%s, %" JSON_INTEGER_FORMAT " bytes",
                     json_is_string(name) ? json_string_value(name) : "?",
                     json_integer_value(bytes));
        else
            snprintf(buf, size, "%s",
                     json_is_string(name) ? json_string_value(name) : "?");
        return;
    default:
        any = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        snprintf(buf, size, "%s", any ? any : "nothing");
        free(any);
    }
}

/* Compare the stored fingerprint (payload p[0, n)) with this run's: 0,
 * or -1 with a message that says what differs. */
static int check_fingerprint(rec *r, const char *p, size_t n)
{
    static const char *const keys[] = {"function", "plugin", "sig",
                                       "records", "input"};
    const char *path = r->cfg.checkpoint;
    json_error_t je;
    json_t *old = json_loadb(p, n, 0, &je), *cur = json_loads(r->fingerprint,
                                                              0, &je);
    int rc = 0;
    if (!old || !json_is_object(old) ||
        !json_equal(json_object_get(old, "format"),
                    json_object_get(cur, "format"))) {
        rc = fail(r, "checkpoint %s: its header is not understood", path);
    } else if (!json_equal(json_object_get(old, "version"),
                           json_object_get(cur, "version"))) {
        char v[64];
        describe(v, sizeof v, 99, json_object_get(old, "version"));
        rc = fail(r, "checkpoint %s is of format version %s; this dlpool "
                     "writes version %d",
                  path, v, CK_VERSION);
    }
    for (size_t k = 0; !rc && k < sizeof keys / sizeof *keys; k++) {
        const json_t *a = json_object_get(old, keys[k]),
                     *b = json_object_get(cur, keys[k]);
        char was[300], is[300];
        if (json_equal(a, b))
            continue;
        describe(was, sizeof was, k, a);
        describe(is, sizeof is, k, b);
        if (k == 0)
            rc = fail(r, "checkpoint %s was written for a different "
                         "function: %s (this run: %s)",
                      path, was, is);
        else if (k == 1)
            rc = fail(r, "checkpoint %s was written with a different plugin: "
                         "%s (this run: %s)",
                      path, was, is);
        else if (k == 4)
            rc = fail(r, "checkpoint %s was written for different input: "
                         "%s (this run: %s)",
                      path, was, is);
        else
            rc = fail(r, "checkpoint %s was written %s (this run: %s)", path,
                      was, is);
    }
    json_decref(old);
    json_decref(cur);
    return rc;
}

/* ---- the checkpoint: opening ------------------------------------------- */

static int cmp_stored(const void *a, const void *b)
{
    const stored *x = a, *y = b;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Whether the file's first bytes p[0, n) could be the start of a
 * checkpoint's header cut short: only such a file is started afresh;
 * anything else is somebody's file, and is left alone. */
static int header_prefix(const char *p, size_t n)
{
    static const char body[] = "{\"format\":\"" CK_FORMAT "\"";
    size_t i = 2;
    if (n == 0)
        return 1;
    if (p[0] != 'H' || (n > 1 && p[1] != ' '))
        return 0;
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++;
    if (i < n && (i == 2 || p[i++] != ' '))
        return 0;
    for (size_t d = i; i < n && i - d < 8; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return 0;
    if (i < n && p[i++] != '\n')
        return 0;
    for (size_t k = 0; i < n && k < sizeof body - 1; i++, k++)
        if (p[i] != body[k])
            return 0;
    return 1;
}

/* Read an existing checkpoint: check its header against this run, index
 * its tasks, cut off a damaged last record. */
static int ck_load(rec *r, uint64_t size)
{
    const char *path = r->cfg.checkpoint;
    uint64_t off = 0, plen;
    size_t hlen, cap = 0, got;
    const char *p;
    char t;

    r->ck_end = r->ck_flushed = size;
    if (!record_at(r, &r->c_scan, 0, size, &t, &plen, &hlen) || t != 'H') {
        int torn;
        if (r->err[0])
            return -1;
        /* Read again: record_at may have moved the cache on. */
        p = ck_read(r, &r->c_scan, 0, size < 256 ? (size_t)size : 256, &got);
        if (r->err[0])
            return -1;
        torn = p && header_prefix(p, got);
        if (torn && valid_after(r, 0, size))
            return fail(r, "checkpoint %s is damaged at byte 0 (its header "
                           "fails its checksum and intact records follow it)",
                        path);
        if (!torn)
            return fail(r, "%s is not a dlpool checkpoint (it does not start "
                           "with a checkpoint header); not overwriting it",
                        path);
        /* A header cut short: the first run was killed as it started. */
        r->ck_fresh = 1;
        r->ck_end = r->ck_flushed = 0;
        if (ftruncate(r->ck_fd, 0) < 0)
            return fail(r, "checkpoint %s: cannot truncate it: %s", path,
                        strerror(errno));
        return 0;
    }
    if (!(p = ck_read(r, &r->c_scan, hlen, (size_t)plen, NULL)) ||
        check_fingerprint(r, p, (size_t)plen))
        return -1;
    off = hlen + plen;
    while (off < size) {
        uint64_t index, hash;
        dlp_fail_kind kind;
        size_t rest;
        if (!record_at(r, &r->c_scan, off, size, &t, &plen, &hlen)) {
            if (r->err[0])
                return -1;
            if (valid_after(r, off, size))
                return fail(r, "checkpoint %s is damaged at byte %" PRIu64
                               " (the record there fails its checksum and "
                               "intact records follow it)",
                            path, off);
            /* The last record, cut short when the run was killed while
             * writing it: it is not used, and is cut off before anything
             * is appended. */
            snprintf(r->note, sizeof r->note,
                     "checkpoint %s: its last record (at byte %" PRIu64
                     ") is incomplete and was ignored",
                     path, off);
            text_trim(r->note);
            if (ftruncate(r->ck_fd, (off_t)off) < 0)
                return fail(r, "checkpoint %s: cannot cut off its damaged "
                               "end: %s",
                            path, strerror(errno));
            r->ck_end = r->ck_flushed = off;
            break;
        }
        if (t != 'R')
            return fail(r, "checkpoint %s has a second header, at byte "
                           "%" PRIu64,
                        path, off);
        p = ck_read(r, &r->c_scan, off + hlen, (size_t)plen, NULL);
        if (!p || check_task(r, off, p, (size_t)plen) ||
            parse_meta(p, (size_t)plen, &index, &hash, &kind, &rest))
            return r->err[0] ? -1
                             : fail(r, "checkpoint %s: the record at byte "
                                       "%" PRIu64 " is not understood",
                                    path, off);
        if (r->st_n == cap) {
            stored *s = realloc(r->st, (cap = cap ? cap * 2 : 1024) *
                                           sizeof *s);
            if (!s)
                return fail(r, "out of memory");
            r->st = s;
        }
        r->st[r->st_n++] = (stored){index, off};
        off += hlen + plen;
    }
    qsort(r->st, r->st_n, sizeof *r->st, cmp_stored);
    {
        /* A task is stored once; if a copy of the file was ever merged,
         * the first record of an index stands. */
        size_t k = 0;
        for (size_t i = 0; i < r->st_n; i++)
            if (!k || r->st[k - 1].index != r->st[i].index)
                r->st[k++] = r->st[i];
        r->st_n = k;
        if (k && k < cap) {
            stored *s = realloc(r->st, k * sizeof *s);
            if (s)
                r->st = s;
        }
    }
    return 0;
}

static int ck_open(rec *r)
{
    const char *path = r->cfg.checkpoint;
    struct stat st;
    r->ck_fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
    if (r->ck_fd < 0)
        return fail(r, "cannot open checkpoint %s: %s", path,
                    strerror(errno));
    if (fstat(r->ck_fd, &st) < 0 || !S_ISREG(st.st_mode))
        return fail(r, "checkpoint %s is not a regular file", path);
    if (flock(r->ck_fd, LOCK_EX | LOCK_NB) < 0)
        return fail(r, "checkpoint %s is in use by another run", path);
    if (!(r->wbuf = malloc(WBUF_SIZE)))
        return fail(r, "out of memory");
    if (!(r->fingerprint = make_fingerprint(r, &r->cfg)))
        return r->err[0] ? -1 : fail(r, "out of memory");
    r->ck_on = 1;
    if (st.st_size == 0) {
        r->ck_fresh = 1;
        return 0;
    }
    return ck_load(r, (uint64_t)st.st_size);
}

/* ---- writing lines out ------------------------------------------------- */

/* A line of a task that ended with kind has been written out. */
static void count_line(rec *r, dlp_fail_kind kind)
{
    if (kind != DLP_FAIL_NONE)
        r->failures++;
    if ((unsigned)kind <= DLP_FAIL_CANCELLED)
        r->by_kind[kind]++;
}

static void put_line(rec *r, const char *p, size_t n, dlp_fail_kind kind)
{
    fwrite(p, 1, n, r->cfg.out);
    count_line(r, kind);
}

/* Whether --halt now has been reached: nothing more is written. */
static int halted(const rec *r)
{
    return r->cfg.halt_now_after && r->failures >= r->cfg.halt_now_after;
}

static int emit_stored(rec *r, const stored *s)
{
    uint64_t hash;
    dlp_fail_kind kind;
    char *msg = NULL;
    const char *line;
    size_t len;
    if (read_task(r, &r->c_emit, s, &hash, &kind, &msg, &line, &len))
        return -1;
    put_line(r, line, len, kind);
    if (r->cfg.stored)
        r->cfg.stored(r->cfg.stored_ud, s->index, kind,
                      kind == DLP_FAIL_NONE ? NULL
                      : msg                 ? msg
                                            : "(no message)");
    free(msg);
    return 0;
}

static int emit_held(rec *r, held *h)
{
    int rc = 0;
    if (h->line) {
        put_line(r, h->line, h->len, h->kind);
        free(h->line);
    } else {
        stored s = {h->index, h->off};
        uint64_t hash;
        dlp_fail_kind kind;
        const char *line;
        size_t len;
        if ((rc = read_task(r, &r->c_emit, &s, &hash, &kind, NULL, &line,
                            &len)) == 0)
            put_line(r, line, len, kind);
    }
    r->written++;
    return rc;
}

/* Write the lines whose turn has come: stored ones (once the input line
 * they answer has been read and checked) and held ones. */
static int drain(rec *r)
{
    while (!r->stopped) {
        if (r->st_emit < r->st_verify &&
            r->st[r->st_emit].index == r->next_out) {
            if (emit_stored(r, &r->st[r->st_emit]))
                return -1;
            r->st_emit++;
        } else if (r->heap_n && r->heap[0].index == r->next_out) {
            held h = heap_pop(r);
            if (emit_held(r, &h))
                return -1;
        } else {
            return 0;
        }
        r->next_out++;
        if (halted(r))
            r->stopped = 1;
    }
    return 0;
}

/* ---- the job log and the trace ----------------------------------------- */

/* Escape tabs, newlines, carriage returns and backslashes: a row is one
 * line of tab-separated fields. */
static void put_field(wfile *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '\t':
            wf_puts(f, "\\t");
            break;
        case '\n':
            wf_puts(f, "\\n");
            break;
        case '\r':
            wf_puts(f, "\\r");
            break;
        case '\\':
            wf_puts(f, "\\\\");
            break;
        default:
            wf_putc(f, *s);
        }
    }
}

static void joblog_row(rec *r, const dlp_result *res, dlp_fail_kind kind,
                       const char *msg)
{
    wf_printf(r->joblog, "%" PRIu64 "\t%d\t%.3f\t%.3f\t%u\t%s\t", res->index,
            res->pid, res->start, res->run_time, res->attempts,
            kind_name(kind));
    if (kind != DLP_FAIL_NONE && msg)
        put_field(r->joblog, msg);
    wf_putc(r->joblog, '\n');
}

static void trace_event_start(rec *r)
{
    wf_puts(r->trace, r->trace_events++ ? ",\n" : "\n");
}

/* Name row tid once: "worker PID" (or "input" for tid 0), in the order
 * the rows first appear. */
static void trace_row(rec *r, int tid)
{
    size_t mask, i;
    if (tid == 0) {
        if (r->input_row)
            return;
        r->input_row = 1;
    } else {
        if ((r->pids_n + 1) * 2 > r->pids_cap) {
            size_t cap = r->pids_cap ? r->pids_cap * 2 : 64;
            if (cap > PIDS_MAX) {
                /* Forget them all: a row named again is still one row. */
                memset(r->pids, 0, r->pids_cap * sizeof *r->pids);
                r->pids_n = 0;
            } else {
                int *t = calloc(cap, sizeof *t);
                if (!t)
                    return;
                for (size_t k = 0; k < r->pids_cap; k++) {
                    if (!r->pids[k])
                        continue;
                    for (i = fl_home((uint64_t)r->pids[k], cap - 1); t[i];
                         i = (i + 1) & (cap - 1))
                        ;
                    t[i] = r->pids[k];
                }
                free(r->pids);
                r->pids = t;
                r->pids_cap = cap;
            }
        }
        mask = r->pids_cap - 1;
        for (i = fl_home((uint64_t)tid, mask); r->pids[i]; i = (i + 1) & mask)
            if (r->pids[i] == tid)
                return;
        r->pids[i] = tid;
        r->pids_n++;
    }
    trace_event_start(r);
    wf_printf(r->trace,
            "{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
            "\"args\":{\"name\":",
            r->run_pid, tid);
    if (tid) {
        char name[32];
        snprintf(name, sizeof name, "worker %d", tid);
        wf_str(r->trace, name, strlen(name));
    } else {
        wf_str(r->trace, "input", 5);
    }
    wf_puts(r->trace, "}}");
    trace_event_start(r);
    wf_printf(r->trace,
            "{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%d,"
            "\"tid\":%d,\"args\":{\"sort_index\":%u}}",
            r->run_pid, tid, tid ? ++r->rows : 0);
}

static void trace_task(rec *r, const dlp_result *res, dlp_fail_kind kind,
                       const char *msg)
{
    double start = res->start, dur = res->run_time, ts;
    char name[48];
    if (res->attempts == 0 || res->pid == 0) {
        /* It never ran (its line was bad): a marker on the input row. */
        trace_row(r, 0);
        trace_event_start(r);
        snprintf(name, sizeof name, "task %" PRIu64 ": %s", res->index,
                 kind_name(kind));
        wf_puts(r->trace, "{\"name\":");
        wf_str(r->trace, name, strlen(name));
        wf_printf(r->trace,
                ",\"cat\":\"input\",\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,"
                "\"tid\":0,\"ts\":%.3f,\"args\":{\"index\":%" PRIu64,
                r->run_pid, (now_real() - r->t0) * 1e6, res->index);
        if (msg) {
            wf_puts(r->trace, ",\"error\":");
            wf_str(r->trace, msg, strlen(msg));
        }
        wf_puts(r->trace, "}}");
        return;
    }
    if (start <= 0) {
        /* No times (DLP_JOB_TIMES not honoured): a span ending now. */
        start = now_real() - (dur > 0 ? dur : 0);
    }
    ts = (start - r->t0) * 1e6;
    if (ts < 0)
        ts = 0;
    trace_row(r, res->pid);
    trace_event_start(r);
    snprintf(name, sizeof name, "task %" PRIu64, res->index);
    wf_printf(r->trace,
            "{\"name\":\"%s\",\"cat\":\"task\",\"ph\":\"X\",\"pid\":%d,"
            "\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"index\":%" PRIu64
            ",\"status\":\"%s\",\"attempts\":%u",
            name, r->run_pid, res->pid, ts, dur > 0 ? dur * 1e6 : 0,
            res->index, kind_name(kind), res->attempts);
    if (kind != DLP_FAIL_NONE && msg) {
        wf_puts(r->trace, ",\"error\":");
        wf_str(r->trace, msg, strlen(msg));
    }
    wf_puts(r->trace, "}}");
    if (kind == DLP_FAIL_SIGNAL || kind == DLP_FAIL_EXIT ||
        kind == DLP_FAIL_TIMEOUT || kind == DLP_FAIL_WORKER) {
        /* The worker died with it (or was killed for it): a marker where
         * its row ends; its replacement is a new row. */
        trace_event_start(r);
        wf_puts(r->trace, "{\"name\":");
        wf_str(r->trace, msg ? msg : kind_name(kind),
                strlen(msg ? msg : kind_name(kind)));
        wf_printf(r->trace,
                ",\"cat\":\"failure\",\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,"
                "\"tid\":%d,\"ts\":%.3f,\"args\":{\"index\":%" PRIu64
                ",\"status\":\"%s\"}}",
                r->run_pid, res->pid, ts + (dur > 0 ? dur * 1e6 : 0),
                res->index, kind_name(kind));
    }
}

static int flush_all(rec *r)
{
    int rc = 0;
    if (r->ck_on && ck_flush(r))
        rc = -1;
    if (r->joblog && wf_flush(r->joblog))
        rc = fail(r, "writing --joblog %s: %s", r->cfg.joblog,
                  strerror(r->joblog->err));
    if (r->trace && wf_flush(r->trace))
        rc = fail(r, "writing --trace %s: %s", r->cfg.trace,
                  strerror(r->trace->err));
    r->dirty = 0;
    r->last_flush = now_mono();
    return rc;
}

/* ---- the interface ------------------------------------------------------ */

int rec_open(rec **out, const rec_config *cfg, char *msg, size_t size)
{
    rec *r = calloc(1, sizeof *r);
    *out = r;
    if (!r) {
        snprintf(msg, size, "out of memory");
        return -1;
    }
    r->cfg = *cfg;
    r->ck_fd = -1;
    /* A checkpoint takes results as they finish, so that a slow task
     * keeps no finished one out of the file, and puts them in order here
     * (what it holds out of turn is an offset into the file, not the
     * line).  A job log or trace alone leaves the job ordered: its window
     * bounds what is held, and rows come in input order. */
    r->reorder = !cfg->unordered && cfg->checkpoint;
    r->capture = r->reorder || cfg->checkpoint;
    if (!crc_table[1])
        crc_init();
    if (r->capture &&
        !(r->mem = open_memstream(&r->mem_buf, &r->mem_size))) {
        fail(r, "out of memory");
        goto bad;
    }
    if (cfg->checkpoint && ck_open(r))
        goto bad;
    if (cfg->joblog && !(r->joblog = wf_open(cfg->joblog))) {
        fail(r, "cannot open --joblog %s: %s", cfg->joblog, strerror(errno));
        goto bad;
    }
    if (cfg->trace && !(r->trace = wf_open(cfg->trace))) {
        fail(r, "cannot open --trace %s: %s", cfg->trace, strerror(errno));
        goto bad;
    }
    r->run_pid = (int)getpid();
    r->t0 = now_real();
    if (r->joblog) {
        wf_puts(r->joblog, "Index\tWorker\tStarttime\tJobRuntime\tAttempts\t"
                           "Status\tError\n");
        r->dirty = 1;
    }
    if (r->trace) {
        /* Opened here, so that whatever happens next the file is closed
         * as JSON (rec_finish). */
        char name[512];
        wf_puts(r->trace, "{\"traceEvents\":[");
        trace_event_start(r);
        wf_printf(r->trace,
                "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,"
                "\"tid\":0,\"args\":{\"name\":",
                r->run_pid);
        snprintf(name, sizeof name, "dlpool run %s", cfg->ref);
        wf_str(r->trace, name, strlen(name));
        wf_puts(r->trace, "}}");
        r->dirty = 1;
    }
    return 0;
bad:
    snprintf(msg, size, "%s", r->err);
    return -1;
}

unsigned rec_job_flags(const rec *r)
{
    return (r->cfg.joblog || r->cfg.trace ? DLP_JOB_TIMES : 0u) |
           (r->reorder ? DLP_JOB_UNORDERED : 0u);
}

int rec_start(rec *r)
{
    r->last_flush = now_mono();
    if (r->ck_on && r->ck_fresh) {
        const void *piece[2] = {r->fingerprint, "\n"};
        size_t len[2] = {strlen(r->fingerprint), 1};
        if (ck_record(r, 'H', piece, len, 2, NULL) || ck_flush(r))
            return -1;
        r->ck_fresh = 0;
    }
    return 0;
}

uint64_t rec_hash_add(uint64_t h, const char *text, size_t len)
{
    return fnv_add(h, text, len);
}

int rec_line(rec *r, uint64_t pool_index, const char *text, size_t len)
{
    return rec_line_hash(r, pool_index,
                         r->ck_on ? fnv_add(FNV_START, text, len) : 0);
}

int rec_line_hash(rec *r, uint64_t pool_index, uint64_t h)
{
    uint64_t index = r->lines++;
    if (!r->ck_on)
        return 0;
    if (r->st_verify < r->st_n && r->st[r->st_verify].index == index) {
        uint64_t was;
        if (read_hash(r, &r->c_verify, &r->st[r->st_verify], &was))
            return -1;
        if (was != h)
            return fail(r, "checkpoint %s was written for different input: "
                           "line %" PRIu64 " differs",
                        r->cfg.checkpoint, index + 1);
        r->st_verify++;
        if (r->reorder) {
            if (drain(r))
                return -1;
        } else {
            while (!r->stopped && r->st_emit < r->st_verify) {
                if (emit_stored(r, &r->st[r->st_emit++]))
                    return -1;
                if (halted(r))
                    r->stopped = 1;
            }
        }
        return 1;
    }
    return fl_put(r, pool_index, index, h);
}

int rec_input_end(rec *r)
{
    if (r->ck_on && r->st_verify < r->st_n)
        return fail(r, "checkpoint %s was written for different input: it "
                       "has a result for line %" PRIu64 ", and the input "
                       "ends at line %" PRIu64,
                    r->cfg.checkpoint, r->st[r->st_verify].index + 1,
                    r->lines);
    return 0;
}

int rec_skips(const rec *r)
{
    return r->ck_on;
}

uint64_t rec_lines(const rec *r)
{
    return r->lines;
}

FILE *rec_begin(rec *r, dlp_result *res)
{
    flight f;
    if (r->ck_on && fl_take(r, res->index, &f)) {
        res->index = f.input;
        r->cur_hash = f.hash;
    }
    r->noted = 0;
    if (r->capture) {
        rewind(r->mem);
        return r->mem;
    }
    return r->cfg.out;
}

void rec_note_failure(rec *r, dlp_fail_kind kind, const char *msg)
{
    size_t n = strlen(msg) + 1;
    if (!r)
        return;
    if (n > r->note_cap) {
        char *m = realloc(r->note_msg, n);
        if (!m)
            return;
        r->note_msg = m;
        r->note_cap = n;
    }
    memcpy(r->note_msg, msg, n);
    r->note_kind = kind;
    r->noted = 1;
}

int rec_end(rec *r, const dlp_result *res)
{
    dlp_fail_kind kind = r->noted ? r->note_kind : res->fail;
    const char *msg = r->noted ? r->note_msg : res->error;
    const char *line = NULL;
    size_t len = 0;
    uint64_t off = 0;
    if (r->capture) {
        off_t at;
        fflush(r->mem);
        at = ftello(r->mem);
        line = r->mem_buf;
        len = at > 0 ? (size_t)at : 0;
    }
    if (r->ck_on) {
        char meta[64];
        char *mj = NULL;
        const void *piece[4];
        size_t plen[4];
        int mn = snprintf(meta, sizeof meta, "%" PRIu64 " %016" PRIx64 " %s\n",
                          res->index, r->cur_hash, kind_name(kind));
        if (kind != DLP_FAIL_NONE && !(mj = json_text(msg ? msg : "",
                                                       msg ? strlen(msg) : 0)))
            return fail(r, "out of memory");
        piece[0] = meta;
        plen[0] = (size_t)mn;
        piece[1] = mj ? mj : "";
        plen[1] = mj ? strlen(mj) : 0;
        piece[2] = "\n";
        plen[2] = 1;
        piece[3] = line;
        plen[3] = len;
        if (ck_record(r, 'R', piece, plen, 4, &off)) {
            free(mj);
            return -1;
        }
        free(mj);
        r->dirty = 1;
    }
    if (r->joblog) {
        joblog_row(r, res, kind, msg);
        r->dirty = 1;
    }
    if (r->trace) {
        trace_task(r, res, kind, msg);
        r->dirty = 1;
    }
    if (!r->capture) {
        r->written++;
        count_line(r, kind);
    } else if (r->stopped) {
        /* --halt now: the line is kept in the checkpoint, not written. */
    } else if (!r->reorder || res->index == r->next_out) {
        put_line(r, line, len, kind);
        r->written++;
        if (halted(r))
            r->stopped = 1;
        if (r->reorder) {
            r->next_out++;
            if (drain(r))
                return -1;
        }
    } else {
        /* Out of its turn: held, in the checkpoint if there is one (read
         * back when its turn comes), else in memory. */
        held h = {res->index, off, NULL, len, kind};
        if (!r->ck_on) {
            if (!(h.line = malloc(len ? len : 1)))
                return fail(r, "out of memory");
            memcpy(h.line, line, len);
        }
        if (heap_push(r, h)) {
            free(h.line);
            return -1;
        }
    }
    if (r->dirty && now_mono() - r->last_flush >= FLUSH_EVERY)
        return flush_all(r);
    return r->err[0] ? -1 : 0;
}

void rec_put_error(FILE *out, const dlp_result *res, const char *msg)
{
    fprintf(out, "{\"index\":%" PRIu64 ",\"error\":{\"kind\":\"%s\","
                 "\"message\":",
            res->index, kind_name(res->fail));
    put_str(out, msg, strlen(msg));
    if (res->fail == DLP_FAIL_SIGNAL)
        fprintf(out, ",\"signal\":%d", res->signo);
    if (res->fail == DLP_FAIL_EXIT)
        fprintf(out, ",\"exit_status\":%d", res->exit_status);
    if (res->attempts)
        fprintf(out, ",\"attempts\":%u", res->attempts);
    fputs("}}\n", out);
}

int rec_records(const rec *r)
{
    return r->cfg.records;
}

uint64_t rec_written(const rec *r)
{
    return r->written;
}

uint64_t rec_failures(const rec *r)
{
    return r->failures;
}

uint64_t rec_lines_of(const rec *r, dlp_fail_kind kind)
{
    return (unsigned)kind <= DLP_FAIL_CANCELLED ? r->by_kind[kind] : 0;
}

double rec_wait(const rec *r)
{
    return r->dirty ? 0 : -1;
}

void rec_idle(rec *r)
{
    if (r->dirty)
        flush_all(r);
}

int rec_finish(rec *r, int write_rest)
{
    if (r->finished)
        return r->err[0] ? -1 : 0;
    r->finished = 1;
    if (write_rest && r->reorder && !r->err[0])
        drain(r);
    if (r->trace) {
        wf_puts(r->trace, "\n],\"displayTimeUnit\":\"ms\"}\n");
        r->dirty = 1;
    }
    flush_all(r);
    if (r->trace) {
        int e = wf_close(r->trace);
        if (e)
            fail(r, "writing --trace %s: %s", r->cfg.trace, strerror(e));
        r->trace = NULL;
    }
    if (r->joblog) {
        int e = wf_close(r->joblog);
        if (e)
            fail(r, "writing --joblog %s: %s", r->cfg.joblog, strerror(e));
        r->joblog = NULL;
    }
    return r->err[0] ? -1 : 0;
}

const char *rec_error(const rec *r)
{
    return r && r->err[0] ? r->err : NULL;
}

const char *rec_note(const rec *r)
{
    return r && r->note[0] ? r->note : NULL;
}

void rec_close(rec *r)
{
    if (!r)
        return;
    /* A run that stopped early (output closed, set-up failed) still
     * leaves its files whole. */
    rec_finish(r, 0);
    if (r->ck_fd >= 0)
        close(r->ck_fd);
    if (r->mem)
        fclose(r->mem);
    free(r->mem_buf);
    while (r->heap_n) {
        held h = heap_pop(r);
        free(h.line);
    }
    free(r->heap);
    free(r->fl);
    free(r->st);
    free(r->wbuf);
    free(r->c_scan.buf);
    free(r->c_verify.buf);
    free(r->c_emit.buf);
    free(r->fingerprint);
    free(r->note_msg);
    free(r->pids);
    free(r);
}
