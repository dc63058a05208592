/*
 * val.c - structured values (dlpool/val.h), their wire form, and a
 * task's argument list decoded (dlp__args_decode).
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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sig.h"
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
static int grow_items(dlp_val *c)
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

static int is_container(const dlp_val *v)
{
    return v && (v->kind == DLP_V_LIST || v->kind == DLP_V_MAP);
}

/*
 * Walking a tree without recursion, whatever its depth (a value built in
 * memory has no depth limit): a stack of frames, DLP_VAL_MAX_DEPTH of
 * them in place, so that only a value deeper than the wire allows can
 * make a walk allocate.
 */
typedef struct frame {
    const dlp_val *a, *b; /* the container(s) walked */
    dlp_val *c;           /* a copy being made */
    size_t i;             /* the next item */
} frame;

typedef struct walk {
    frame *f;
    size_t n, cap;
    frame inl[DLP_VAL_MAX_DEPTH];
} walk;

static void walk_init(walk *w)
{
    w->f = w->inl;
    w->n = 0;
    w->cap = DLP_VAL_MAX_DEPTH;
}

static void walk_done(walk *w)
{
    if (w->f != w->inl)
        free(w->f);
}

/* A new frame on top, zeroed; NULL when out of memory. */
static frame *walk_push(walk *w)
{
    if (w->n == w->cap) {
        size_t cap = 2 * w->cap;
        frame *f = w->f == w->inl ? malloc(cap * sizeof *f)
                                  : realloc(w->f, cap * sizeof *f);
        if (!f)
            return NULL;
        if (w->f == w->inl)
            memcpy(f, w->inl, sizeof w->inl);
        w->f = f;
        w->cap = cap;
    }
    memset(&w->f[w->n], 0, sizeof w->f[w->n]);
    return &w->f[w->n++];
}

/* Is container c item itself, or in it?  1, 0, or -ENOMEM. */
static int holds(const dlp_val *item, const dlp_val *c)
{
    walk w;
    frame *f;
    int found = 0;
    if (item == c)
        return 1;
    if (!is_container(item) || item->v.c.len == 0)
        return 0;
    walk_init(&w);
    f = walk_push(&w);
    f->a = item;
    while (w.n && !found) {
        const dlp_val *v;
        f = &w.f[w.n - 1];
        if (f->i == f->a->v.c.len) {
            w.n--;
            continue;
        }
        v = f->a->v.c.items[f->i++];
        if (v == c) {
            found = 1;
        } else if (is_container(v) && v->v.c.len) {
            if (!(f = walk_push(&w))) {
                found = -ENOMEM;
                break;
            }
            f->a = v;
        }
    }
    walk_done(&w);
    return found;
}

/* May container c take item?  0, DLP_EINVAL when item is c or holds it
 * (a cycle: no free could end, and freeing item would free c), or
 * -ENOMEM when looking needed memory it could not have. */
static int may_hold(const dlp_val *c, const dlp_val *item)
{
    int rc = holds(item, c);
    return rc == 1 ? DLP_EINVAL : rc;
}

/* Append item to a list, unchecked (a copy, the decoder).  Takes item. */
static int list_add(dlp_val *list, dlp_val *item)
{
    int rc;
    if ((rc = grow_items(list))) {
        dlp_val_free(item);
        return rc;
    }
    list->v.c.items[list->v.c.len++] = item;
    return 0;
}

DLP_API int dlp_val_push(dlp_val *list, dlp_val *item)
{
    int rc;
    if (!list || list->kind != DLP_V_LIST || !item) {
        dlp_val_free(item);
        return DLP_EINVAL;
    }
    if ((rc = may_hold(list, item)))
        return rc; /* item stays the caller's: it may hold list */
    return list_add(list, item);
}

/* Append key and item to a map without looking for the key (the decoder
 * and dlp_val_set use it).  Takes item, and key (malloc'd). */
