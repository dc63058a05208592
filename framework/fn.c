/*
 * fn.c - the pool's function registry: dlp_pool_fn resolves a reference
 * (PLUGIN:SYMBOL) once, has every live worker LOAD it, and records the
 * signature the workers send back; a LOAD batch's owner.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "fn.h"
#include "handle.h"
#include "loader.h"
#include "loop.h"
#include "pool.h"
#include "sig.h"

/* A LOAD batch's owner (below). */
static const dlp__batch_ops load_ops;

dlp__batch *dlp__fn_load_batch(dlp_pool *p, uint32_t id)
{
    DLP_ASSERT_HELD(&p->mu);
    dlp__fnent *f = p->fns[id];
    dlp__batch *b = calloc(1, sizeof *b);
    long off;
    if (!b)
        return NULL;
    b->ops = &load_ops;
    b->owner = p;
    b->type = DLP_F_LOAD;
    b->fn = id;
    off = dlp__frame_begin(&b->frame, DLP_F_LOAD, id, 0);
    if (off < 0 ||
        dlp__put_str(&b->frame, f->path, strlen(f->path), 1) ||
        dlp__put_str(&b->frame, f->symbol, strlen(f->symbol), 1) ||
        dlp__put_str(&b->frame, f->sig_given ? f->sig_given : "",
                     f->sig_given ? strlen(f->sig_given) : 0, 1) ||
        dlp__frame_end(&b->frame, off)) {
        dlp__batch_free(b);
        return NULL;
    }
    return b;
}

/* Record a LOADED reply, or a worker that died before sending one. */
static void fn_answer(dlp_pool *p, uint32_t id, int code, const char *msg,
                      size_t len)
{
    DLP_ASSERT_HELD(&p->mu);
    dlp__fnent *f = p->fns[id];
    if (f->pending)
        f->pending--;
    if (f->state != DLP_FN_LOADING)
        return;
    if (code == 0) {
        dlp_sig sig;
        char text[256];
        snprintf(text, sizeof text, "%.*s", (int)len, msg);
        if (dlp_sig_parse(text, &sig, NULL) == 0) {
            f->sig = sig;
            return;
        }
        code = DLP_EPROTO;
        msg = "worker sent an unreadable signature";
        len = strlen(msg);
    }
    if (f->code == 0) {
        f->code = code;
        snprintf(f->msg, sizeof f->msg, "%.*s", (int)len, msg);
    }
}

/* A LOADED reply.  A replacement worker that cannot load a function the
 * pool already serves (the plugin file changed or went away, or its init
 * hook failed this time) retires its slot rather than be replaced by a
 * worker that will fail the same way. */
static int load_loaded(dlp__batch *b, dlp__worker *w, int code,
                       const char *msg, uint32_t len)
{
    DLP_ASSERT_HELD(&((dlp_pool *)b->owner)->mu);
    dlp_pool *p = b->owner;
    if (p->fns[b->fn]->state == DLP_FN_OK && code != 0) {
        snprintf(p->last_loss, sizeof p->last_loss,
                 "a new worker could not load '%s': %.*s",
                 p->fns[b->fn]->ref, (int)len, msg);
        w->retired = 1;
        return DLP_EPROTO;
    }
    fn_answer(p, b->fn, code, msg, len);
    return 0;
}

/* Only the frame being worked on is to blame.  A function the pool
 * already serves is not failed by a replacement that crashed loading it:
 * that counts towards the restart intensity instead. */
static int load_lost(dlp__batch *b, dlp__worker *w,
                     const dlp__batch_loss *loss)
{
    DLP_ASSERT_HELD(&((dlp_pool *)b->owner)->mu);
    dlp_pool *p = b->owner;
    (void)w;
    if (loss->first && p->fns[b->fn]->state != DLP_FN_OK) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "plugin '%s' killed the worker loading it: %s",
                 p->fns[b->fn]->path, loss->reason);
        fn_answer(p, b->fn, DLP_ENOPLUGIN, msg, strlen(msg));
    } else if (!loss->first && p->fns[b->fn]->pending) {
        p->fns[b->fn]->pending--;
    }
    dlp__batch_free(b);
    return 0;
}

static const dlp__batch_ops load_ops = {.loaded = load_loaded,
                                        .lost = load_lost};

/* dlp_pool_fn with mu held: the id of ref (with sig, NULL for none)
 * resolved already, or a new entry loaded into every live worker, or a
 * negative code with err set.  colon is ref's last ':'. */
