/*
 * invoke.c - one libffi call of a resolved function, in a worker.
 *
 * The cif is prepared once per function (dlp__invoke_prep); a task only
 * decodes its arguments into slots that point into the received frame and
 * calls ffi_call.  Integer results narrower than a register come back
 * widened into an ffi_arg, and are narrowed here.
 *
 * The one piece of process-wide state in the library lives here: the
 * failure of the task that is running, which dlp_fail() (called from
 * plugin code, with no context argument) writes.  It exists only in worker
 * processes, which run one task at a time.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "invoke.h"
#include "loader.h"
#include "sig.h"
#include "val.h"

static struct {
    int failed;
    char msg[1024];
} task_fail;

static void host_vfail(const char *fmt, va_list ap)
{
    if (task_fail.failed)
        return; /* the first message of a task wins */
    task_fail.failed = 1;
    if (vsnprintf(task_fail.msg, sizeof task_fail.msg, fmt ? fmt : "(null)",
                  ap) >= (int)sizeof task_fail.msg)
        dlp__utf8_trim(task_fail.msg);
    /* Keep the message on one line. */
    for (char *p = task_fail.msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

const dlp_host_api dlp__host_api = {sizeof(dlp_host_api), host_vfail};

static ffi_type *ffi_type_of(dlp_type t)
{
    if (DLP_T_IS_ARRAY(t))
        return &ffi_type_pointer;
    switch (t) {
    case DLP_T_VOID:
        return &ffi_type_void;
    case DLP_T_I8:
        return &ffi_type_sint8;
    case DLP_T_I16:
        return &ffi_type_sint16;
    case DLP_T_I32:
        return &ffi_type_sint32;
    case DLP_T_I64:
        return &ffi_type_sint64;
    case DLP_T_U8:
    case DLP_T_BOOL: /* C99 bool has the ABI of unsigned char here */
        return &ffi_type_uint8;
    case DLP_T_U16:
        return &ffi_type_uint16;
    case DLP_T_U32:
        return &ffi_type_uint32;
    case DLP_T_U64:
        return &ffi_type_uint64;
    case DLP_T_F32:
        return &ffi_type_float;
    case DLP_T_F64:
        return &ffi_type_double;
    case DLP_T_STR:
    case DLP_T_BYTES:
    case DLP_T_VAL:
    case DLP_T_CHAN:
        return &ffi_type_pointer;
    }
    return NULL;
}

/*
 * Direct calls.  For the signatures most tasks have — up to three
 * arguments, each i64 or f64, returning i64, f64 or nothing — the function
 * is called through a pointer of its exact C type, which is what its
 * manifest entry declares (ffi_call relies on the same declaration).  This
 * skips libffi's per-call work of classifying every argument again, about
 * half of a worker's instructions for a tiny task.  Every other signature
 * goes through the prepared cif.
 */
#define DLP_DT_I int64_t
#define DLP_DT_D double
#define DLP_DA_I(k) s[k].i64
#define DLP_DA_D(k) s[k].f64
#define DLP_DR_I(call)                                                         \
    do {                                                                       \
        int64_t r_ = (call);                                                   \
        memcpy(rv, &r_, 8);                                                    \
    } while (0)
#define DLP_DR_D(call)                                                         \
    do {                                                                       \
        double r_ = (call);                                                    \
        memcpy(rv, &r_, 8);                                                    \
    } while (0)
#define DLP_DR_V(call) (call)
#define DLP_DT_V void

#define DIRECT0(R)                                                             \
    static void direct_##R(void (*f)(void), const void *sv, void *rv)         \
    {                                                                          \
        (void)sv;                                                              \
        (void)rv;                                                              \
        DLP_DR_##R(((DLP_DT_##R(*)(void))f)());                                \
    }
#define DIRECT1(R, A)                                                          \
    static void direct_##R##_##A(void (*f)(void), const void *sv, void *rv)   \
    {                                                                          \
        const dlp__slot *s = sv;                                               \
        (void)rv;                                                              \
        DLP_DR_##R(((DLP_DT_##R(*)(DLP_DT_##A))f)(DLP_DA_##A(0)));             \
    }
#define DIRECT2(R, A, B)                                                       \
    static void direct_##R##_##A##B(void (*f)(void), const void *sv,          \
                                    void *rv)                                  \
    {                                                                          \
        const dlp__slot *s = sv;                                               \
        (void)rv;                                                              \
        DLP_DR_##R(((DLP_DT_##R(*)(DLP_DT_##A, DLP_DT_##B))f)(                 \
            DLP_DA_##A(0), DLP_DA_##B(1)));                                    \
    }
