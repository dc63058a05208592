/*
 * val.c - structured values (dlpool/val.h) and their wire form.
 *
 * Wire form, one tag byte then the payload:
 *   0 null, 1 false, 2 true, 3 int (i64), 4 uint (u64), 5 float (f64),
 *   6 str (u32 len, bytes), 7 bytes (u32 len, bytes),
 *   8 list (u32 n, n values), 9 map (u32 n, n x (u32 len, key, value)).
 * A decoder trusts nothing: every count is checked against the bytes left
 * (each value takes at least one byte), keys may not contain a NUL, and
 * nesting stops at DLP_VAL_MAX_DEPTH, so a hostile frame can neither make
 * it allocate more than a fixed multiple of the frame's size (a one-byte
 * null becomes a node and an item pointer) nor overflow the stack.  An
 * integer is INT when it fits int64_t: a uint tag with a smaller value is
 * refused, so every value has exactly one encoding.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "val.h"

enum {
    TAG_NULL = 0,
    TAG_FALSE,
    TAG_TRUE,
    TAG_INT,
    TAG_UINT,
    TAG_FLOAT,
    TAG_STR,
    TAG_BYTES,
    TAG_LIST,
    TAG_MAP
};

static dlp_val *node(dlp_val_kind kind)
{
    dlp_val *v = calloc(1, sizeof *v);
    if (v)
        v->kind = kind;
    return v;
}

DLP_API dlp_val *dlp_val_null(void)
{
    return node(DLP_V_NULL);
}

DLP_API dlp_val *dlp_val_bool(bool b)
{
    dlp_val *v = node(DLP_V_BOOL);
    if (v)
        v->v.b = b;
    return v;
}

DLP_API dlp_val *dlp_val_int(int64_t i)
{
    dlp_val *v = node(DLP_V_INT);
    if (v)
        v->v.i = i;
    return v;
}

DLP_API dlp_val *dlp_val_uint(uint64_t u)
{
    dlp_val *v;
    if (u <= INT64_MAX)
        return dlp_val_int((int64_t)u);
    v = node(DLP_V_UINT);
    if (v)
        v->v.u = u;
    return v;
}

DLP_API dlp_val *dlp_val_float(double f)
{
    dlp_val *v = node(DLP_V_FLOAT);
    if (v)
        v->v.f = f;
    return v;
}

static dlp_val *text(dlp_val_kind kind, const void *p, size_t len)
{
    dlp_val *v;
    if ((!p && len) || len == SIZE_MAX)
        return NULL;
    v = node(kind);
    if (!v)
        return NULL;
    v->v.s.ptr = malloc(len + 1);
    if (!v->v.s.ptr) {
        free(v);
        return NULL;
    }
    if (len)
        memcpy(v->v.s.ptr, p, len);
    v->v.s.ptr[len] = 0;
    v->v.s.len = len;
    return v;
}

DLP_API dlp_val *dlp_val_str(const char *s, size_t len)
{
    return text(DLP_V_STR, s, len);
}

DLP_API dlp_val *dlp_val_cstr(const char *s)
{
    return s ? text(DLP_V_STR, s, strlen(s)) : NULL;
}

DLP_API dlp_val *dlp_val_bytes(const void *p, size_t len)
{
    return text(DLP_V_BYTES, p, len);
}

DLP_API dlp_val *dlp_val_list(void)
{
    return node(DLP_V_LIST);
}

DLP_API dlp_val *dlp_val_map(void)
{
    return node(DLP_V_MAP);
}

/* Make room for one more item (and key, for a map). */
static int grow(dlp_val *c)
{
    size_t cap;
    dlp_val **items;
    if (c->v.c.len < c->v.c.cap)
        return 0;
    cap = c->v.c.cap ? 2 * c->v.c.cap : 4;
    if (cap > SIZE_MAX / sizeof(void *))
        return -ENOMEM;
    items = realloc(c->v.c.items, cap * sizeof *items);
    if (!items)
        return -ENOMEM;
    c->v.c.items = items;
    if (c->kind == DLP_V_MAP) {
        char **keys = realloc(c->v.c.keys, cap * sizeof *keys);
        if (!keys)
            return -ENOMEM; /* items grew; cap stays: harmless */
        c->v.c.keys = keys;
    }
    c->v.c.cap = cap;
    return 0;
}

