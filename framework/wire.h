/*
 * wire.h - the frames that cross a worker's channel, and their codec.
 *
 * A frame is a 16-byte header and a payload.  Integers are in host byte
 * order: both ends are forks of one program, or (later) ranks of one
 * homogeneous MPI job.  Every length read from a frame is checked against
 * what is left before it is used: frames from a peer are untrusted.
 *
 *   header   u32 len (payload bytes), u16 type, u16 flags, u32 a, u32 b
 *
 *   LOAD     P->W  a=fn     str plugin, str symbol, str sig ("" = none)
 *   LOADED   W->P  a=fn b=code(int32)   str sig (ok) or message (error)
 *   BATCH    P->W  a=job b=fn  u32 count, count x task
 *                  task := u64 index, u32 arglen, args (arglen bytes)
 *   RESULTS  W->P  a=job b=count  u64 busy_ns, count x result
 *                  result := u64 index, u8 kind, u32 len, len bytes
 *                            [u64 start_ns, u64 run_ns: flag TIMES]
 *                  (a worker never sends kind LOST; an agent may)
 *   INSPECT  P->W  str plugin
 *   INSPECTED W->P a=code(int32) b=abi  str name-or-message, u32 n,
 *                  n x (str name, str sig)
 *
 * Arguments are encoded by the signature's types, in order: fixed-width
 * scalars (1, 2, 4 or 8 bytes; bool is one byte 0/1), str as u32 len, the
 * bytes and a NUL (so a worker can pass a pointer into the frame), bytes as
 * u32 len and the bytes, T[] as u32 n, u8 pad, pad zeros and n elements
 * (8-aligned in the frame), val in its own tagged form (framework/val.c).
 * A scalar result is 8 bytes (i64, u64, f64 or bool widened); a str
 * result is its bytes; a val result its tagged form; an error is its
 * message.
 */
#ifndef DLPOOL_FRAMEWORK_WIRE_H
#define DLPOOL_FRAMEWORK_WIRE_H

#include <string.h>

#include "common.h"

enum {
    DLP_F_LOAD = 1,
    DLP_F_LOADED,
    DLP_F_BATCH,
    DLP_F_RESULTS,
    DLP_F_INSPECT,
    DLP_F_INSPECTED
};

/* BATCH header flags. */
#define DLP_BATCH_TIMED 0x1u /* the job has a timeout: stamp each start */
/* The job wants each task's start and run time: the worker follows every
 * result record with u64 start (CLOCK_REALTIME ns) and u64 run (ns), and
 * sets this flag on the RESULTS frames that carry them. */
#define DLP_BATCH_TIMES 0x2u
/* For a link to an agent (transport.h): the job's limits follow the last
 * task record, u64 timeout_ns and u32 retries, for the agent to enforce.
 * Workers are never sent it: their timeouts are the pool's to enforce. */
#define DLP_BATCH_LIMITS 0x4u
/* On RESULTS frames from an agent: every result record is followed (after
 * its times, with TIMES) by the u32 pid of the worker that ran it there
 * and the u32 attempts it took (retries made there count). */
#define DLP_RESULTS_PIDS 0x8u
/* On RESULTS frames from an agent: a u32 pid follows busy_ns, the worker
 * there that ran every record of the frame (a LOST record names its own). */
#define DLP_RESULTS_PID 0x10u

/* Result kinds on the wire (u8).  LOST comes from an agent only: a task
 * that failed there as on a local pool (a crash, an exit, a timeout, a
 * lost worker); its payload is u8 dlp_fail_kind, u32 signal, u32 exit
 * status, u32 attempts, u32 pid, then the message. */
enum { DLP_R_OK = 0, DLP_R_FAIL = 1, DLP_R_BADRESULT = 2, DLP_R_LOST = 3 };

#define DLP_HDR_SIZE 16u
#define DLP_TASK_HDR 12u   /* u64 index + u32 arglen */
#define DLP_TASK_OFF_ARGLEN 8u
#define DLP_RESULT_HDR 13u /* u64 index + u8 kind + u32 len */
#define DLP_RESULT_OFF_KIND 8u
#define DLP_RESULT_OFF_LEN 9u

typedef struct dlp__hdr {
    uint32_t len;
    uint16_t type, flags;
    uint32_t a, b;
} dlp__hdr;

/* Where each field of a header sits: dlp__hdr_pack and unpack, and the
 * accessors below, which read or patch one field of a frame in place (a
 * frame being built whose count is known only at its end, a received
 * BATCH passed on with other flags). */
