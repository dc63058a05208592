/*
 * check_val.c - structured values: constructors, accessors, ownership,
 * copy and equality, and the wire form, whose decoder reads what another
 * process sent and so is fed truncated, oversized and hostile input.
 *
 * Ownership is proved by running this suite under valgrind with CK_FORK=no:
 * every test frees what it made, so any leak is a bug in val.c (an item not
 * freed when a push fails, a half-decoded tree left behind).
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "val.h"

/* The tags of the wire form (framework/val.c), written out here so that a
 * change of the form shows up as a failing test. */
enum {
    T_NULL = 0,
    T_FALSE,
    T_TRUE,
    T_INT,
    T_UINT,
    T_FLOAT,
    T_STR,
    T_BYTES,
    T_LIST,
    T_MAP
};

/* ---- fixtures ---------------------------------------------------------- */

/* A small deterministic generator, so a failure can be replayed. */
static uint64_t rng_state;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* A value that must have been made (constructors return NULL only when
 * memory runs out). */
static dlp_val *made(dlp_val *v, const char *what)
{
    ck_assert_msg(v != NULL, "%s: expected a new value, got NULL", what);
    return v;
}

static void push_ok(dlp_val *list, dlp_val *item)
{
    int rc = dlp_val_push(list, item);
    ck_assert_msg(rc == 0, "dlp_val_push: expected 0, got %d (%s)", rc,
                  dlp_strerror(rc));
}

static void set_ok(dlp_val *map, const char *key, dlp_val *item)
{
    int rc = dlp_val_set(map, key, item);
    ck_assert_msg(rc == 0, "dlp_val_set '%s': expected 0, got %d (%s)", key,
                  rc, dlp_strerror(rc));
}

/* Lists nested n deep: [[...[]...]], n lists in all (n >= 1). */
static dlp_val *nest(unsigned n)
{
    dlp_val *v = made(dlp_val_list(), "the innermost list");
    for (unsigned i = 1; i < n; i++) {
        dlp_val *outer = made(dlp_val_list(), "a list");
        push_ok(outer, v);
        v = outer;
    }
    return v;
}

/* Every kind, nested in lists and maps, with the values at the edges of
 * their ranges: what a round trip must carry unchanged. */
static dlp_val *mixed_tree(void)
{
    dlp_val *root = made(dlp_val_map(), "root map");
    dlp_val *nums = made(dlp_val_list(), "numbers");
    dlp_val *texts = made(dlp_val_list(), "texts");
    dlp_val *inner = made(dlp_val_map(), "inner map");
    dlp_val *many = made(dlp_val_list(), "long list");
    char *big = malloc(100000);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < 100000; i++)
        big[i] = (char)(i * 31 + 7); /* NULs and high bytes included */

    push_ok(nums, dlp_val_int(0));
    push_ok(nums, dlp_val_int(-1));
    push_ok(nums, dlp_val_int(INT64_MIN));
    push_ok(nums, dlp_val_int(INT64_MAX));
    push_ok(nums, dlp_val_uint((uint64_t)INT64_MAX + 1));
    push_ok(nums, dlp_val_uint(UINT64_MAX));
    push_ok(nums, dlp_val_float(0.0));
    push_ok(nums, dlp_val_float(-0.0));
    push_ok(nums, dlp_val_float(NAN));
    push_ok(nums, dlp_val_float(-INFINITY));
    push_ok(nums, dlp_val_float(5e-324));
    push_ok(nums, dlp_val_float(1.5));

    push_ok(texts, dlp_val_cstr(""));
    push_ok(texts, dlp_val_cstr("héllo, wörld"));
    push_ok(texts, dlp_val_str("a\0b", 3));
    push_ok(texts, dlp_val_str(big, 100000));
    push_ok(texts, dlp_val_bytes("", 0));
    push_ok(texts, dlp_val_bytes("\0\xff\x80", 3));
    push_ok(texts, dlp_val_bytes(big, 100000));

    set_ok(inner, "", dlp_val_null()); /* an empty key is a key */
    set_ok(inner, "t", dlp_val_bool(true));
    set_ok(inner, "f", dlp_val_bool(false));
    set_ok(inner, "empty list", dlp_val_list());
    set_ok(inner, "empty map", dlp_val_map());
    set_ok(inner, "deep", nest(10));

    for (int i = 0; i < 1000; i++)
        push_ok(many, i % 3 ? dlp_val_int(i) : dlp_val_null());

    set_ok(root, "numbers", nums);
    set_ok(root, "texts", texts);
    set_ok(root, "inner", inner);
    set_ok(root, "many", many);
    set_ok(root, "null", dlp_val_null());
    free(big);
    return root;
}

/* A heap copy of exactly n bytes: a read past it shows under valgrind and
 * AddressSanitizer. */
static unsigned char *exact_copy(const void *p, size_t n)
{
    unsigned char *c = malloc(n ? n : 1);
    if (!c)
        ck_abort_msg("out of memory copying %zu bytes", n);
    if (n)
        memcpy(c, p, n);
    return c;
}

/* Encode v, which must succeed. */
static void encode(dlp__buf *b, const dlp_val *v)
{
    int rc = dlp__val_put(b, v);
    ck_assert_msg(rc == 0, "dlp__val_put: expected 0, got %d (%s)", rc,
                  dlp_strerror(rc));
}

/* Decode one value from exactly the n bytes at p (an exact heap copy).
 * Returns the code; *used is what it consumed.  On failure it checks what
 * every failure must leave: no value, a bad reader inside its buffer.
 * (Called in long loops: it asserts only when something is wrong, as each
 * Check assertion costs a message to the parent process.) */
static int decode(const void *p, size_t n, dlp_val **out, size_t *used)
{
    unsigned char *c = exact_copy(p, n);
    dlp__rd r;
    int rc;
    *out = (dlp_val *)(uintptr_t)1; /* must be overwritten */
    dlp__rd_init(&r, c, n);
    rc = dlp__val_get(&r, out);
    if (r.p < c || r.p > c + n || r.end != c + n)
        ck_abort_msg("dlp__val_get moved the reader out of its %zu bytes", n);
    if (rc && *out != NULL)
        ck_abort_msg("a failed decode (%d) must leave *out NULL, got %p", rc,
                     (void *)*out);
    if (rc && !r.bad)
        ck_abort_msg("a failed decode (%d) must mark the reader bad", rc);
    if (!rc && (r.bad || *out == NULL))
        ck_abort_msg("a successful decode left the reader bad (%d) or no "
                     "value (%p)",
                     r.bad, (void *)*out);
    if (used)
        *used = (size_t)(r.p - c);
    free(c);
    return rc;
}

/* Decode bytes that must be refused with DLP_EPROTO. */
static void decode_refused(const void *p, size_t n, const char *what)
{
    dlp_val *v;
    int rc = decode(p, n, &v, NULL);
    ck_assert_msg(rc == DLP_EPROTO,
                  "%s: expected DLP_EPROTO (%d), got %d (%s)", what,
                  DLP_EPROTO, rc, dlp_strerror(rc));
}

/* Decode bytes that must give one value, all of them consumed. */
static dlp_val *decode_ok(const void *p, size_t n, const char *what)
{
    dlp_val *v;
    size_t used;
    int rc = decode(p, n, &v, &used);
    ck_assert_msg(rc == 0, "%s: expected a value, got %d (%s)", what, rc,
                  dlp_strerror(rc));
    ck_assert_msg(used == n, "%s: expected all %zu bytes consumed, got %zu",
                  what, n, used);
    return v;
}

/* Raw little pieces of an encoding, in host order as the wire is. */
static void raw(dlp__buf *b, const void *p, size_t n)
{
    int rc = dlp__buf_put(b, p, n);
    ck_assert_msg(rc == 0, "dlp__buf_put: %d (%s)", rc, dlp_strerror(rc));
}