static int fn_resolve(dlp_pool *p, const char *ref, const char *colon,
                      const char *sig, dlp_error *err)
{
    dlp__fnent *f;
    char *path = NULL;
    uint32_t id;
    int rc;

    DLP_ASSERT_HELD(&p->mu);
    if (p->closed)
        return dlp__err(err, DLP_ECLOSED, "the pool is closed");
    for (id = 0; id < p->nfns; id++) {
        f = p->fns[id];
        if (f->state == DLP_FN_OK && strcmp(f->ref, ref) == 0 &&
            (sig ? f->sig_given && strcmp(f->sig_given, sig) == 0
                 : !f->sig_given))
            return (int)id;
    }
    {
        char plugin[4096];
        size_t plen = (size_t)(colon - ref);
        if (plen >= sizeof plugin)
            return dlp__err(err, DLP_EINVAL, "plugin name too long");
        memcpy(plugin, ref, plen);
        plugin[plen] = 0;
        if (plen == 0 && !(path = strdup("")))
            return dlp__err(err, -ENOMEM, "out of memory");
        if (plen && (rc = dlp__plugin_find(plugin, p->plugin_path, &path,
                                           err)))
            return rc;
    }
    /* Entries are allocated one by one, so a pointer to an entry's
     * signature (dlp_pool_fn_sig) stays valid as the table grows. */
    if (p->nfns == p->capfns) {
        size_t cap = p->capfns ? p->capfns * 2 : 8;
        dlp__fnent **nf = realloc(p->fns, cap * sizeof *nf);
        if (!nf) {
            free(path);
            return dlp__err(err, -ENOMEM, "out of memory");
        }
        p->fns = nf;
        p->capfns = cap;
    }
    id = (uint32_t)p->nfns;
    f = p->fns[id] = calloc(1, sizeof *f);
    if (!f) {
        free(path);
        return dlp__err(err, -ENOMEM, "out of memory");
    }
    f->ref = strdup(ref);
    f->symbol = strdup(colon + 1);
    f->sig_given = sig ? strdup(sig) : NULL;
    f->path = path;
    if (!f->ref || !f->symbol || (sig && !f->sig_given)) {
        free(f->ref);
        free(f->symbol);
        free(f->sig_given);
        free(path);
        free(f);
        return dlp__err(err, -ENOMEM, "out of memory");
    }
    p->nfns++;
    f->state = DLP_FN_LOADING;
    for (unsigned i = 0; i < p->nworkers; i++) {
        dlp__worker *w = &p->w[i];
        dlp__batch *b;
        if (w->fd < 0)
            continue;
        if (!(b = dlp__fn_load_batch(p, id))) {
            f->code = -ENOMEM;
            snprintf(f->msg, sizeof f->msg, "out of memory");
            break;
        }
        p->fns[id]->pending++;
        dlp__loop_send(p, w, b);
    }
    /* The table may move while we drive (another thread may add to it),
     * so always index it afresh. */
    while (p->fns[id]->pending > 0 && dlp__loop_alive(p) > 0) {
        if (__atomic_exchange_n(&p->interrupted, 0, __ATOMIC_ACQ_REL)) {
            p->fns[id]->state = DLP_FN_FAILED;
            return dlp__err(err, -EINTR, "interrupted while loading '%s'",
                            ref);
        }
        dlp__loop_drive(p, -1, 0);
    }
    f = p->fns[id];
    if (f->code == 0 && dlp__loop_alive(p) == 0) {
        f->code = DLP_EWORKER;
        snprintf(f->msg, sizeof f->msg, "no worker is alive to load '%s'",
                 ref);
    }
    if (f->code) {
        f->state = DLP_FN_FAILED;
        if (f->code == DLP_ENOPLUGIN && !strchr(f->path, '/')) {
            /* A bare name nobody found: say where we looked. */
            const char *env = p->plugin_path ? p->plugin_path
                                             : getenv("DLPOOL_PLUGIN_PATH");
            rc = dlp__err(err, f->code,
                          "plugin '%s' not found in %s%s%s, %s, or the "
                          "system's library path (%s)",
                          f->path, p->plugin_path ? "the plugin path" :
                          "DLPOOL_PLUGIN_PATH", env ? "=" : " (unset)",
                          env ? env : "", DLP_PLUGINDIR, f->msg);
        } else {
            rc = dlp__err(err, f->code, "%s", f->msg);
        }
        return rc;
    }
    f->state = DLP_FN_OK;
    return (int)id;
}

DLP_API int dlp_pool_fn(dlp_pool *p, const char *ref, const char *sig,
                        dlp_error *err)
{
    const char *colon;
    dlp_sig parsed;
    int rc;

    if (!p || !ref)
        return dlp__err(err, DLP_EINVAL, "dlp_pool_fn: NULL argument");
    if (!dlp__handle_live(p, DLP__H_POOL))
        return dlp__handle_bad(err, "dlp_pool_fn", "pool");
    colon = strrchr(ref, ':');
    if (!colon || !colon[1])
        return dlp__err(err, DLP_EINVAL,
                        "'%s' is not a function reference: expected "
                        "PLUGIN:SYMBOL (or :SYMBOL for the program's own)",
                        ref);
    if (sig && *sig && (rc = dlp_sig_parse(sig, &parsed, err)))
        return rc;
    if (sig && !*sig)
        sig = NULL;

    pthread_mutex_lock(&p->mu);
    rc = fn_resolve(p, ref, colon, sig, err);
    pthread_mutex_unlock(&p->mu);
    return rc;
}

DLP_API const dlp_sig *dlp_pool_fn_sig(dlp_pool *p, int fn)
{
    const dlp_sig *s = NULL;
    if (fn < 0 || !dlp__handle_live(p, DLP__H_POOL))
        return NULL;
    pthread_mutex_lock(&p->mu);
    if ((size_t)fn < p->nfns && p->fns[fn]->state == DLP_FN_OK)
        s = &p->fns[fn]->sig;
    pthread_mutex_unlock(&p->mu);
    return s;
}