#define DLP_HDR_OFF_TYPE 4u
#define DLP_HDR_OFF_FLAGS 6u
#define DLP_HDR_OFF_A 8u
#define DLP_HDR_OFF_B 12u

static inline uint16_t dlp__hdr_flags(const unsigned char *frame)
{
    uint16_t f;
    memcpy(&f, frame + DLP_HDR_OFF_FLAGS, 2);
    return f;
}

static inline void dlp__hdr_set_flags(unsigned char *frame, uint16_t f)
{
    memcpy(frame + DLP_HDR_OFF_FLAGS, &f, 2);
}

static inline void dlp__hdr_set_b(unsigned char *frame, uint32_t b)
{
    memcpy(frame + DLP_HDR_OFF_B, &b, 4);
}

/* A BATCH payload: u32 count, then the task records from
 * DLP_BATCH_OFF_TASKS of the frame; a link's batch may end in its limits
 * (DLP_BATCH_LIMITS_SIZE bytes, dlp__put_limits).  A RESULTS payload:
 * u64 busy_ns (DLP_RESULTS_BUSY_SIZE bytes), then the records.  The
 * accessors below read or patch these in a frame of our own (built here,
 * or checked already), where no bounds need checking. */
#define DLP_BATCH_OFF_TASKS (DLP_HDR_SIZE + 4u)
#define DLP_BATCH_LIMITS_SIZE 12u
#define DLP_RESULTS_BUSY_SIZE 8u

/* A BATCH's task count, patched once the frame is complete. */
static inline void dlp__batch_frame_set_count(unsigned char *frame,
                                              uint32_t n)
{
    memcpy(frame + DLP_HDR_SIZE, &n, 4);
}

/* A RESULTS frame's busy_ns, patched once its records are in. */
static inline void dlp__results_frame_set_busy(unsigned char *frame,
                                               uint64_t ns)
{
    memcpy(frame + DLP_HDR_SIZE, &ns, 8);
}

/* The task record at rec: its index, its argument bytes, its whole size;
 * and its arglen patched once its arguments are appended. */
static inline uint64_t dlp__task_rec_index(const unsigned char *rec)
{
    uint64_t v;
    memcpy(&v, rec, 8);
    return v;
}

static inline uint32_t dlp__task_rec_arglen(const unsigned char *rec)
{
    uint32_t v;
    memcpy(&v, rec + DLP_TASK_OFF_ARGLEN, 4);
    return v;
}

static inline size_t dlp__task_rec_size(const unsigned char *rec)
{
    return DLP_TASK_HDR + (size_t)dlp__task_rec_arglen(rec);
}

static inline void dlp__task_rec_set_arglen(unsigned char *rec, uint32_t n)
{
    memcpy(rec + DLP_TASK_OFF_ARGLEN, &n, 4);
}

/* A result record begun at rec whose payload (len bytes) follows it:
 * patch its kind and length in. */
static inline void dlp__result_rec_set(unsigned char *rec, uint8_t kind,
                                       uint32_t len)
{
    rec[DLP_RESULT_OFF_KIND] = kind;
    memcpy(rec + DLP_RESULT_OFF_LEN, &len, 4);
}

/* Append a link's batch limits (DLP_BATCH_LIMITS): u64 timeout_ns, u32
 * retries.  0 or -ENOMEM (then nothing is appended). */
static inline int dlp__put_limits(dlp__buf *b, uint64_t timeout_ns,
                                  uint32_t retries)
{
    size_t len = b->len;
    int rc = dlp__buf_put(b, &timeout_ns, 8);
    if (rc == 0 && (rc = dlp__buf_put(b, &retries, 4)))
        b->len = len;
    return rc;
}

/* A status code a worker may send (LOADED b, INSPECTED a): 0, a dlpool
 * code, or -errno.  Anything else is a corrupt frame. */
static inline int dlp__code_ok(int code)
{
    return code == 0 || (code < 0 && code > -4096) ||
           (code <= DLP_EINVAL && code >= DLP_ETASK);
}

DLP_PRIV void dlp__hdr_pack(unsigned char *out, const dlp__hdr *h);
DLP_PRIV void dlp__hdr_unpack(const unsigned char *in, dlp__hdr *h);

/* Append a header (len filled later with dlp__frame_end). Returns the
 * offset of the frame in b, or a negative code. */
DLP_PRIV long dlp__frame_begin(dlp__buf *b, uint16_t type, uint32_t a,
                               uint32_t bb);