static void raw_u8(dlp__buf *b, uint8_t v)
{
    raw(b, &v, 1);
}

static void raw_u32(dlp__buf *b, uint32_t v)
{
    raw(b, &v, 4);
}

static void raw_u64(dlp__buf *b, uint64_t v)
{
    raw(b, &v, 8);
}

static uint64_t bits(double d)
{
    uint64_t w;
    memcpy(&w, &d, 8);
    return w;
}

/* ---- core: constructors and accessors ---------------------------------- */

START_TEST(test_scalars)
{
    dlp_val *v;

    v = made(dlp_val_null(), "null");
    ck_assert_int_eq(v->kind, DLP_V_NULL);
    dlp_val_free(v);

    v = made(dlp_val_bool(true), "true");
    ck_assert_int_eq(v->kind, DLP_V_BOOL);
    ck_assert(v->v.b == true);
    dlp_val_free(v);
    v = made(dlp_val_bool(false), "false");
    ck_assert_int_eq(v->kind, DLP_V_BOOL);
    ck_assert(v->v.b == false);
    dlp_val_free(v);

    v = made(dlp_val_int(INT64_MIN), "int min");
    ck_assert_int_eq(v->kind, DLP_V_INT);
    ck_assert_int_eq(v->v.i, INT64_MIN);
    dlp_val_free(v);
    v = made(dlp_val_int(-7), "int -7");
    ck_assert_int_eq(v->v.i, -7);
    dlp_val_free(v);

    v = made(dlp_val_float(-2.25), "float");
    ck_assert_int_eq(v->kind, DLP_V_FLOAT);
    ck_assert_double_eq(v->v.f, -2.25);
    dlp_val_free(v);
    v = made(dlp_val_float(NAN), "NaN");
    ck_assert_int_eq(v->kind, DLP_V_FLOAT);
    ck_assert_msg(isnan(v->v.f), "expected NaN to be kept, got %g", v->v.f);
    dlp_val_free(v);

    /* Accessors of containers on scalars answer "nothing". */
    v = made(dlp_val_int(3), "int 3");
    ck_assert_uint_eq(dlp_val_len(v), 0);
    ck_assert_ptr_null(dlp_val_at(v, 0));
    ck_assert_ptr_null(dlp_val_key(v, 0));
    ck_assert_ptr_null(dlp_val_get(v, "x"));
    dlp_val_free(v);
}
END_TEST

START_TEST(test_uint_normalised)
{
    /* An integer has one representation: INT whenever it fits in
     * int64_t, so dlp_val_uint gives INT up to INT64_MAX. */
    static const uint64_t as_int[] = {0, 1, 42, (uint64_t)INT64_MAX - 1,
                                      (uint64_t)INT64_MAX};
    static const uint64_t as_uint[] = {(uint64_t)INT64_MAX + 1,
                                       (uint64_t)INT64_MAX + 2, UINT64_MAX};
    for (size_t i = 0; i < sizeof as_int / sizeof as_int[0]; i++) {
        dlp_val *v = made(dlp_val_uint(as_int[i]), "uint");
        ck_assert_msg(v->kind == DLP_V_INT,
                      "dlp_val_uint(%llu): expected kind int, got %s",
                      (unsigned long long)as_int[i],
                      dlp_val_kind_name(v->kind));
        ck_assert_int_eq(v->v.i, (int64_t)as_int[i]);
        dlp_val_free(v);
    }
    for (size_t i = 0; i < sizeof as_uint / sizeof as_uint[0]; i++) {
        dlp_val *v = made(dlp_val_uint(as_uint[i]), "uint");
        ck_assert_msg(v->kind == DLP_V_UINT,
                      "dlp_val_uint(%llu): expected kind uint, got %s",
                      (unsigned long long)as_uint[i],
                      dlp_val_kind_name(v->kind));
        ck_assert_uint_eq(v->v.u, as_uint[i]);
        dlp_val_free(v);
    }
}
END_TEST

START_TEST(test_strings)
{
    char src[] = "a\0bc";
    dlp_val *v;

    /* str keeps every byte, NUL included, and adds a terminating NUL. */
    v = made(dlp_val_str(src, 4), "str with a NUL");
    ck_assert_int_eq(v->kind, DLP_V_STR);
    ck_assert_uint_eq(v->v.s.len, 4);
    ck_assert_int_eq(memcmp(v->v.s.ptr, "a\0bc", 5), 0);
    /* It is a copy: changing the source changes nothing. */
    ck_assert_ptr_ne(v->v.s.ptr, src);
    src[0] = 'z';
    ck_assert_int_eq(v->v.s.ptr[0], 'a');
    dlp_val_free(v);

    v = made(dlp_val_cstr("hello"), "cstr");
    ck_assert_int_eq(v->kind, DLP_V_STR);
    ck_assert_uint_eq(v->v.s.len, 5);
    ck_assert_str_eq(v->v.s.ptr, "hello");
    dlp_val_free(v);

    v = made(dlp_val_bytes("\xff\0\x01", 3), "bytes");
    ck_assert_int_eq(v->kind, DLP_V_BYTES);
    ck_assert_uint_eq(v->v.s.len, 3);
    ck_assert_int_eq(memcmp(v->v.s.ptr, "\xff\0\x01", 4), 0);
    dlp_val_free(v);

    /* No source is fine for no bytes; the text is "" either way. */
    v = made(dlp_val_str(NULL, 0), "str(NULL, 0)");
    ck_assert_uint_eq(v->v.s.len, 0);
    ck_assert_str_eq(v->v.s.ptr, "");
    dlp_val_free(v);
    v = made(dlp_val_bytes(NULL, 0), "bytes(NULL, 0)");
    ck_assert_int_eq(v->kind, DLP_V_BYTES);
    ck_assert_ptr_nonnull(v->v.s.ptr);
    ck_assert_int_eq(v->v.s.ptr[0], 0);
    dlp_val_free(v);

    /* No source for some bytes, or none at all, is no value. */
    ck_assert_ptr_null(dlp_val_str(NULL, 1));
    ck_assert_ptr_null(dlp_val_bytes(NULL, 2));
    ck_assert_ptr_null(dlp_val_cstr(NULL));
    /* A length that cannot be allocated with its NUL. */
    ck_assert_ptr_null(dlp_val_str("x", SIZE_MAX));
}
END_TEST

START_TEST(test_list)
{
    dlp_val *l = made(dlp_val_list(), "list");
    ck_assert_int_eq(l->kind, DLP_V_LIST);
    ck_assert_uint_eq(dlp_val_len(l), 0);
    ck_assert_ptr_null(dlp_val_at(l, 0));
    /* Enough items to grow the list several times. */
    for (int64_t i = 0; i < 1000; i++)
        push_ok(l, dlp_val_int(i * 3));
    ck_assert_uint_eq(dlp_val_len(l), 1000);
    for (size_t i = 0; i < 1000; i++) {
        const dlp_val *it = dlp_val_at(l, i);
        ck_assert_ptr_nonnull(it);
        ck_assert_int_eq(it->kind, DLP_V_INT);
        ck_assert_int_eq(it->v.i, (int64_t)i * 3);
    }
    ck_assert_ptr_null(dlp_val_at(l, 1000));
    ck_assert_ptr_null(dlp_val_at(l, SIZE_MAX));
    /* A list has no keys. */
    ck_assert_ptr_null(dlp_val_key(l, 0));
    ck_assert_ptr_null(dlp_val_get(l, "0"));
    ck_assert_ptr_null(l->v.c.keys);
    dlp_val_free(l);
}
END_TEST