static int map_add(dlp_val *map, char *key, dlp_val *item)
{
    int rc;
    if ((rc = grow_items(map))) {
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
    int rc;
    if (!map || map->kind != DLP_V_MAP || !key || !item) {
        dlp_val_free(item);
        return DLP_EINVAL;
    }
    if ((rc = may_hold(map, item)))
        return rc; /* item stays the caller's: it may hold map */
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

/* Free a node that holds no other node. */
static void free_leaf(dlp_val *v)
{
    if (v->kind == DLP_V_STR || v->kind == DLP_V_BYTES)
        free(v->v.s.ptr);
    free(v);
}

/*
 * Without recursion, so that no depth can overflow the stack (a value
 * built in memory has no depth limit: a list pushed into the deepest list
 * of another is not seen by the push), and without memory, which free
 * cannot ask for: the containers being emptied form a stack linked
 * through their cap field, which they no longer need.  Each round takes
 * the last item of the top container; a container with none left is
 * freed and popped.
 */
DLP_API void dlp_val_free(dlp_val *v)
{
    dlp_val *top = NULL;
    while (v || top) {
        if (v) {
            if (!is_container(v)) {
                free_leaf(v);
            } else {
                v->v.c.cap = (size_t)(uintptr_t)top;
                top = v;
            }
            v = NULL;
            continue;
        }
        if (top->v.c.len) {
            size_t i = --top->v.c.len;
            v = top->v.c.items[i];
            if (top->v.c.keys)
                free(top->v.c.keys[i]);
        } else {
            dlp_val *up = (dlp_val *)(uintptr_t)top->v.c.cap;
            free(top->v.c.items);
            free(top->v.c.keys);
            free(top);
            top = up;
        }
    }
}

/* A copy of a node, without the items of a container. */
static dlp_val *copy_node(const dlp_val *v)
{
    dlp_val *c;
    if (v->kind == DLP_V_STR || v->kind == DLP_V_BYTES)
        return text(v->kind, v->v.s.ptr, v->v.s.len);
    if (!(c = node(v->kind)))
        return NULL;
    if (!is_container(v))
        c->v = v->v;
    return c;
}

/* Without recursion (see walk): each frame copies the items of one
 * container into its copy. */
DLP_API dlp_val *dlp_val_copy(const dlp_val *v)
{
    dlp_val *root;
    walk w;
    frame *f;
    if (!v || !(root = copy_node(v)))
        return NULL;
    if (!is_container(v))
        return root;
    walk_init(&w);
    f = walk_push(&w);
    f->a = v;
    f->c = root;
    while (w.n) {
        const dlp_val *item;
        dlp_val *c, *to;
        int rc;
        f = &w.f[w.n - 1];
        if (f->i == f->a->v.c.len) {
            w.n--;
            continue;
        }
        item = f->a->v.c.items[f->i];
        to = f->c;
        if (!(c = copy_node(item)))
            goto fail;
        if (to->kind == DLP_V_LIST) {
            rc = list_add(to, c);
        } else {
            char *k = strdup(f->a->v.c.keys[f->i]);
            if (!k) {
                dlp_val_free(c);
                goto fail;
            }
            rc = map_add(to, k, c);
        }
        f->i++;
        if (rc)
            goto fail;
        if (is_container(item) && item->v.c.len) {
            if (!(f = walk_push(&w)))
                goto fail;
            f->a = item;
            f->c = c;
        }
    }
    walk_done(&w);
    return root;
fail:
    walk_done(&w);
    dlp_val_free(root);
    return NULL;
}

/* Equal as nodes: same kind and contents, a container's length only. */
static bool node_equal(const dlp_val *a, const dlp_val *b)
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
        return a->v.c.len == b->v.c.len;
    }
    return false;
}

/* Without recursion (see walk). */
DLP_API bool dlp_val_equal(const dlp_val *a, const dlp_val *b)
{
    walk w;
    frame *f;
    bool eq = true;
    if (!node_equal(a, b))
        return false;
    if (!is_container(a) || a->v.c.len == 0)
        return true;
    walk_init(&w);
    f = walk_push(&w);
    f->a = a;
    f->b = b;
    while (w.n && eq) {
        const dlp_val *x, *y;
        f = &w.f[w.n - 1];
        if (f->i == f->a->v.c.len) {
            w.n--;
            continue;
        }
        if (f->a->kind == DLP_V_MAP &&
            strcmp(f->a->v.c.keys[f->i], f->b->v.c.keys[f->i]) != 0) {
            eq = false;
            break;
        }
        x = f->a->v.c.items[f->i];
        y = f->b->v.c.items[f->i];
        f->i++;
        if (!node_equal(x, y)) {
            eq = false;
        } else if (is_container(x) && x->v.c.len) {
            if (!(f = walk_push(&w))) {
                eq = false; /* out of memory: cannot say equal */
                break;
            }
            f->a = x;
            f->b = y;
        }
    }
    walk_done(&w);
    return eq;
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
                                : list_add(v, item);
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

/* ---- argument lists -------------------------------------------- */

void dlp__argmem_release(dlp__argmem *m)
{
    for (unsigned i = 0; i < m->n; i++) {
        if (m->val[i])
            dlp_val_free(m->p[i]);
        else
            free(m->p[i]);
    }
    m->n = 0;
}

int dlp__args_decode(dlp__rd *r, const dlp_sig *sig, dlp__slot *slots,
                     dlp__argmem *mem)
{
    unsigned k = 0;
    mem->n = 0;
    for (unsigned i = 0; i < sig->nargs; i++) {
        dlp_type t = sig->args[i];
        if (t == DLP_T_VAL) {
            dlp_val *v;
            int rc = dlp__val_get(r, &v);
            if (rc) {
                dlp__argmem_release(mem);
                return rc;
            }
            mem->p[mem->n] = v;
            mem->val[mem->n++] = 1;
            slots[k++].ptr = v;
        } else if (t == DLP_T_BYTES || DLP_T_IS_ARRAY(t)) {
            if (dlp__arg_decode(r, t, &slots[k], &slots[k + 1]))
                goto bad;
            if (DLP_T_IS_ARRAY(t)) {
                size_t esz = dlp__type_size(DLP_T_ELEM(t));
                if ((uintptr_t)slots[k].ptr % esz) {
                    /* Not where the sender meant it to be: copy it to an
                     * aligned place rather than hand C a bad pointer. */
                    void *copy = malloc(slots[k + 1].size * esz + 1);
                    if (!copy) {
                        dlp__argmem_release(mem);
                        return -ENOMEM;
                    }
                    memcpy(copy, slots[k].ptr, slots[k + 1].size * esz);
                    mem->p[mem->n] = copy;
                    mem->val[mem->n++] = 0;
                    slots[k].ptr = copy;
                }
            }
            k += 2;
        } else {
            if (dlp__arg_decode(r, t, &slots[k], NULL))
                goto bad;
            k++;
        }
    }
    if (r->p != r->end) {
        r->bad = 1; /* trailing bytes: the frame is corrupt */
        goto bad;
    }
    return 0;
bad:
    dlp__argmem_release(mem);
    return DLP_EPROTO;
}