DLP_API int dlp_val_push(dlp_val *list, dlp_val *item)
{
    int rc;
    if (!list || list->kind != DLP_V_LIST || !item) {
        dlp_val_free(item);
        return DLP_EINVAL;
    }
    if ((rc = grow(list))) {
        dlp_val_free(item);
        return rc;
    }
    list->v.c.items[list->v.c.len++] = item;
    return 0;
}

/* Append key and item to a map without looking for the key (the decoder
 * and dlp_val_set use it).  Takes item, and key (malloc'd). */
static int map_add(dlp_val *map, char *key, dlp_val *item)
{
    int rc;
    if ((rc = grow(map))) {
        free(key);
        dlp_val_free(item);
        return rc;
    }
    map->v.c.keys[map->v.c.len] = key;
    map->v.c.items[map->v.c.len++] = item;
    return 0;
}

DLP_API int dlp_val_set(dlp_val *map, const char *key, dlp_val *item)
{
    char *k;
    if (!map || map->kind != DLP_V_MAP || !key || !item) {
        dlp_val_free(item);
        return DLP_EINVAL;
    }
    for (size_t i = 0; i < map->v.c.len; i++) {
        if (strcmp(map->v.c.keys[i], key) == 0) {
            dlp_val_free(map->v.c.items[i]);
            map->v.c.items[i] = item;
            return 0;
        }
    }
    if (!(k = strdup(key))) {
        dlp_val_free(item);
        return -ENOMEM;
    }
    return map_add(map, k, item);
}

static int is_container(const dlp_val *v)
{
    return v && (v->kind == DLP_V_LIST || v->kind == DLP_V_MAP);
}

DLP_API size_t dlp_val_len(const dlp_val *v)
{
    return is_container(v) ? v->v.c.len : 0;
}

DLP_API const dlp_val *dlp_val_at(const dlp_val *v, size_t i)
{
    return is_container(v) && i < v->v.c.len ? v->v.c.items[i] : NULL;
}

DLP_API const char *dlp_val_key(const dlp_val *v, size_t i)
{
    return v && v->kind == DLP_V_MAP && i < v->v.c.len ? v->v.c.keys[i]
                                                        : NULL;
}

DLP_API const dlp_val *dlp_val_get(const dlp_val *map, const char *key)
{
    if (!map || map->kind != DLP_V_MAP || !key)
        return NULL;
    for (size_t i = 0; i < map->v.c.len; i++)
        if (strcmp(map->v.c.keys[i], key) == 0)
            return map->v.c.items[i];
    return NULL;
}

DLP_API bool dlp_val_as_int(const dlp_val *v, int64_t *out)
{
    if (v && v->kind == DLP_V_INT) {
        *out = v->v.i;
        return true;
    }
    if (v && v->kind == DLP_V_UINT && v->v.u <= INT64_MAX) {
        *out = (int64_t)v->v.u;
        return true;
    }
    return false;
}

DLP_API bool dlp_val_as_double(const dlp_val *v, double *out)
{
    if (!v)
        return false;
    switch (v->kind) {
    case DLP_V_INT:
        *out = (double)v->v.i;
        return true;
    case DLP_V_UINT:
        *out = (double)v->v.u;
        return true;
    case DLP_V_FLOAT:
        *out = v->v.f;
        return true;
    default:
        return false;
    }
}

DLP_API void dlp_val_free(dlp_val *v)
{
    if (!v)
        return;
    switch (v->kind) {
    case DLP_V_STR:
    case DLP_V_BYTES:
        free(v->v.s.ptr);
        break;
    case DLP_V_LIST:
    case DLP_V_MAP:
        for (size_t i = 0; i < v->v.c.len; i++) {
            dlp_val_free(v->v.c.items[i]);
            if (v->v.c.keys)
                free(v->v.c.keys[i]);
        }
        free(v->v.c.items);
        free(v->v.c.keys);
        break;
    default:
        break;
    }
    free(v);
}

/* Only the wire limits depth: a value built in this process is copied
 * whatever its depth, as dlp_val_free and dlp_val_equal walk it. */