START_TEST(test_map)
{
    dlp_val *m = made(dlp_val_map(), "map");
    char key[16];
    ck_assert_int_eq(m->kind, DLP_V_MAP);
    ck_assert_uint_eq(dlp_val_len(m), 0);
    ck_assert_ptr_null(dlp_val_get(m, "a"));

    set_ok(m, "zeta", dlp_val_int(1));
    set_ok(m, "alpha", dlp_val_int(2));
    set_ok(m, "", dlp_val_cstr("empty key"));
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "k%d", i);
        set_ok(m, key, dlp_val_int(100 + i));
    }
    ck_assert_uint_eq(dlp_val_len(m), 53);
    /* Keys stay in insertion order, not sorted. */
    ck_assert_str_eq(dlp_val_key(m, 0), "zeta");
    ck_assert_str_eq(dlp_val_key(m, 1), "alpha");
    ck_assert_str_eq(dlp_val_key(m, 2), "");
    ck_assert_str_eq(dlp_val_key(m, 52), "k49");
    ck_assert_ptr_null(dlp_val_key(m, 53));
    ck_assert_int_eq(dlp_val_get(m, "alpha")->v.i, 2);
    ck_assert_str_eq(dlp_val_get(m, "")->v.s.ptr, "empty key");
    ck_assert_int_eq(dlp_val_get(m, "k17")->v.i, 117);
    ck_assert_ptr_null(dlp_val_get(m, "k50"));
    ck_assert_ptr_null(dlp_val_get(m, "ALPHA"));
    ck_assert_ptr_null(dlp_val_get(m, NULL));
    /* dlp_val_at reads a map's items by position. */
    ck_assert_int_eq(dlp_val_at(m, 1)->v.i, 2);

    /* The key is copied. */
    snprintf(key, sizeof key, "copied");
    set_ok(m, key, dlp_val_null());
    key[0] = 'X';
    ck_assert_ptr_nonnull(dlp_val_get(m, "copied"));
    ck_assert_ptr_null(dlp_val_get(m, key));
    dlp_val_free(m);
}
END_TEST

START_TEST(test_set_replaces)
{
    /* Setting a key again replaces its value in place (the old one is
     * freed: valgrind shows it otherwise) and keeps the key's position. */
    dlp_val *m = made(dlp_val_map(), "map");
    set_ok(m, "a", dlp_val_int(1));
    set_ok(m, "b", dlp_val_cstr("old value, freed on replace"));
    set_ok(m, "c", dlp_val_int(3));
    set_ok(m, "b", nest(5));
    ck_assert_uint_eq(dlp_val_len(m), 3);
    ck_assert_str_eq(dlp_val_key(m, 0), "a");
    ck_assert_str_eq(dlp_val_key(m, 1), "b");
    ck_assert_str_eq(dlp_val_key(m, 2), "c");
    ck_assert_int_eq(dlp_val_get(m, "b")->kind, DLP_V_LIST);
    set_ok(m, "b", dlp_val_bool(false));
    ck_assert_int_eq(dlp_val_get(m, "b")->kind, DLP_V_BOOL);
    ck_assert_uint_eq(dlp_val_len(m), 3);
    dlp_val_free(m);
}
END_TEST

START_TEST(test_as_number)
{
    dlp_val *v;
    dlp_val hand;
    int64_t i = 0;
    double d = 0;

    v = made(dlp_val_int(-5), "int");
    ck_assert(dlp_val_as_int(v, &i));
    ck_assert_int_eq(i, -5);
    ck_assert(dlp_val_as_double(v, &d));
    ck_assert_double_eq(d, -5.0);
    dlp_val_free(v);

    v = made(dlp_val_uint(UINT64_MAX), "uint");
    i = 99;
    ck_assert_msg(!dlp_val_as_int(v, &i),
                  "UINT64_MAX as int64_t: expected false");
    ck_assert_int_eq(i, 99); /* untouched */
    ck_assert(dlp_val_as_double(v, &d));
    ck_assert_double_eq(d, 18446744073709551615.0);
    dlp_val_free(v);

    /* A UINT node built by hand with a small value still reads as an
     * int: the layout is public, so such nodes can exist. */
    memset(&hand, 0, sizeof hand);
    hand.kind = DLP_V_UINT;
    hand.v.u = 12;
    ck_assert(dlp_val_as_int(&hand, &i));
    ck_assert_int_eq(i, 12);

    v = made(dlp_val_float(2.5), "float");
    ck_assert_msg(!dlp_val_as_int(v, &i), "a float as int64_t: expected "
                                          "false");
    ck_assert(dlp_val_as_double(v, &d));
    ck_assert_double_eq(d, 2.5);
    dlp_val_free(v);

    v = made(dlp_val_cstr("12"), "str");
    ck_assert(!dlp_val_as_int(v, &i));
    ck_assert(!dlp_val_as_double(v, &d));
    dlp_val_free(v);
    v = made(dlp_val_bool(true), "bool");
    ck_assert(!dlp_val_as_int(v, &i));
    ck_assert(!dlp_val_as_double(v, &d));
    dlp_val_free(v);
    ck_assert(!dlp_val_as_int(NULL, &i));
    ck_assert(!dlp_val_as_double(NULL, &d));
}
END_TEST

START_TEST(test_null_accessors)
{
    ck_assert_uint_eq(dlp_val_len(NULL), 0);
    ck_assert_ptr_null(dlp_val_at(NULL, 0));
    ck_assert_ptr_null(dlp_val_key(NULL, 0));
    ck_assert_ptr_null(dlp_val_get(NULL, "a"));
    ck_assert_ptr_null(dlp_val_copy(NULL));
    dlp_val_free(NULL);
}
END_TEST

START_TEST(test_kind_names)
{
    static const char *const names[] = {"null", "bool", "int",
                                        "uint", "float", "str",
                                        "bytes", "list", "map"};
    for (int k = DLP_V_NULL; k <= DLP_V_MAP; k++)
        ck_assert_str_eq(dlp_val_kind_name((dlp_val_kind)k), names[k]);
    ck_assert_str_eq(dlp_val_kind_name((dlp_val_kind)(DLP_V_MAP + 1)), "?");
    ck_assert_str_eq(dlp_val_kind_name((dlp_val_kind)-1), "?");
}
END_TEST

/* ---- core: ownership on failure ---------------------------------------- */

START_TEST(test_push_takes_item_on_failure)
{
    /* The container takes the item even when it refuses it, so that
     * dlp_val_push(l, dlp_val_int(1)) never leaks: under valgrind every
     * refused item here would show as lost otherwise. */
    dlp_val *m = made(dlp_val_map(), "map");
    dlp_val *i = made(dlp_val_int(1), "int");
    int rc;

    rc = dlp_val_push(m, nest(3));
    ck_assert_msg(rc == DLP_EINVAL, "push onto a map: expected DLP_EINVAL "
                                    "(%d), got %d (%s)",
                  DLP_EINVAL, rc, dlp_strerror(rc));
    ck_assert_uint_eq(dlp_val_len(m), 0);
    rc = dlp_val_push(i, dlp_val_cstr("a string the int cannot hold"));
    ck_assert_int_eq(rc, DLP_EINVAL);
    rc = dlp_val_push(NULL, dlp_val_map());
    ck_assert_int_eq(rc, DLP_EINVAL);
    rc = dlp_val_push(NULL, NULL);
    ck_assert_int_eq(rc, DLP_EINVAL);
    /* A NULL item (a constructor that ran out of memory) is refused, and
     * the list stays as it was. */
    {
        dlp_val *l = made(dlp_val_list(), "list");
        push_ok(l, dlp_val_int(1));
        rc = dlp_val_push(l, NULL);
        ck_assert_int_eq(rc, DLP_EINVAL);
        ck_assert_uint_eq(dlp_val_len(l), 1);
        dlp_val_free(l);
    }
    dlp_val_free(i);
    dlp_val_free(m);
}
END_TEST

