/*
 * make_corpus.c - writes the seed corpus of fuzz_wire: one valid encoding
 * of each payload, in the input layout fuzz_wire.c describes.  Run it again
 * whenever the wire format changes.  It is not part of the build:
 *
 *   cc -I include -I framework -I BUILD -o make_corpus \
 *      tests/fuzz/make_corpus.c framework/common.c framework/sig.c \
 *      framework/wire.c framework/val.c && ./make_corpus tests/fuzz/corpus/wire
 *
 * from the source tree (BUILD is a configured build directory, for
 * config.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sig.h"
#include "val.h"
#include "wire.h"

/* Indexes into fuzz_wire.c's sig_table that the seeds use. */
static const struct {
    unsigned sel;
    const char *name;
} batch_seeds[] = {
    {0, "void"},        {1, "i8"},        {3, "i32"},      {4, "i64"},
    {6, "u16"},         {8, "u64"},       {9, "f32"},      {10, "f64"},
    {11, "bool"},       {12, "str"},      {13, "str2"},    {14, "bytes"},
    {15, "mix3"},       {16, "alltypes"}, {17, "strbytes"}, {18, "bytes32"},
    {19, "str32"},      {20, "mix32"},    {21, "val"},      {22, "i64array"},
    {23, "valarraymix"}, {24, "arrays10"}, {25, "val32"},    {26, "arrays32"},
};

/* Signature texts for the seeds that carry their own. */
static const char *const text_seeds[] = {
    " str ! ( str , bytes ) ",
    "void(void)",
    ("u8(u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,u8,"
     "u8,u8,u8,u8,u8,u8,u8,u8,u8,u8)"),
};

static const char *dir;
static char sig_texts[3][512];

static void put(dlp__buf *b, const void *p, size_t n)
{
    if (dlp__buf_put(b, p, n))
        abort();
}

/* A value with every kind in it, different per task, nested i + 2 deep. */
static dlp_val *sample_val(unsigned i)
{
    dlp_val *m = dlp_val_map(), *l = dlp_val_list(), *deep = dlp_val_list();
    if (!m || !l || !deep)
        abort();
    for (unsigned k = 0; k < i; k++) {
        dlp_val *outer = dlp_val_list();
        if (!outer || dlp_val_push(outer, deep))
            abort();
        deep = outer;
    }
    if (dlp_val_push(l, dlp_val_null()) || dlp_val_push(l, dlp_val_bool(i & 1)) ||
        dlp_val_push(l, dlp_val_int(-(int64_t)i - 1)) ||
        dlp_val_push(l, dlp_val_uint(UINT64_MAX - i)) ||
        dlp_val_push(l, dlp_val_float(0.5 * i)) ||
        dlp_val_push(l, dlp_val_str("a\0b", i % 4)) ||
        dlp_val_push(l, dlp_val_bytes("\xff\0", i % 3)) ||
        dlp_val_set(m, "list", l) || dlp_val_set(m, "", deep) ||
        dlp_val_set(m, "empty", dlp_val_map()))
        abort();
    return m;
}

/* One argument of type t for task i: small, and different per task.
 * frame_off is where the frame starts in b (arrays are aligned to it). */
static void put_arg(dlp__buf *b, size_t frame_off, dlp_type t, unsigned i)
{
    char s[32];
    uint64_t v = 0x0102030405060708ull * (i + 1);
    if (DLP_T_IS_ARRAY(t)) {
        static const unsigned char elems[5 * 8] = {
            1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0x7f, 0x80, 0, 0, 0, 0xf0, 0x3f};
        if (dlp__put_array(b, frame_off, elems, i % 6,
                           dlp__type_size(DLP_T_ELEM(t))))
            abort();
        return;
    }
    switch (t) {
    case DLP_T_VAL: {
        dlp_val *val = sample_val(i);
        if (dlp__val_put(b, val))
            abort();
        dlp_val_free(val);
        return;
    }
    case DLP_T_F32: {
        float f = -1.5f * (float)i;
        put(b, &f, 4);
        return;
    }
    case DLP_T_F64: {
        double d = 3.25 * i;
        put(b, &d, 8);
        return;
    }
    case DLP_T_BOOL: {
        uint8_t x = i & 1;
        put(b, &x, 1);
        return;
    }
    case DLP_T_STR:
        snprintf(s, sizeof s, "s%u", i);
        dlp__put_str(b, s, i ? strlen(s) : 0, 1);
        return;
    case DLP_T_BYTES:
        dlp__put_str(b, "a\0b\xff", i % 5, 0);
        return;
    default:
        put(b, &v, dlp__type_size(t));
        return;
    }
}