/* Patch the payload length of the frame at offset off.  Returns 0 or
 * DLP_ETOOBIG. */
DLP_PRIV int dlp__frame_end(dlp__buf *b, long off);

/* Fixed-width appends: inline, since every task and result uses them. */
static inline int dlp__put_u8(dlp__buf *b, uint8_t v)
{
    return dlp__buf_put(b, &v, 1);
}

static inline int dlp__put_u32(dlp__buf *b, uint32_t v)
{
    return dlp__buf_put(b, &v, 4);
}

static inline int dlp__put_u64(dlp__buf *b, uint64_t v)
{
    return dlp__buf_put(b, &v, 8);
}
/* u32 length + bytes (+ NUL when nul is set). */
DLP_PRIV int dlp__put_str(dlp__buf *b, const void *p, size_t n, int nul);

/* A bounds-checked reader over untrusted bytes.  Once a read runs past
 * the end, bad is set and every later read fails too. */
typedef struct dlp__rd {
    const unsigned char *p, *end;
    int bad;
} dlp__rd;

DLP_PRIV void dlp__rd_init(dlp__rd *r, const void *p, size_t n);

static inline int dlp__get_bytes(dlp__rd *r, size_t n,
                                 const unsigned char **p)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return DLP_EPROTO;
    }
    *p = r->p;
    r->p += n;
    return 0;
}

static inline int dlp__get_u8(dlp__rd *r, uint8_t *v)
{
    const unsigned char *p;
    if (dlp__get_bytes(r, 1, &p))
        return DLP_EPROTO;
    *v = *p;
    return 0;
}

static inline int dlp__get_u32(dlp__rd *r, uint32_t *v)
{
    const unsigned char *p;
    if (dlp__get_bytes(r, 4, &p))
        return DLP_EPROTO;
    memcpy(v, p, 4);
    return 0;
}

static inline int dlp__get_u64(dlp__rd *r, uint64_t *v)
{
    const unsigned char *p;
    if (dlp__get_bytes(r, 8, &p))
        return DLP_EPROTO;
    memcpy(v, p, 8);
    return 0;
}
/* A u32-length string; with nul set, the string must be followed by a NUL
 * and contain none (as str arguments are sent). */
DLP_PRIV int dlp__get_str(dlp__rd *r, const char **p, uint32_t *n, int nul);

/*
 * Encode one scalar argument of type t, given as a wire-ready value.
 * Decode one argument of type t into slot (a union big enough for any
 * scalar or pointer), pointing str/bytes at the frame.  Decoding returns
 * DLP_EPROTO for truncated or corrupt data.
 */
typedef union dlp__slot {
    int8_t i8;
    int16_t i16;
    int32_t i32;
    int64_t i64;
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    float f32;
    double f64;
    unsigned char b;
    const void *ptr;
    size_t size;
} dlp__slot;

DLP_PRIV int dlp__arg_decode(dlp__rd *r, dlp_type t, dlp__slot *slot,
                             dlp__slot *len_slot);

/* Read the next task record of a BATCH payload: its index and the bytes
 * of its arguments (pointing into the frame).  DLP_EPROTO if truncated. */
DLP_PRIV int dlp__task_next(dlp__rd *r, uint64_t *index,
                            const unsigned char **args, uint32_t *arglen);

/* One result record of a RESULTS payload. */
typedef struct dlp__result_rec {
    uint64_t index;
    uint8_t kind; /* DLP_R_* */
    uint32_t len;
    const unsigned char *data; /* points into the frame */
} dlp__result_rec;

/* Read the next result record; DLP_EPROTO if truncated or of an unknown
 * kind.  Inline: the parent reads one per task. */
static inline int dlp__result_next(dlp__rd *r, dlp__result_rec *out)
{
    if (dlp__get_u64(r, &out->index) || dlp__get_u8(r, &out->kind) ||
        dlp__get_u32(r, &out->len) ||
        dlp__get_bytes(r, out->len, &out->data))
        return DLP_EPROTO;
    if (out->kind > DLP_R_LOST) {
        r->bad = 1;
        return DLP_EPROTO;
    }
    return 0;
}

/* Append an array argument: u32 n, u8 pad, pad zero bytes, n elements of
 * esz bytes; pad makes the elements start 8-aligned counted from the
 * frame's header at offset frame_off of b.  DLP_ETOOBIG, -ENOMEM. */
DLP_PRIV int dlp__put_array(dlp__buf *b, size_t frame_off, const void *data,
                            size_t n, size_t esz);

#endif