START_TEST(test_set_takes_item_on_failure)
{
    dlp_val *l = made(dlp_val_list(), "list");
    dlp_val *m = made(dlp_val_map(), "map");
    int rc;

    rc = dlp_val_set(l, "k", nest(4));
    ck_assert_msg(rc == DLP_EINVAL, "set on a list: expected DLP_EINVAL "
                                    "(%d), got %d (%s)",
                  DLP_EINVAL, rc, dlp_strerror(rc));
    ck_assert_uint_eq(dlp_val_len(l), 0);
    rc = dlp_val_set(m, NULL, dlp_val_cstr("no key for it"));
    ck_assert_int_eq(rc, DLP_EINVAL);
    ck_assert_uint_eq(dlp_val_len(m), 0);
    rc = dlp_val_set(NULL, "k", dlp_val_float(1));
    ck_assert_int_eq(rc, DLP_EINVAL);
    set_ok(m, "k", dlp_val_int(5));
    rc = dlp_val_set(m, "k", NULL);
    ck_assert_int_eq(rc, DLP_EINVAL);
    /* A refused set leaves the key's value alone. */
    ck_assert_uint_eq(dlp_val_len(m), 1);
    ck_assert_int_eq(dlp_val_get(m, "k")->v.i, 5);
    dlp_val_free(l);
    dlp_val_free(m);
}
END_TEST

/* ---- core: copy and equality -------------------------------------------- */

START_TEST(test_copy)
{
    dlp_val *t = mixed_tree();
    dlp_val *c = dlp_val_copy(t);
    const dlp_val *tn, *cn;
    ck_assert_ptr_nonnull(c);
    ck_assert_msg(dlp_val_equal(t, c), "expected a copy to equal its source");
    ck_assert_msg(dlp_val_equal(c, t), "expected equality to be symmetric");
    /* Deep: no node or buffer is shared. */
    ck_assert_ptr_ne(c, t);
    tn = dlp_val_get(t, "texts");
    cn = dlp_val_get(c, "texts");
    ck_assert_ptr_ne(tn, cn);
    ck_assert_ptr_ne(dlp_val_at(tn, 1)->v.s.ptr, dlp_val_at(cn, 1)->v.s.ptr);
    ck_assert_ptr_ne(dlp_val_key(t, 0), dlp_val_key(c, 0));
    /* Changing the copy leaves the source alone. */
    set_ok(c, "numbers", dlp_val_null());
    ck_assert(!dlp_val_equal(t, c));
    ck_assert_int_eq(dlp_val_get(t, "numbers")->kind, DLP_V_LIST);
    dlp_val_free(c);
    dlp_val_free(t);

    /* Scalars copy too. */
    t = made(dlp_val_float(NAN), "NaN");
    c = dlp_val_copy(t);
    ck_assert_ptr_nonnull(c);
    ck_assert(dlp_val_equal(t, c));
    dlp_val_free(c);
    dlp_val_free(t);
}
END_TEST

/* A refused cycle: DLP_EINVAL, and nothing freed (item is, or holds, the
 * container). */
static void expect_cycle(int rc, const char *what)
{
    ck_assert_msg(rc == DLP_EINVAL,
                  "%s: expected DLP_EINVAL (%d) for a cycle, got %d (%s)",
                  what, DLP_EINVAL, rc, dlp_strerror(rc));
}

START_TEST(test_cycles_refused)
{
    /* A value is a tree: a container pushed into itself, or into a
     * container inside it, would make one that no walk ends (free,
     * copy, the encoder).  Refused, and the item is not freed: it is the
     * container, or holds it.  Under valgrind or ASan anything freed
     * here would show. */
    dlp_val *l = made(dlp_val_list(), "list");
    dlp_val *m = made(dlp_val_map(), "map");
    dlp_val *child = made(dlp_val_list(), "child");
    dlp_val *grand = made(dlp_val_map(), "grandchild");
    dlp_val *deep = l;

    expect_cycle(dlp_val_push(l, l), "dlp_val_push(l, l)");
    ck_assert_uint_eq(dlp_val_len(l), 0);
    expect_cycle(dlp_val_set(m, "self", m), "dlp_val_set(m, \"self\", m)");
    ck_assert_uint_eq(dlp_val_len(m), 0);

    /* Into its own descendant: l holds child holds grand. */
    set_ok(grand, "x", dlp_val_int(1));
    push_ok(child, grand);
    push_ok(l, dlp_val_int(0));
    push_ok(l, child);
    expect_cycle(dlp_val_push(child, l), "a list pushed into its child");
    expect_cycle(dlp_val_set(grand, "up", l),
                 "a list set into its grandchild");
    ck_assert_uint_eq(dlp_val_len(child), 1);
    ck_assert_uint_eq(dlp_val_len(grand), 1);

    /* The same far down, past the depth the wire allows: the look for the
     * container does not recurse. */
    for (int i = 0; i < 10 * DLP_VAL_MAX_DEPTH; i++) {
        dlp_val *next = made(dlp_val_list(), "a list");
        push_ok(deep, next);
        deep = next;
    }
    expect_cycle(dlp_val_push(deep, l), "a list pushed 640 levels down");

    /* A map holding a list holding the map. */
    {
        dlp_val *inner = made(dlp_val_list(), "inner");
        set_ok(m, "list", inner);
        expect_cycle(dlp_val_push(inner, m), "a map pushed into its list");
    }

    /* Siblings and copies are no cycle. */
    push_ok(l, dlp_val_copy(child));
    push_ok(child, dlp_val_copy(l));
    dlp_val_free(l);
    dlp_val_free(m);
}
END_TEST

START_TEST(test_free_deep)
{
    /* A value built in memory has no depth limit (a list pushed into the
     * deepest list of another is not seen by the push), so free, copy
     * and equal may not recurse: 2,000,000 levels overflowed the stack.
     * (No ck_assert in the loops: each one is a write to Check's pipe.) */
    enum { DEEP = 2000000, COPY = 300000 };
    dlp_val *root = made(dlp_val_list(), "root"), *cur = root;
    int bad = 0;
    for (int i = 1; i < DEEP && !bad; i++) {
        dlp_val *next = dlp_val_list();
        bad = !next || dlp_val_push(cur, next);
        cur = next;
    }
    ck_assert_msg(!bad, "building %d levels: a list or a push failed", DEEP);
    push_ok(cur, dlp_val_cstr("at the bottom"));
    dlp_val_free(root);

    root = cur = made(dlp_val_map(), "root");
    for (int i = 1; i < COPY && !bad; i++) {
        dlp_val *next = i % 2 ? dlp_val_list() : dlp_val_map();
        bad = !next || (cur->kind == DLP_V_MAP ? dlp_val_set(cur, "k", next)
                                                : dlp_val_push(cur, next));
        cur = next;
    }
    ck_assert_msg(!bad, "building %d levels: a node or a push failed", COPY);
    push_ok(cur, dlp_val_int(7));
    {
        dlp_val *c = dlp_val_copy(root);
        ck_assert_msg(c != NULL, "copying %d levels: expected a copy, got "
                                 "NULL",
                      COPY);
        ck_assert_msg(dlp_val_equal(root, c), "a copy of %d levels: expected "
                                              "it equal to the original",
                      COPY);
        /* One change at the bottom is seen. */
        cur = c;
        while (dlp_val_len(cur))
            cur = (dlp_val *)dlp_val_at(cur, dlp_val_len(cur) - 1);
        cur->v.i = 8;
        ck_assert_msg(!dlp_val_equal(root, c), "a copy changed at level %d: "
                                               "expected it unequal",
                      COPY + 1);
        dlp_val_free(c);
    }
    dlp_val_free(root);
}
END_TEST