static dlp_val *copy_at(const dlp_val *v)
{
    dlp_val *c;
    if (!v)
        return NULL;
    switch (v->kind) {
    case DLP_V_STR:
    case DLP_V_BYTES:
        return text(v->kind, v->v.s.ptr, v->v.s.len);
    case DLP_V_LIST:
    case DLP_V_MAP:
        if (!(c = node(v->kind)))
            return NULL;
        for (size_t i = 0; i < v->v.c.len; i++) {
            dlp_val *item = copy_at(v->v.c.items[i]);
            int rc;
            if (!item) {
                dlp_val_free(c);
                return NULL;
            }
            if (v->kind == DLP_V_LIST) {
                rc = dlp_val_push(c, item);
            } else {
                char *k = strdup(v->v.c.keys[i]);
                if (!k) {
                    dlp_val_free(item);
                    dlp_val_free(c);
                    return NULL;
                }
                rc = map_add(c, k, item);
            }
            if (rc) {
                dlp_val_free(c);
                return NULL;
            }
        }
        return c;
    default:
        if ((c = node(v->kind)))
            c->v = v->v;
        return c;
    }
}

DLP_API dlp_val *dlp_val_copy(const dlp_val *v)
{
    return copy_at(v);
}

DLP_API bool dlp_val_equal(const dlp_val *a, const dlp_val *b)
{
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case DLP_V_NULL:
        return true;
    case DLP_V_BOOL:
        return a->v.b == b->v.b;
    case DLP_V_INT:
        return a->v.i == b->v.i;
    case DLP_V_UINT:
        return a->v.u == b->v.u;
    case DLP_V_FLOAT:
        /* Bitwise, so that NaN equals itself and -0.0 differs from 0.0:
         * "the same value came back", not arithmetic equality. */
        return memcmp(&a->v.f, &b->v.f, sizeof a->v.f) == 0;
    case DLP_V_STR:
    case DLP_V_BYTES:
        return a->v.s.len == b->v.s.len &&
               memcmp(a->v.s.ptr, b->v.s.ptr, a->v.s.len) == 0;
    case DLP_V_LIST:
    case DLP_V_MAP:
        if (a->v.c.len != b->v.c.len)
            return false;
        for (size_t i = 0; i < a->v.c.len; i++) {
            if (a->kind == DLP_V_MAP &&
                strcmp(a->v.c.keys[i], b->v.c.keys[i]) != 0)
                return false;
            if (!dlp_val_equal(a->v.c.items[i], b->v.c.items[i]))
                return false;
        }
        return true;
    }
    return false;
}

DLP_API const char *dlp_val_kind_name(dlp_val_kind kind)
{
    static const char *const names[] = {"null",  "bool", "int",
                                        "uint",  "float", "str",
                                        "bytes", "list", "map"};
    return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind]
                                                            : "?";
}

/* ---- wire form ---------------------------------------------------- */

static int put_at(dlp__buf *b, const dlp_val *v, unsigned depth)
{
    int rc;
    if (!v)
        return dlp__put_u8(b, TAG_NULL);
    if (depth > DLP_VAL_MAX_DEPTH)
        return DLP_ETOOBIG;
    switch (v->kind) {
    case DLP_V_NULL:
        return dlp__put_u8(b, TAG_NULL);
    case DLP_V_BOOL:
        return dlp__put_u8(b, v->v.b ? TAG_TRUE : TAG_FALSE);
    case DLP_V_INT:
    case DLP_V_UINT:
    case DLP_V_FLOAT: {
        uint8_t tag = v->kind == DLP_V_INT    ? TAG_INT
                      : v->kind == DLP_V_UINT ? TAG_UINT
                                              : TAG_FLOAT;
        uint64_t w;
        memcpy(&w, &v->v, 8);
        /* A UINT node built by hand (the layout is public) with a value
         * that fits int64_t goes out in its one form, INT, which is the
         * only one the decoder accepts. */
        if (tag == TAG_UINT && w <= INT64_MAX)
            tag = TAG_INT;
        if ((rc = dlp__put_u8(b, tag)))
            return rc;
        return dlp__put_u64(b, w);
    }
    case DLP_V_STR:
    case DLP_V_BYTES:
        if ((rc = dlp__put_u8(b, v->kind == DLP_V_STR ? TAG_STR : TAG_BYTES)))
            return rc;
        return dlp__put_str(b, v->v.s.ptr, v->v.s.len, 0);
    case DLP_V_LIST:
    case DLP_V_MAP:
        if (v->v.c.len > UINT32_MAX)
            return DLP_ETOOBIG;
        if ((rc = dlp__put_u8(b, v->kind == DLP_V_LIST ? TAG_LIST
                                                       : TAG_MAP)) ||
            (rc = dlp__put_u32(b, (uint32_t)v->v.c.len)))
            return rc;
        for (size_t i = 0; i < v->v.c.len; i++) {
            if (v->kind == DLP_V_MAP &&
                (rc = dlp__put_str(b, v->v.c.keys[i],
                                   strlen(v->v.c.keys[i]), 0)))
                return rc;
            if ((rc = put_at(b, v->v.c.items[i], depth + 1)))
                return rc;
        }
        return 0;
    }
    return DLP_EINVAL;
}

