/*
 * wire.c - frame headers and the bounds-checked codec.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sig.h"
#include "wire.h"

void dlp__hdr_pack(unsigned char *out, const dlp__hdr *h)
{
    memcpy(out, &h->len, 4);
    memcpy(out + DLP_HDR_OFF_TYPE, &h->type, 2);
    memcpy(out + DLP_HDR_OFF_FLAGS, &h->flags, 2);
    memcpy(out + DLP_HDR_OFF_A, &h->a, 4);
    memcpy(out + DLP_HDR_OFF_B, &h->b, 4);
}

void dlp__hdr_unpack(const unsigned char *in, dlp__hdr *h)
{
    memcpy(&h->len, in, 4);
    memcpy(&h->type, in + DLP_HDR_OFF_TYPE, 2);
    memcpy(&h->flags, in + DLP_HDR_OFF_FLAGS, 2);
    memcpy(&h->a, in + DLP_HDR_OFF_A, 4);
    memcpy(&h->b, in + DLP_HDR_OFF_B, 4);
}

long dlp__frame_begin(dlp__buf *b, uint16_t type, uint32_t a, uint32_t bb)
{
    dlp__hdr h = {0, type, 0, a, bb};
    long off = (long)b->len;
    int rc = dlp__buf_reserve(b, DLP_HDR_SIZE);
    if (rc)
        return rc;
    dlp__hdr_pack(b->p + b->len, &h);
    b->len += DLP_HDR_SIZE;
    return off;
}

int dlp__frame_end(dlp__buf *b, long off)
{
    size_t len = b->len - (size_t)off - DLP_HDR_SIZE;
    uint32_t l32 = (uint32_t)len;
    if (len > DLP_FRAME_MAX)
        return DLP_ETOOBIG;
    memcpy(b->p + off, &l32, 4);
    return 0;
}

int dlp__put_str(dlp__buf *b, const void *p, size_t n, int nul)
{
    int rc;
    if (n > DLP_FRAME_MAX)
        return DLP_ETOOBIG;
    if ((rc = dlp__buf_reserve(b, 4 + n + (nul ? 1 : 0))))
        return rc;
    dlp__put_u32(b, (uint32_t)n);
    dlp__buf_put(b, p, n);
    if (nul)
        dlp__put_u8(b, 0);
    return 0;
}

void dlp__rd_init(dlp__rd *r, const void *p, size_t n)
{
    /* An empty buffer may have no storage: never do arithmetic on NULL. */
    static const unsigned char none;
    r->p = p ? (const unsigned char *)p : &none;
    r->end = r->p + n;
    r->bad = 0;
}

int dlp__get_str(dlp__rd *r, const char **s, uint32_t *n, int nul)
{
    const unsigned char *p;
    uint32_t len;
    if (dlp__get_u32(r, &len) || dlp__get_bytes(r, len, &p))
        return DLP_EPROTO;
    if (nul) {
        const unsigned char *z;
        if (dlp__get_bytes(r, 1, &z) || *z != 0 || memchr(p, 0, len)) {
            r->bad = 1;
            return DLP_EPROTO;
        }
    }
    *s = (const char *)p;
    *n = len;
    return 0;
}

int dlp__arg_decode(dlp__rd *r, dlp_type t, dlp__slot *slot,
                    dlp__slot *len_slot)
{
    const unsigned char *p;
    size_t sz = dlp__type_size(t);
    if (sz) {
        if (dlp__get_bytes(r, sz, &p))
            return DLP_EPROTO;
        memcpy(slot, p, sz);
        if (t == DLP_T_BOOL && slot->b > 1) {
            r->bad = 1;
            return DLP_EPROTO;
        }
        return 0;
    }
    if (DLP_T_IS_ARRAY(t) && dlp__type_is_num(DLP_T_ELEM(t))) {
        uint32_t n;
        uint8_t pad;
        const unsigned char *skip;
        size_t esz = dlp__type_size(DLP_T_ELEM(t));
        if (dlp__get_u32(r, &n) || dlp__get_u8(r, &pad) || pad > 7 ||
            dlp__get_bytes(r, pad, &skip) ||
            (size_t)(r->end - r->p) / esz < n ||
            dlp__get_bytes(r, (size_t)n * esz, &p)) {
            r->bad = 1;
            return DLP_EPROTO;
        }
        slot->ptr = p;
        if (len_slot)
            len_slot->size = n;
        return 0;
    }
    if (t == DLP_T_STR || t == DLP_T_BYTES) {
        const char *s;
        uint32_t n;
        if (dlp__get_str(r, &s, &n, t == DLP_T_STR))
            return DLP_EPROTO;
        slot->ptr = s;
        if (len_slot)
            len_slot->size = n;
        return 0;
    }
    r->bad = 1;
    return DLP_EPROTO;
}

int dlp__task_next(dlp__rd *r, uint64_t *index, const unsigned char **args,
                   uint32_t *arglen)
{
    if (dlp__get_u64(r, index) || dlp__get_u32(r, arglen) ||
        dlp__get_bytes(r, *arglen, args))
        return DLP_EPROTO;
    return 0;
}

int dlp__put_array(dlp__buf *b, size_t frame_off, const void *data,
                   size_t n, size_t esz)
{
    int rc;
    size_t pad;
    if (n > UINT32_MAX || n > (DLP_FRAME_MAX - 64) / esz)
        return DLP_ETOOBIG;
    /* The data starts 8-aligned from the frame's start, which the worker
     * reads to an aligned address: then it is passed to C in place. */
    pad = (8 - ((b->len - frame_off + 5) & 7)) & 7;
    if ((rc = dlp__buf_reserve(b, 5 + pad + n * esz)))
        return rc;
    dlp__put_u32(b, (uint32_t)n);
    dlp__put_u8(b, (uint8_t)pad);
    memset(b->p + b->len, 0, pad);
    b->len += pad;
    return dlp__buf_put(b, data, n * esz);
}