START_TEST(test_copy_any_depth)
{
    /* Only the wire limits depth: a value built in one process is copied
     * whatever its depth (dlp_val_copy returns NULL only when memory runs
     * out or v is NULL). */
    dlp_val *t = nest(DLP_VAL_MAX_DEPTH + 36);
    dlp_val *c = dlp_val_copy(t);
    ck_assert_msg(c != NULL, "copying lists nested %d deep: expected a "
                             "copy, got NULL",
                  DLP_VAL_MAX_DEPTH + 36);
    ck_assert(dlp_val_equal(t, c));
    dlp_val_free(c);
    dlp_val_free(t);
}
END_TEST

/* Two values made by two calls, which must compare as expected. */
static void expect_equal(dlp_val *a, dlp_val *b, bool want, const char *what)
{
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_msg(dlp_val_equal(a, b) == want,
                  "%s: expected dlp_val_equal to be %s", what,
                  want ? "true" : "false");
    ck_assert_msg(dlp_val_equal(b, a) == want,
                  "%s (swapped): expected dlp_val_equal to be %s", what,
                  want ? "true" : "false");
    dlp_val_free(a);
    dlp_val_free(b);
}

START_TEST(test_equal)
{
    dlp_val *a, *b;

    /* Floats compare by their bits: the same value came back. */
    expect_equal(dlp_val_float(NAN), dlp_val_float(NAN), true, "NaN, NaN");
    expect_equal(dlp_val_float(-0.0), dlp_val_float(0.0), false,
                 "-0.0, 0.0");
    expect_equal(dlp_val_float(0.1), dlp_val_float(0.1), true, "0.1, 0.1");
    expect_equal(dlp_val_float(1.0), dlp_val_int(1), false, "1.0, 1");
    expect_equal(dlp_val_int(1), dlp_val_uint(1), true,
                 "int 1, uint 1 (both INT)");
    expect_equal(dlp_val_int(-1), dlp_val_uint(UINT64_MAX), false,
                 "-1, UINT64_MAX");
    expect_equal(dlp_val_bool(true), dlp_val_bool(false), false,
                 "true, false");
    expect_equal(dlp_val_bool(false), dlp_val_int(0), false, "false, 0");
    expect_equal(dlp_val_null(), dlp_val_null(), true, "null, null");
    expect_equal(dlp_val_null(), dlp_val_list(), false, "null, []");
    expect_equal(dlp_val_cstr("ab"), dlp_val_bytes("ab", 2), false,
                 "str, bytes");
    expect_equal(dlp_val_str("ab\0", 3), dlp_val_cstr("ab"), false,
                 "a trailing NUL");
    expect_equal(dlp_val_str("a\0b", 3), dlp_val_str("a\0c", 3), false,
                 "after a NUL");
    expect_equal(dlp_val_list(), dlp_val_map(), false, "[], {}");

    /* Lists: same items in the same order. */
    a = made(dlp_val_list(), "a");
    b = made(dlp_val_list(), "b");
    push_ok(a, dlp_val_int(1));
    push_ok(b, dlp_val_int(1));
    push_ok(a, dlp_val_int(2));
    ck_assert(!dlp_val_equal(a, b)); /* a prefix */
    push_ok(b, dlp_val_int(2));
    expect_equal(a, b, true, "[1, 2], [1, 2]");

    /* Maps: the same keys in the same order. */
    a = made(dlp_val_map(), "a");
    b = made(dlp_val_map(), "b");
    set_ok(a, "x", dlp_val_int(1));
    set_ok(a, "y", dlp_val_int(2));
    set_ok(b, "y", dlp_val_int(2));
    set_ok(b, "x", dlp_val_int(1));
    expect_equal(a, b, false, "{x, y}, {y, x}");
    a = made(dlp_val_map(), "a");
    b = made(dlp_val_map(), "b");
    set_ok(a, "x", dlp_val_int(1));
    set_ok(b, "z", dlp_val_int(1));
    expect_equal(a, b, false, "{x: 1}, {z: 1}");

    /* NULL equals only NULL. */
    ck_assert(dlp_val_equal(NULL, NULL));
    a = made(dlp_val_null(), "null");
    ck_assert(!dlp_val_equal(a, NULL));
    ck_assert(!dlp_val_equal(NULL, a));
    dlp_val_free(a);

    /* A difference deep inside a tree. */
    a = mixed_tree();
    b = mixed_tree();
    ck_assert(dlp_val_equal(a, b));
    {
        dlp_val *inner = (dlp_val *)dlp_val_get(b, "inner");
        set_ok(inner, "t", dlp_val_bool(false));
    }
    expect_equal(a, b, false, "two trees, one bool apart");
}
END_TEST

/* ---- wire -------------------------------------------------------------- */

START_TEST(test_wire_layout)
{
    /* The exact bytes of a small value, kind by kind, as framework/val.c
     * documents them. */
    dlp_val *m = made(dlp_val_map(), "map");
    dlp_val *l = made(dlp_val_list(), "list");
    dlp__buf got = {0}, want = {0};

    push_ok(l, dlp_val_null());
    push_ok(l, dlp_val_bool(false));
    push_ok(l, dlp_val_bool(true));
    push_ok(l, dlp_val_int(-2));
    push_ok(l, dlp_val_uint(UINT64_MAX));
    push_ok(l, dlp_val_float(1.5));
    push_ok(l, dlp_val_cstr("ab"));
    push_ok(l, dlp_val_bytes("\0", 1));
    push_ok(l, dlp_val_list());
    set_ok(m, "k", l);
    set_ok(m, "", dlp_val_map());
    encode(&got, m);

    raw_u8(&want, T_MAP);
    raw_u32(&want, 2);
    raw_u32(&want, 1);
    raw(&want, "k", 1);
    raw_u8(&want, T_LIST);
    raw_u32(&want, 9);
    raw_u8(&want, T_NULL);
    raw_u8(&want, T_FALSE);
    raw_u8(&want, T_TRUE);
    raw_u8(&want, T_INT);
    raw_u64(&want, (uint64_t)(int64_t)-2);
    raw_u8(&want, T_UINT);
    raw_u64(&want, UINT64_MAX);
    raw_u8(&want, T_FLOAT);
    raw_u64(&want, bits(1.5));
    raw_u8(&want, T_STR);
    raw_u32(&want, 2);
    raw(&want, "ab", 2);
    raw_u8(&want, T_BYTES);
    raw_u32(&want, 1);
    raw(&want, "\0", 1);
    raw_u8(&want, T_LIST);
    raw_u32(&want, 0);
    raw_u32(&want, 0);
    raw_u8(&want, T_MAP);
    raw_u32(&want, 0);

    ck_assert_uint_eq(got.len, want.len);
    for (size_t i = 0; i < want.len; i++)
        ck_assert_msg(got.p[i] == want.p[i],
                      "byte %zu of the encoding: expected 0x%02x, got 0x%02x",
                      i, want.p[i], got.p[i]);

    /* A NULL value encodes as null. */
    got.len = 0;
    encode(&got, NULL);
    ck_assert_uint_eq(got.len, 1);
    ck_assert_uint_eq(got.p[0], T_NULL);

    dlp__buf_free(&got);
    dlp__buf_free(&want);
    dlp_val_free(m);
}
END_TEST

