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

#include "loader.h"
#include "sig.h"

static struct {
    int failed;
    char msg[1024];
} task_fail;

static void host_vfail(const char *fmt, va_list ap)
{
    if (task_fail.failed)
        return; /* the first message of a task wins */
    task_fail.failed = 1;
    vsnprintf(task_fail.msg, sizeof task_fail.msg, fmt ? fmt : "(null)",
              ap);
    /* Keep the message on one line. */
    for (char *p = task_fail.msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
}

const dlp_host_api dlp__host_api = {sizeof(dlp_host_api), host_vfail};

static ffi_type *ffi_type_of(dlp_type t)
{
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
        return &ffi_type_pointer;
    }
    return NULL;
}

int dlp__invoke_prep(dlp__fn *fn, const char *name, dlp_error *err)
{
    ffi_status st;
    unsigned k = 0;
    fn->ret_type = ffi_type_of(fn->sig.ret);
    for (unsigned i = 0; i < fn->sig.nargs; i++) {
        fn->atypes[k++] = ffi_type_of(fn->sig.args[i]);
        if (fn->sig.args[i] == DLP_T_BYTES)
            fn->atypes[k++] =
                sizeof(size_t) == 8 ? &ffi_type_uint64 : &ffi_type_uint32;
    }
    fn->ncargs = k;
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
static int put_result(dlp__buf *out, uint64_t index, uint8_t kind,
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

    if (dlp__args_decode(r, &fn->sig, slots))
        return DLP_EPROTO;
    for (unsigned k = 0; k < fn->ncargs; k++)
        avalues[k] = &slots[k];

    task_fail.failed = 0;
    memset(&rv, 0, sizeof rv);
    ffi_call((ffi_cif *)&fn->cif, fn->addr, &rv, avalues);

    if (task_fail.failed) {
        /* The return value is ignored, and not freed even for str!: after
         * dlp_fail a function may return anything, a literal included. */
        return put_result(out, index, DLP_R_FAIL, task_fail.msg,
                          strlen(task_fail.msg));
    }
    switch (fn->sig.ret) {
    case DLP_T_VOID:
        return put_result(out, index, DLP_R_OK, NULL, 0);
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
        int rc;
        if (!rv.p) {
            static const char msg[] = "the function returned a NULL string";
            return put_result(out, index, DLP_R_BADRESULT, msg,
                              sizeof msg - 1);
        }
        rc = put_result(out, index, DLP_R_OK, rv.p, strlen(rv.p));
        if (fn->sig.ret_owned)
            free(rv.p);
        return rc;
    }
    case DLP_T_BYTES:
        return DLP_EPROTO; /* the parser never lets bytes be returned */
    }
    return put_result(out, index, DLP_R_OK, &w, 8);
}