/* The input prefix choosing a signature: a table index, or text. */
static void put_sel(dlp__buf *b, unsigned sel, const char *text)
{
    dlp__put_u8(b, (uint8_t)(text ? 0x80 : sel));
    if (text)
        put(b, text, strlen(text) + 1);
}

static void save(const char *name, const dlp__buf *b)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (!f || fwrite(b->p, 1, b->len, f) != b->len || fclose(f)) {
        perror(path);
        exit(1);
    }
}

static void batch(const char *name, unsigned sel, const char *text,
                  const char *sigtext, unsigned ntasks)
{
    dlp__buf b = {0};
    dlp_sig sig;
    long off;
    if (dlp_sig_parse(sigtext, &sig, NULL))
        abort();
    put_sel(&b, sel, text);
    off = dlp__frame_begin(&b, DLP_F_BATCH, 7, 0);
    dlp__put_u32(&b, ntasks);
    for (unsigned i = 0; i < ntasks; i++) {
        size_t at;
        uint32_t len;
        dlp__put_u64(&b, 100 + i);
        at = b.len;
        dlp__put_u32(&b, 0);
        for (unsigned k = 0; k < sig.nargs; k++)
            put_arg(&b, (size_t)off, sig.args[k], i);
        len = (uint32_t)(b.len - at - 4);
        memcpy(b.p + at, &len, 4);
    }
    dlp__frame_end(&b, off);
    save(name, &b);
    dlp__buf_free(&b);
}