START_TEST(test_wire_round_trip)
{
    /* A big mixed tree comes back equal, after bytes already in the
     * buffer, and is consumed exactly. */
    dlp_val *t = mixed_tree(), *back;
    dlp__buf b = {0};
    size_t used;
    int rc;

    raw(&b, "prefix", 6);
    encode(&b, t);
    ck_assert_int_eq(memcmp(b.p, "prefix", 6), 0);
    rc = decode(b.p + 6, b.len - 6, &back, &used);
    ck_assert_msg(rc == 0, "decoding the tree: expected a value, got %d (%s)",
                  rc, dlp_strerror(rc));
    ck_assert_uint_eq(used, b.len - 6);
    ck_assert_msg(dlp_val_equal(t, back),
                  "expected the decoded tree to equal the one sent");
    /* NaN and -0.0 keep their bits. */
    {
        const dlp_val *nums = dlp_val_get(back, "numbers");
        ck_assert_uint_eq(bits(dlp_val_at(nums, 7)->v.f), bits(-0.0));
        ck_assert_msg(isnan(dlp_val_at(nums, 8)->v.f), "expected NaN back");
        ck_assert_int_eq(dlp_val_at(nums, 5)->kind, DLP_V_UINT);
        ck_assert_int_eq(dlp_val_at(nums, 3)->kind, DLP_V_INT);
    }
    /* Strings arrive NUL-terminated, embedded NULs kept. */
    {
        const dlp_val *s = dlp_val_at(dlp_val_get(back, "texts"), 2);
        ck_assert_uint_eq(s->v.s.len, 3);
        ck_assert_int_eq(memcmp(s->v.s.ptr, "a\0b", 4), 0);
    }

    /* Encoding the decoded tree gives the same bytes: one form per
     * value. */
    {
        dlp__buf again = {0};
        encode(&again, back);
        ck_assert_uint_eq(again.len, b.len - 6);
        ck_assert_int_eq(memcmp(again.p, b.p + 6, again.len), 0);
        dlp__buf_free(&again);
    }

    /* Values one after another decode one at a time. */
    {
        dlp_val *one = made(dlp_val_int(7), "int"), *x, *y;
        dlp__rd r;
        b.len = 0;
        encode(&b, one);
        encode(&b, t);
        dlp__rd_init(&r, b.p, b.len);
        ck_assert_int_eq(dlp__val_get(&r, &x), 0);
        ck_assert_int_eq(dlp__val_get(&r, &y), 0);
        ck_assert_ptr_eq(r.p, r.end);
        ck_assert(dlp_val_equal(x, one));
        ck_assert(dlp_val_equal(y, t));
        dlp_val_free(x);
        dlp_val_free(y);
        dlp_val_free(one);
    }
    dlp_val_free(back);
    dlp_val_free(t);
    dlp__buf_free(&b);
}
END_TEST

START_TEST(test_wire_hand_built)
{
    /* The layout is public, so a plugin may build nodes by hand.  A UINT
     * node holding a value that fits int64_t is sent in the one form the
     * decoder accepts (INT) rather than as a frame the other side
     * refuses. */
    dlp_val hand, *back;
    dlp__buf b = {0};
    memset(&hand, 0, sizeof hand);
    hand.kind = DLP_V_UINT;
    hand.v.u = 5;
    encode(&b, &hand);
    back = decode_ok(b.p, b.len, "a hand-built UINT 5");
    ck_assert_msg(back->kind == DLP_V_INT && back->v.i == 5,
                  "expected int 5 back, got %s",
                  dlp_val_kind_name(back->kind));
    dlp_val_free(back);

    /* A node of no known kind cannot be sent: refused, nothing
     * appended. */
    b.len = 0;
    raw(&b, "x", 1);
    hand.kind = (dlp_val_kind)42;
    {
        int rc = dlp__val_put(&b, &hand);
        ck_assert_msg(rc == DLP_EINVAL, "a node of kind 42: expected "
                                        "DLP_EINVAL (%d), got %d (%s)",
                      DLP_EINVAL, rc, dlp_strerror(rc));
        ck_assert_uint_eq(b.len, 1);
    }
    dlp__buf_free(&b);
}
END_TEST

/* ---- limits ------------------------------------------------------------ */

/* n lists, one inside the other, around inner (NULL: the innermost list is
 * empty), encoded by hand so that the decoder sees depths the encoder
 * refuses. */
static void raw_nest(dlp__buf *b, unsigned n, const dlp_val *inner)
{
    int rc = dlp__buf_reserve(b, (size_t)n * 5);
    ck_assert_msg(rc == 0, "dlp__buf_reserve: %d (%s)", rc, dlp_strerror(rc));
    for (unsigned i = 0; i < n; i++) {
        uint32_t count = i + 1 < n || inner ? 1 : 0;
        b->p[b->len] = T_LIST;
        memcpy(b->p + b->len + 1, &count, 4);
        b->len += 5;
    }
    if (inner)
        encode(b, inner);
}

START_TEST(test_depth_limit)
{
    /* A list directly in a list is depth 2; DLP_VAL_MAX_DEPTH levels
     * cross the wire, one more does not: DLP_ETOOBIG when sending (and
     * nothing is appended), DLP_EPROTO when receiving. */
    dlp_val *ok = nest(DLP_VAL_MAX_DEPTH), *over = nest(DLP_VAL_MAX_DEPTH + 1);
    dlp_val *back, *one = made(dlp_val_int(1), "int");
    dlp__buf b = {0};
    int rc;

    encode(&b, ok);
    back = decode_ok(b.p, b.len, "lists nested 64 deep");
    ck_assert(dlp_val_equal(ok, back));
    dlp_val_free(back);

    b.len = 0;
    raw(&b, "keep", 4);
    rc = dlp__val_put(&b, over);
    ck_assert_msg(rc == DLP_ETOOBIG, "encoding lists nested 65 deep: "
                                     "expected DLP_ETOOBIG (%d), got %d (%s)",
                  DLP_ETOOBIG, rc, dlp_strerror(rc));
    ck_assert_msg(b.len == 4, "a refused value must append nothing, the "
                              "buffer grew from 4 to %zu bytes",
                  b.len);

    b.len = 0;
    raw_nest(&b, DLP_VAL_MAX_DEPTH, NULL);
    back = decode_ok(b.p, b.len, "64 lists by hand");
    dlp_val_free(back);
    b.len = 0;
    raw_nest(&b, DLP_VAL_MAX_DEPTH + 1, NULL);
    decode_refused(b.p, b.len, "65 lists by hand");

    /* A scalar counts as a level as well: inside 63 lists it is at depth
     * 64, inside 64 it is at 65. */
    b.len = 0;
    raw_nest(&b, DLP_VAL_MAX_DEPTH - 1, one);
    back = decode_ok(b.p, b.len, "an int inside 63 lists");
    b.len = 0;
    encode(&b, back);
    dlp_val_free(back);
    b.len = 0;
    raw_nest(&b, DLP_VAL_MAX_DEPTH, one);
    decode_refused(b.p, b.len, "an int inside 64 lists");
    {
        /* The same through maps. */
        dlp_val *m = made(dlp_val_map(), "map");
        dlp_val *cur = m;
        for (int i = 1; i < DLP_VAL_MAX_DEPTH; i++) {
            dlp_val *next = made(dlp_val_map(), "map");
            set_ok(cur, "k", next);
            cur = next;
        }
        b.len = 0;
        encode(&b, m);
        back = decode_ok(b.p, b.len, "maps nested 64 deep");
        ck_assert(dlp_val_equal(m, back));
        dlp_val_free(back);
        set_ok(cur, "k", dlp_val_null());
        b.len = 0;
        rc = dlp__val_put(&b, m);
        ck_assert_int_eq(rc, DLP_ETOOBIG);
        ck_assert_uint_eq(b.len, 0);
        dlp_val_free(m);
    }

    /* Far deeper than the limit: refused at the limit, not by running out
     * of stack. */
    b.len = 0;
    raw_nest(&b, 200000, NULL);
    decode_refused(b.p, b.len, "200000 lists by hand");

    dlp_val_free(one);
    dlp_val_free(ok);
    dlp_val_free(over);
    dlp__buf_free(&b);
}
END_TEST