#define DIRECT3(R, A, B, C)                                                    \
    static void direct_##R##_##A##B##C(void (*f)(void), const void *sv,       \
                                       void *rv)                               \
    {                                                                          \
        const dlp__slot *s = sv;                                               \
        (void)rv;                                                              \
        DLP_DR_##R(((DLP_DT_##R(*)(DLP_DT_##A, DLP_DT_##B, DLP_DT_##C))f)(     \
            DLP_DA_##A(0), DLP_DA_##B(1), DLP_DA_##C(2)));                     \
    }
#define DIRECT_ALL(R)                                                          \
    DIRECT0(R)                                                                 \
    DIRECT1(R, I) DIRECT1(R, D)                                                \
    DIRECT2(R, I, I) DIRECT2(R, I, D) DIRECT2(R, D, I) DIRECT2(R, D, D)        \
    DIRECT3(R, I, I, I) DIRECT3(R, I, I, D) DIRECT3(R, I, D, I)                \
    DIRECT3(R, I, D, D) DIRECT3(R, D, I, I) DIRECT3(R, D, I, D)                \
    DIRECT3(R, D, D, I) DIRECT3(R, D, D, D)
DIRECT_ALL(I)
DIRECT_ALL(D)
DIRECT_ALL(V)

#define DIRECT_ROWS(R)                                                         \
    {#R "", direct_##R}, {#R "I", direct_##R##_I}, {#R "D", direct_##R##_D},   \
        {#R "II", direct_##R##_II}, {#R "ID", direct_##R##_ID},                \
        {#R "DI", direct_##R##_DI}, {#R "DD", direct_##R##_DD},                \
        {#R "III", direct_##R##_III}, {#R "IID", direct_##R##_IID},            \
        {#R "IDI", direct_##R##_IDI}, {#R "IDD", direct_##R##_IDD},            \
        {#R "DII", direct_##R##_DII}, {#R "DID", direct_##R##_DID},            \
        {#R "DDI", direct_##R##_DDI}, {#R "DDD", direct_##R##_DDD}

static const struct {
    const char *key; /* return letter, then one letter per argument */
    void (*call)(void (*fn)(void), const void *slots, void *rv);
} directs[] = {DIRECT_ROWS(I), DIRECT_ROWS(D), DIRECT_ROWS(V)};

/* The direct call for sig, or NULL. */
static void (*direct_for(const dlp_sig *sig))(void (*)(void), const void *,
                                              void *)
{
    char key[8];
    unsigned n = 0;
    if (sig->nargs > 3)
        return NULL;
    switch (sig->ret) {
    case DLP_T_I64:
        key[n++] = 'I';
        break;
    case DLP_T_F64:
        key[n++] = 'D';
        break;
    case DLP_T_VOID:
        key[n++] = 'V';
        break;
    default:
        return NULL;
    }
    for (unsigned i = 0; i < sig->nargs; i++) {
        if (sig->args[i] == DLP_T_I64)
            key[n++] = 'I';
        else if (sig->args[i] == DLP_T_F64)
            key[n++] = 'D';
        else
            return NULL;
    }
    key[n] = 0;
    for (size_t i = 0; i < sizeof directs / sizeof directs[0]; i++)
        if (strcmp(directs[i].key, key) == 0)
            return directs[i].call;
    return NULL;
}

int dlp__invoke_prep(dlp__fn *fn, const char *name, dlp_error *err)
{
    ffi_status st;
    unsigned k = 0;
    fn->ret_type = ffi_type_of(fn->sig.ret);
    for (unsigned i = 0; i < fn->sig.nargs; i++) {
        fn->atypes[k++] = ffi_type_of(fn->sig.args[i]);
        if (fn->sig.args[i] == DLP_T_BYTES || DLP_T_IS_ARRAY(fn->sig.args[i]))
            fn->atypes[k++] =
                sizeof(size_t) == 8 ? &ffi_type_uint64 : &ffi_type_uint32;
    }
    fn->ncargs = k;
    fn->direct = direct_for(&fn->sig);
    fn->fixed = 1;
    fn->args_size = 0;
    for (unsigned i = 0; i < fn->sig.nargs; i++) {
        size_t sz = DLP_T_IS_ARRAY(fn->sig.args[i])
                        ? 0
                        : dlp__type_size(fn->sig.args[i]);
        fn->asize[i] = (unsigned char)sz;
        fn->args_size += (uint32_t)sz;
        if (!sz)
            fn->fixed = 0;
    }
    st = ffi_prep_cif(&fn->cif, FFI_DEFAULT_ABI, k, fn->ret_type,
                      fn->atypes);
    if (st != FFI_OK)
        return dlp__err(err, DLP_EFFI,
                        "libffi could not prepare a call of '%s' (status "
                        "%d)",
                        name, (int)st);
    return 0;
}

/* Append a result record; payload may be NULL when len is 0. */
static int put_record(dlp__buf *out, uint64_t index, uint8_t kind,
                      const void *payload, size_t len)
{
    int rc;
    /* Leave room for the results already in the frame (the worker
     * flushes at 256 KiB) and the header. */
    if (len > DLP_FRAME_MAX - (1u << 20)) {
        static const char msg[] = "result too large (over 1 GiB)";
        kind = DLP_R_BADRESULT;
        payload = msg;
        len = sizeof msg - 1;
    }
    if ((rc = dlp__buf_reserve(out, DLP_RESULT_HDR + len)))
        return rc;
    dlp__put_u64(out, index);
    dlp__put_u8(out, kind);
    dlp__put_u32(out, (uint32_t)len);
    return dlp__buf_put(out, payload, len);
}

/* Append a val result in its wire form, then free it (the function gave
 * it to us).  One that cannot be carried fails alone. */
static int put_val_result(dlp__buf *out, uint64_t index, dlp_val *v)
{
    size_t rec = out->len;
    int rc;
    if ((rc = dlp__buf_reserve(out, DLP_RESULT_HDR)))
        goto done;
    dlp__put_u64(out, index);
    dlp__put_u8(out, DLP_R_OK);
    dlp__put_u32(out, 0);
    rc = dlp__val_put(out, v);
    if (rc == 0 && out->len - rec - DLP_RESULT_HDR > DLP_FRAME_MAX - (1u << 20))
        rc = DLP_ETOOBIG;
    if (rc == 0) {
        uint32_t len = (uint32_t)(out->len - rec - DLP_RESULT_HDR);
        memcpy(out->p + rec + DLP_RESULT_OFF_LEN, &len, 4);
    } else if (rc != -ENOMEM) {
        /* Too big or too deep (DLP_ETOOBIG), or a node of no known kind
         * written by hand (DLP_EINVAL): the task's result is bad, the
         * worker is fine. */
        char msg[128];
        out->len = rec;
        if (rc == DLP_ETOOBIG)
            snprintf(msg, sizeof msg,
                     "the returned val is over 1 GiB or nests deeper than "
                     "%d",
                     DLP_VAL_MAX_DEPTH);
        else
            snprintf(msg, sizeof msg,
                     "the returned val holds a node of unknown kind");
        rc = put_record(out, index, DLP_R_BADRESULT, msg, strlen(msg));
    } else {
        out->len = rec;
    }
done:
    dlp_val_free(v);
    return rc;
}

int dlp__invoke(const dlp__fn *fn, uint64_t index, dlp__rd *r,
                dlp__buf *out)
{
    dlp__slot slots[2 * DLP_MAX_ARGS];
    void *avalues[2 * DLP_MAX_ARGS];
    union {
        ffi_arg a;
        ffi_sarg s;
        double d;
        float f;
        void *p;
        uint64_t pad[2];
    } rv;
    uint64_t w = 0;
    dlp__argmem mem;
    int rc;

    if (fn->fixed) {
        /* Scalars only (the common case): each is its size in bytes, in
         * order; nothing to allocate or release. */
        const unsigned char *p;
        if (dlp__get_bytes(r, fn->args_size, &p) || r->p != r->end)
            return DLP_EPROTO;
        for (unsigned i = 0; i < fn->sig.nargs; i++) {
            memcpy(&slots[i], p, fn->asize[i]);
            if (fn->sig.args[i] == DLP_T_BOOL && *p > 1)
                return DLP_EPROTO;
            p += fn->asize[i];
        }
        mem.n = 0;
    } else if ((rc = dlp__args_decode(r, &fn->sig, slots, &mem))) {
        return rc;
    }
    for (unsigned k = 0; k < fn->ncargs; k++)
        avalues[k] = &slots[k];

    task_fail.failed = 0;
    memset(&rv, 0, sizeof rv);
    if (fn->direct)
        fn->direct(fn->addr, slots, &rv);
    else
        ffi_call((ffi_cif *)&fn->cif, fn->addr, &rv, avalues);
    dlp__argmem_release(&mem);

    if (task_fail.failed) {
        /* The return value is ignored, and not freed even for str!: after
         * dlp_fail a function may return anything, a literal included.
         * A val is always the worker's to free, so it is freed. */
        if (fn->sig.ret == DLP_T_VAL)
            dlp_val_free(rv.p);
        return put_record(out, index, DLP_R_FAIL, task_fail.msg,
                          strlen(task_fail.msg));
    }
    switch (fn->sig.ret) {
    case DLP_T_VAL:
        return put_val_result(out, index, rv.p);
    case DLP_T_VOID:
        return put_record(out, index, DLP_R_OK, NULL, 0);
    case DLP_T_I8:
        w = (uint64_t)(int64_t)(int8_t)rv.s;
        break;
    case DLP_T_I16:
        w = (uint64_t)(int64_t)(int16_t)rv.s;
        break;
    case DLP_T_I32:
        w = (uint64_t)(int64_t)(int32_t)rv.s;
        break;
    case DLP_T_I64:
        w = (uint64_t)(int64_t)rv.s;
        break;
    case DLP_T_U8:
        w = (uint8_t)rv.a;
        break;
    case DLP_T_U16:
        w = (uint16_t)rv.a;
        break;
    case DLP_T_U32:
        w = (uint32_t)rv.a;
        break;
    case DLP_T_U64:
        w = (uint64_t)rv.a;
        break;
    case DLP_T_BOOL:
        w = (rv.a & 0xff) != 0;
        break;
    case DLP_T_F32: {
        double d = rv.f;
        memcpy(&w, &d, 8);
        break;
    }
    case DLP_T_F64:
        memcpy(&w, &rv.d, 8);
        break;
    case DLP_T_STR: {
        if (!rv.p) {
            static const char msg[] = "the function returned a NULL string";
            return put_record(out, index, DLP_R_BADRESULT, msg,
                              sizeof msg - 1);
        }
        rc = put_record(out, index, DLP_R_OK, rv.p, strlen(rv.p));
        if (fn->sig.ret_owned)
            free(rv.p);
        return rc;
    }
    default:
        return DLP_EPROTO; /* the parser never lets these be returned */
    }
    return put_record(out, index, DLP_R_OK, &w, 8);
}