int dlp__val_put(dlp__buf *b, const dlp_val *v)
{
    size_t mark = b->len;
    int rc = put_at(b, v, 1);
    if (rc)
        b->len = mark; /* leave no half value behind */
    if (rc == 0 && b->len - mark > DLP_FRAME_MAX)
        rc = DLP_ETOOBIG, b->len = mark;
    return rc;
}

static int get_at(dlp__rd *r, dlp_val **out, unsigned depth)
{
    uint8_t tag;
    uint64_t w;
    uint32_t n;
    const char *s;
    dlp_val *v;
    *out = NULL;
    if (depth > DLP_VAL_MAX_DEPTH || dlp__get_u8(r, &tag))
        goto bad;
    switch (tag) {
    case TAG_NULL:
        v = dlp_val_null();
        break;
    case TAG_FALSE:
    case TAG_TRUE:
        v = dlp_val_bool(tag == TAG_TRUE);
        break;
    case TAG_INT:
    case TAG_UINT:
    case TAG_FLOAT:
        if (dlp__get_u64(r, &w))
            goto bad;
        /* A uint that fits an int64 has one representation: INT. */
        if (tag == TAG_UINT && w <= INT64_MAX)
            goto bad;
        v = node(tag == TAG_INT    ? DLP_V_INT
                 : tag == TAG_UINT ? DLP_V_UINT
                                   : DLP_V_FLOAT);
        if (v)
            memcpy(&v->v, &w, 8);
        break;
    case TAG_STR:
    case TAG_BYTES:
        if (dlp__get_str(r, &s, &n, 0))
            goto bad;
        v = text(tag == TAG_STR ? DLP_V_STR : DLP_V_BYTES, s, n);
        break;
    case TAG_LIST:
    case TAG_MAP:
        if (dlp__get_u32(r, &n))
            goto bad;
        /* Every item takes a byte at least, a map entry five. */
        if ((size_t)(r->end - r->p) / (tag == TAG_LIST ? 1u : 5u) < n)
            goto bad;
        v = node(tag == TAG_LIST ? DLP_V_LIST : DLP_V_MAP);
        if (!v)
            return -ENOMEM;
        for (uint32_t i = 0; i < n; i++) {
            dlp_val *item;
            char *key = NULL;
            int rc;
            if (tag == TAG_MAP) {
                uint32_t kn;
                const char *k;
                if (dlp__get_str(r, &k, &kn, 0) || memchr(k, 0, kn)) {
                    dlp_val_free(v);
                    goto bad;
                }
                if (!(key = malloc((size_t)kn + 1))) {
                    dlp_val_free(v);
                    return -ENOMEM;
                }
                memcpy(key, k, kn);
                key[kn] = 0;
            }
            if ((rc = get_at(r, &item, depth + 1))) {
                free(key);
                dlp_val_free(v);
                return rc;
            }
            rc = tag == TAG_MAP ? map_add(v, key, item)
                                : dlp_val_push(v, item);
            if (rc) {
                dlp_val_free(v);
                return rc;
            }
        }
        break;
    default:
        goto bad;
    }
    if (!v)
        return -ENOMEM;
    *out = v;
    return 0;
bad:
    r->bad = 1;
    return DLP_EPROTO;
}

int dlp__val_get(dlp__rd *r, dlp_val **out)
{
    return get_at(r, out, 1);
}