START_TEST(test_str_too_big)
{
    /* The size check comes before any byte is read, so a node that claims
     * more than a frame can carry is refused without a gigabyte of memory:
     * its pointer is never followed. */
    dlp_val hand, *l = made(dlp_val_list(), "list");
    dlp__buf b = {0};
    int rc;
    memset(&hand, 0, sizeof hand);
    hand.kind = DLP_V_BYTES;
    hand.v.s.ptr = (char *)"x";
    hand.v.s.len = DLP_FRAME_MAX + 1;
    rc = dlp__val_put(&b, &hand);
    ck_assert_msg(rc == DLP_ETOOBIG, "bytes of 1 GiB + 1: expected "
                                     "DLP_ETOOBIG (%d), got %d (%s)",
                  DLP_ETOOBIG, rc, dlp_strerror(rc));
    ck_assert_uint_eq(b.len, 0);

    /* Inside a list, after items already written: none of them stay. */
    push_ok(l, dlp_val_cstr("first"));
    push_ok(l, dlp_val_int(2));
    raw(&b, "ab", 2);
    {
        dlp_val *copy = made(dlp_val_null(), "slot");
        push_ok(l, copy);
        *copy = hand; /* the list frees it: give it a real buffer first */
        copy->v.s.ptr = malloc(1);
        ck_assert_ptr_nonnull(copy->v.s.ptr);
    }
    rc = dlp__val_put(&b, l);
    ck_assert_int_eq(rc, DLP_ETOOBIG);
    ck_assert_msg(b.len == 2, "expected the buffer back at 2 bytes, got %zu",
                  b.len);
    dlp_val_free(l);
    dlp__buf_free(&b);
}
END_TEST

START_TEST(test_counts_checked)
{
    /* A count larger than the bytes left is refused before anything is
     * allocated for it: every item takes a byte at least, every map
     * entry five. */
    dlp__buf b = {0};
    dlp_val *v;

    raw_u8(&b, T_LIST);
    raw_u32(&b, 3);
    raw_u8(&b, T_NULL);
    raw_u8(&b, T_NULL);
    decode_refused(b.p, b.len, "a list of 3 with 2 items");
    raw_u8(&b, T_NULL);
    v = decode_ok(b.p, b.len, "a list of 3 with 3 items");
    ck_assert_uint_eq(dlp_val_len(v), 3);
    dlp_val_free(v);

    b.len = 0;
    raw_u8(&b, T_LIST);
    raw_u32(&b, UINT32_MAX);
    for (int i = 0; i < 16; i++)
        raw_u8(&b, T_NULL);
    decode_refused(b.p, b.len, "a list of 4294967295 in 16 bytes");

    /* Enough bytes for the count, not for the items' contents. */
    b.len = 0;
    raw_u8(&b, T_LIST);
    raw_u32(&b, 2);
    raw_u8(&b, T_INT);
    raw_u64(&b, 1);
    raw_u8(&b, T_INT);
    decode_refused(b.p, b.len, "a list whose second int is cut");

    b.len = 0;
    raw_u8(&b, T_MAP);
    raw_u32(&b, 2);
    raw_u32(&b, 0);
    raw_u8(&b, T_NULL);
    raw_u32(&b, 0);
    decode_refused(b.p, b.len, "a map of 2 in 9 bytes");
    raw_u8(&b, T_NULL);
    /* Two empty keys decode: keys are not checked for repeats. */
    v = decode_ok(b.p, b.len, "a map of 2 entries with empty keys");
    ck_assert_uint_eq(dlp_val_len(v), 2);
    ck_assert_str_eq(dlp_val_key(v, 1), "");
    dlp_val_free(v);

    b.len = 0;
    raw_u8(&b, T_MAP);
    raw_u32(&b, UINT32_MAX / 5 + 1);
    for (int i = 0; i < 64; i++)
        raw_u8(&b, 0);
    decode_refused(b.p, b.len, "a map of 858993460 in 64 bytes");

    /* A str or key length past the end. */
    b.len = 0;
    raw_u8(&b, T_STR);
    raw_u32(&b, 4);
    raw(&b, "abc", 3);
    decode_refused(b.p, b.len, "a str of 4 with 3 bytes");
    b.len = 0;
    raw_u8(&b, T_BYTES);
    raw_u32(&b, UINT32_MAX);
    raw(&b, "abc", 3);
    decode_refused(b.p, b.len, "bytes of 4294967295 with 3 bytes");
    b.len = 0;
    raw_u8(&b, T_MAP);
    raw_u32(&b, 1);
    raw_u32(&b, 100);
    raw(&b, "abcdef", 6);
    decode_refused(b.p, b.len, "a key of 100 with 6 bytes");
    dlp__buf_free(&b);
}
END_TEST

/* ---- errors: hostile input --------------------------------------------- */

START_TEST(test_truncated_everywhere)
{
    /* Every proper prefix of a valid encoding is cut somewhere: refused
     * with DLP_EPROTO, with no read past the cut and (valgrind) no
     * half-built tree left behind. */
    dlp_val *t = made(dlp_val_map(), "tree");
    dlp__buf b = {0};
    {
        /* Smaller than mixed_tree, so that each of its prefixes is tried,
         * but with every kind and nesting. */
        dlp_val *l = made(dlp_val_list(), "list");
        dlp_val *m = made(dlp_val_map(), "map");
        push_ok(l, dlp_val_null());
        push_ok(l, dlp_val_bool(true));
        push_ok(l, dlp_val_bool(false));
        push_ok(l, dlp_val_int(-3));
        push_ok(l, dlp_val_uint(UINT64_MAX - 1));
        push_ok(l, dlp_val_float(0.5));
        push_ok(l, dlp_val_cstr("text"));
        push_ok(l, dlp_val_bytes("\0\1\2", 3));
        push_ok(l, nest(3));
        set_ok(m, "inner", dlp_val_cstr("x"));
        set_ok(m, "", dlp_val_list());
        push_ok(l, m);
        set_ok(t, "list", l);
        set_ok(t, "after", dlp_val_int(9));
    }
    encode(&b, t);
    for (size_t cut = 0; cut < b.len; cut++) {
        dlp_val *v;
        int rc = decode(b.p, cut, &v, NULL);
        if (rc != DLP_EPROTO)
            ck_abort_msg("prefix of %zu of %zu bytes: expected DLP_EPROTO "
                         "(%d), got %d (%s)",
                         cut, b.len, DLP_EPROTO, rc, dlp_strerror(rc));
    }
    dlp_val_free(decode_ok(b.p, b.len, "the whole encoding"));
    dlp_val_free(t);
    dlp__buf_free(&b);
}
END_TEST

START_TEST(test_uint_small_refused)
{
    /* A UINT that fits int64_t has another form (INT): a frame carrying it
     * is not one this library wrote. */
    static const uint64_t small[] = {0, 1, (uint64_t)INT64_MAX};
    dlp__buf b = {0};
    dlp_val *v;
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        char what[64];
        b.len = 0;
        raw_u8(&b, T_UINT);
        raw_u64(&b, small[i]);
        snprintf(what, sizeof what, "uint tag with %llu",
                 (unsigned long long)small[i]);
        decode_refused(b.p, b.len, what);
    }
    b.len = 0;
    raw_u8(&b, T_UINT);
    raw_u64(&b, (uint64_t)INT64_MAX + 1);
    v = decode_ok(b.p, b.len, "uint tag with 2^63");
    ck_assert_int_eq(v->kind, DLP_V_UINT);
    ck_assert_uint_eq(v->v.u, (uint64_t)INT64_MAX + 1);
    dlp_val_free(v);

    /* Inside a list, after an item that was already built. */
    b.len = 0;
    raw_u8(&b, T_LIST);
    raw_u32(&b, 2);
    raw_u8(&b, T_STR);
    raw_u32(&b, 3);
    raw(&b, "abc", 3);
    raw_u8(&b, T_UINT);
    raw_u64(&b, 5);
    decode_refused(b.p, b.len, "a small uint after a str in a list");
    dlp__buf_free(&b);
}
END_TEST