int main(int argc, char **argv)
{
    /* The table texts, repeated here in the order of fuzz_wire.c. */
    static const char *const table[] = {
        "void()", "i8(i8)", "i16(i16)", "i32(i32,i32)", "i64(i64,i64)",
        "u8(u8)", "u16(u16)", "u32(u32)", "u64(u64)", "f32(f32)",
        "f64(f64,f64)", "bool(bool)", "str(str)", "str!(str,str)",
        "u64(bytes)", "i64(bytes,i64,str)",
        "str(i8,i16,i32,i64,u8,u16,u32,u64,f32,f64,bool,str,bytes)",
        "void(str,bytes,str,bytes,bool)", NULL, NULL, NULL,
        "val(val)", "i64(i64[])",
        "void(val,f64[],str,u8[],val,bytes,i16[],bool)",
        "val(i8[],i16[],i32[],i64[],u8[],u16[],u32[],u64[],f32[],f64[])",
        "void(val,val,val,val,val,val,val,val,val,val,val,val,val,val,val,val,"
        "val,val,val,val,val,val,val,val,val,val,val,val,val,val,val,val)",
        "void(i64[],u8[],i64[],u8[],i64[],u8[],i64[],u8[],i64[],u8[],i64[],"
        "u8[],i64[],u8[],i64[],u8[],i64[],u8[],i64[],u8[],i64[],u8[],i64[],"
        "u8[],i64[],u8[],i64[],u8[],i64[],u8[],i64[],u8[])",
    };
    char name[64];
    dlp__buf b = {0};
    long off;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
        return 2;
    }
    dir = argv[1];
    /* The three 32-argument entries. */
    {
        static const char *const one[] = {"bytes", "str", NULL};
        static const char *const mix[] = {
            "u8", "i16", "u32", "i64", "f32", "f64", "bool", "str", "bytes",
            "i8", "u16", "i32", "u64", "str", "bytes", "bool"};
        for (int e = 0; e < 3; e++) {
            char *s = sig_texts[e];
            strcpy(s, e == 0 ? "void(" : e == 1 ? "i32(" : "f64(");
            for (int i = 0; i < DLP_MAX_ARGS; i++) {
                strcat(s, e < 2 ? one[e] : mix[i % 16]);
                strcat(s, i == DLP_MAX_ARGS - 1 ? ")" : ",");
            }
        }
    }
    for (size_t i = 0; i < sizeof batch_seeds / sizeof batch_seeds[0]; i++) {
        unsigned sel = batch_seeds[i].sel;
        const char *t = sel >= 18 && sel <= 20 ? sig_texts[sel - 18]
                                               : table[sel];
        snprintf(name, sizeof name, "batch-%s", batch_seeds[i].name);
        batch(name, sel, NULL, t, sel >= 18 ? 2 : 3);
    }
    for (size_t i = 0; i < sizeof text_seeds / sizeof text_seeds[0]; i++) {
        snprintf(name, sizeof name, "text-batch-%zu", i);
        batch(name, 0, text_seeds[i], text_seeds[i], 2);
    }

    /* RESULTS: a scalar, a failure, a bad result, an empty str. */
    put_sel(&b, 0, NULL);
    off = dlp__frame_begin(&b, DLP_F_RESULTS, 7, 4);
    dlp__put_u64(&b, 123456789);
    dlp__put_u64(&b, 100);
    dlp__put_u8(&b, DLP_R_OK);
    dlp__put_str(&b, "\x2a\0\0\0\0\0\0\0", 8, 0);
    dlp__put_u64(&b, 101);
    dlp__put_u8(&b, DLP_R_FAIL);
    dlp__put_str(&b, "odd input", 9, 0);
    dlp__put_u64(&b, 102);
    dlp__put_u8(&b, DLP_R_BADRESULT);
    dlp__put_str(&b, "invalid UTF-8", 13, 0);
    dlp__put_u64(&b, 103);
    dlp__put_u8(&b, DLP_R_OK);
    dlp__put_str(&b, "", 0, 0);
    dlp__frame_end(&b, off);
    save("results", &b);
    b.len = 0;

    /* A RESULTS frame of val results, and a payload that is vals only. */
    put_sel(&b, 21, NULL);
    off = dlp__frame_begin(&b, DLP_F_RESULTS, 7, 2);
    dlp__put_u64(&b, 5);
    for (unsigned i = 0; i < 2; i++) {
        dlp_val *v = sample_val(i + 1);
        size_t at;
        uint32_t len;
        dlp__put_u64(&b, 200 + i);
        dlp__put_u8(&b, DLP_R_OK);
        at = b.len;
        dlp__put_u32(&b, 0);
        if (dlp__val_put(&b, v))
            abort();
        len = (uint32_t)(b.len - at - 4);
        memcpy(b.p + at, &len, 4);
        dlp_val_free(v);
    }
    dlp__frame_end(&b, off);
    save("results-val", &b);
    b.len = 0;
    put_sel(&b, 21, NULL);
    off = dlp__frame_begin(&b, DLP_F_RESULTS, 0, 0);
    for (unsigned i = 0; i < 4; i++) {
        dlp_val *v = sample_val(i * 20); /* up to 62 deep */
        if (dlp__val_put(&b, v))
            abort();
        dlp_val_free(v);
    }
    dlp__frame_end(&b, off);
    save("vals", &b);
    b.len = 0;

    /* LOADED, success and failure. */
    put_sel(&b, 0, NULL);
    off = dlp__frame_begin(&b, DLP_F_LOADED, 3, 0);
    dlp__put_str(&b, "i64(i64,i64)", 12, 0);
    dlp__frame_end(&b, off);
    save("loaded-ok", &b);
    b.len = 0;
    put_sel(&b, 0, NULL);
    off = dlp__frame_begin(&b, DLP_F_LOADED, 3, (uint32_t)DLP_ENOSYM);
    dlp__put_str(&b, "no symbol 'nope' in 'x.so'", 26, 0);
    dlp__frame_end(&b, off);
    save("loaded-err", &b);
    b.len = 0;

    /* INSPECTED: a name and three functions. */
    put_sel(&b, 0, NULL);
    off = dlp__frame_begin(&b, DLP_F_INSPECTED, 0, 1);
    dlp__put_str(&b, "examples", 8, 0);
    dlp__put_u32(&b, 3);
    dlp__put_str(&b, "add", 3, 0);
    dlp__put_str(&b, "i64(i64,i64)", 12, 0);
    dlp__put_str(&b, "upper", 5, 0);
    dlp__put_str(&b, "str!(str)", 9, 0);
    dlp__put_str(&b, "", 0, 0);
    dlp__put_str(&b, "", 0, 0);
    dlp__frame_end(&b, off);
    save("inspected", &b);
    b.len = 0;

    /* LOAD and INSPECT, whose strings end in NUL. */
    put_sel(&b, 0, NULL);
    off = dlp__frame_begin(&b, DLP_F_LOAD, 3, 0);
    dlp__put_str(&b, "examples.so", 11, 1);
    dlp__put_str(&b, "add", 3, 1);
    dlp__put_str(&b, "", 0, 1);
    dlp__frame_end(&b, off);
    save("load", &b);
    b.len = 0;
    put_sel(&b, 0, NULL);
    off = dlp__frame_begin(&b, DLP_F_INSPECT, 0, 0);
    dlp__put_str(&b, "/usr/lib/dlpool/plugins/examples.so", 35, 1);
    dlp__frame_end(&b, off);
    save("inspect", &b);
    dlp__buf_free(&b);
    return 0;
}