START_TEST(test_key_with_nul)
{
    /* Keys are C strings: one with a NUL inside could not be looked up or
     * sent back.  Values may hold NULs; keys may not. */
    dlp__buf b = {0};
    dlp_val *v;

    raw_u8(&b, T_MAP);
    raw_u32(&b, 2);
    raw_u32(&b, 1);
    raw(&b, "a", 1);
    raw_u8(&b, T_NULL);
    raw_u32(&b, 3);
    raw(&b, "a\0b", 3);
    raw_u8(&b, T_NULL);
    decode_refused(b.p, b.len, "a map whose second key has a NUL");

    b.len = 0;
    raw_u8(&b, T_MAP);
    raw_u32(&b, 1);
    raw_u32(&b, 1);
    raw(&b, "\0", 1);
    raw_u8(&b, T_NULL);
    decode_refused(b.p, b.len, "a key that is one NUL");

    b.len = 0;
    raw_u8(&b, T_MAP);
    raw_u32(&b, 1);
    raw_u32(&b, 3);
    raw(&b, "key", 3);
    raw_u8(&b, T_STR);
    raw_u32(&b, 3);
    raw(&b, "a\0b", 3);
    v = decode_ok(b.p, b.len, "a str value with a NUL");
    ck_assert_str_eq(dlp_val_key(v, 0), "key");
    ck_assert_uint_eq(dlp_val_at(v, 0)->v.s.len, 3);
    dlp_val_free(v);
    dlp__buf_free(&b);
}
END_TEST

START_TEST(test_unknown_tag)
{
    dlp__buf b = {0};
    for (unsigned tag = T_MAP + 1; tag < 256; tag++) {
        char what[64];
        b.len = 0;
        raw_u8(&b, (uint8_t)tag);
        for (int i = 0; i < 16; i++)
            raw_u8(&b, 0);
        snprintf(what, sizeof what, "tag %u", tag);
        decode_refused(b.p, b.len, what);
    }
    /* Deep in a tree, after allocations that must be undone. */
    b.len = 0;
    raw_u8(&b, T_MAP);
    raw_u32(&b, 2);
    raw_u32(&b, 1);
    raw(&b, "a", 1);
    raw_nest(&b, 3, NULL);
    raw_u32(&b, 1);
    raw(&b, "b", 1);
    raw_u8(&b, T_LIST);
    raw_u32(&b, 2);
    raw_u8(&b, T_TRUE);
    raw_u8(&b, 10);
    decode_refused(b.p, b.len, "tag 10 deep in a map");
    /* Nothing at all is no value. */
    decode_refused(b.p, 0, "no bytes");
    dlp__buf_free(&b);
}
END_TEST

START_TEST(test_garbage)
{
    /* Random changes to a valid encoding, and random bytes: each decode
     * either fails with DLP_EPROTO inside its buffer or gives a value
     * whose encoding is exactly the bytes it read (there is one form per
     * value), and nothing leaks either way. */
    dlp_val *t = made(dlp_val_list(), "tree");
    dlp__buf good = {0}, again = {0};
    unsigned long ok = 0, refused = 0;
    push_ok(t, dlp_val_cstr("abc"));
    push_ok(t, dlp_val_int(1));
    push_ok(t, dlp_val_float(2));
    push_ok(t, nest(4));
    {
        dlp_val *m = made(dlp_val_map(), "map");
        set_ok(m, "k", dlp_val_bytes("\1\2", 2));
        set_ok(m, "u", dlp_val_uint(UINT64_MAX));
        push_ok(t, m);
    }
    push_ok(t, dlp_val_bool(true));
    encode(&good, t);
    ck_assert_uint_le(good.len, 128);
    rng_state = 0x9e3779b97f4a7c15u;
    for (unsigned iter = 0; iter < 30000; iter++) {
        unsigned char buf[128];
        size_t n, used;
        dlp_val *v;
        int rc;
        if (iter % 4 == 0) {
            /* Short random bytes, with small tags and counts likely. */
            n = (size_t)(rng() % 24);
            for (size_t i = 0; i < n; i++)
                buf[i] = (unsigned char)(rng() % (i % 5 ? 256 : 12));
        } else {
            /* The good encoding with a few bytes changed, maybe cut. */
            n = good.len;
            memcpy(buf, good.p, n);
            for (unsigned k = 1 + (unsigned)(rng() % 3); k > 0; k--) {
                size_t at = (size_t)(rng() % n);
                buf[at] = (unsigned char)(rng() % 3 ? rng() % 12 : rng());
            }
            if (rng() % 4 == 0)
                n = (size_t)(rng() % n);
        }
        rc = decode(buf, n, &v, &used);
        if (rc) {
            if (rc != DLP_EPROTO)
                ck_abort_msg("iteration %u: expected DLP_EPROTO or a value, "
                             "got %d (%s)",
                             iter, rc, dlp_strerror(rc));
            refused++;
            continue;
        }
        ok++;
        again.len = 0;
        rc = dlp__val_put(&again, v);
        if (rc)
            ck_abort_msg("iteration %u: a decoded value does not encode: %d "
                         "(%s)",
                         iter, rc, dlp_strerror(rc));
        if (again.len != used || memcmp(again.p, buf, used) != 0)
            ck_abort_msg("iteration %u: a value decoded from %zu bytes "
                         "encodes to %zu different bytes",
                         iter, used, again.len);
        dlp_val_free(v);
    }
    ck_assert_msg(ok > 100 && refused > 100,
                  "expected garbage both to decode and to be refused, got "
                  "%lu decoded, %lu refused",
                  ok, refused);
    dlp_val_free(t);
    dlp__buf_free(&good);
    dlp__buf_free(&again);
}
END_TEST

Suite *dlp_test_val(void);

Suite *dlp_test_val(void)
{
    Suite *s = suite_create("val");
    TCase *core = tcase_create("core");
    TCase *wire = tcase_create("wire");
    TCase *limits = tcase_create("limits");
    TCase *deep = tcase_create("deep");
    TCase *errors = tcase_create("errors");

    tcase_add_test(core, test_scalars);
    tcase_add_test(core, test_uint_normalised);
    tcase_add_test(core, test_strings);
    tcase_add_test(core, test_list);
    tcase_add_test(core, test_map);
    tcase_add_test(core, test_set_replaces);
    tcase_add_test(core, test_as_number);
    tcase_add_test(core, test_null_accessors);
    tcase_add_test(core, test_kind_names);
    tcase_add_test(core, test_push_takes_item_on_failure);
    tcase_add_test(core, test_set_takes_item_on_failure);
    tcase_add_test(core, test_copy);
    tcase_add_test(core, test_copy_any_depth);
    tcase_add_test(core, test_cycles_refused);
    tcase_add_test(core, test_equal);
    suite_add_tcase(s, core);

    tcase_add_test(wire, test_wire_layout);
    tcase_add_test(wire, test_wire_round_trip);
    tcase_add_test(wire, test_wire_hand_built);
    suite_add_tcase(s, wire);

    tcase_set_timeout(limits, 60);
    tcase_add_test(limits, test_depth_limit);
    tcase_add_test(limits, test_str_too_big);
    tcase_add_test(limits, test_counts_checked);
    suite_add_tcase(s, limits);

    /* Millions of nodes, one inside the other: slow under valgrind. */
    tcase_set_timeout(deep, 120);
    tcase_add_test(deep, test_free_deep);
    suite_add_tcase(s, deep);

    /* The garbage run is long under valgrind; give it room. */
    tcase_set_timeout(errors, 120);
    tcase_add_test(errors, test_truncated_everywhere);
    tcase_add_test(errors, test_uint_small_refused);
    tcase_add_test(errors, test_key_with_nul);
    tcase_add_test(errors, test_unknown_tag);
    tcase_add_test(errors, test_garbage);
    suite_add_tcase(s, errors);
    return s;
}

TU_MAIN(dlp_test_val)
