/*
 * loader.c - finding plugins, loading them in a worker, reading manifests.
 *
 * Plugin code runs only in workers: the parent merely searches the file
 * system for a name.  A worker dlopen()s a plugin once (RTLD_NOW, so a
 * missing dependency is an error at load time, not a crash in a task),
 * checks the manifest's ABI before reading on, and runs its init hook once.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"
#include "sig.h"


struct dlp__loaded {
    struct dlp__loaded *next;
    char *path;
    void *handle;
    const dlp_manifest *m; /* NULL: a plain shared library */
};

static int try_file(const char *dir, size_t dlen, const char *name,
                    const char *suffix, char **out)
{
    size_t n = dlen + 1 + strlen(name) + strlen(suffix) + 1;
    struct stat st;
    char *p = malloc(n);
    if (!p)
        return -ENOMEM;
    snprintf(p, n, "%.*s/%s%s", (int)dlen, dir, name, suffix);
    /* A directory named like the plugin (a common layout beside the .so)
     * must not shadow the file. */
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, R_OK) == 0) {
        *out = p;
        return 1;
    }
    free(p);
    return 0;
}

static int search_dirs(const char *dirs, const char *name, char **out)
{
    const char *d = dirs;
    while (d && *d) {
        const char *colon = strchr(d, ':');
        size_t dlen = colon ? (size_t)(colon - d) : strlen(d);
        if (dlen) {
            int rc = try_file(d, dlen, name, "", out);
            if (rc == 0)
                rc = try_file(d, dlen, name, ".so", out);
            if (rc)
                return rc;
        }
        d = colon ? colon + 1 : NULL;
    }
    return 0;
}

/* A plugin named by a path must be a regular file: opening a FIFO blocks
 * until a writer comes, a device can be read for ever, and either would
 * hold a worker in dlopen (or the command hashing the file for its
 * checkpoint) with nothing to say.  Checked in the parent, before any
 * worker is asked to load it.  A path that cannot be stat'ed is left to
 * dlopen, whose message says why (and a link's agents may see files this
 * machine does not). */
static int plugin_regular(const char *path, dlp_error *err)
{
    struct stat st;
    const char *what;
    if (stat(path, &st) < 0 || S_ISREG(st.st_mode))
        return 0;
    what = S_ISDIR(st.st_mode)    ? "a directory"
           : S_ISFIFO(st.st_mode) ? "a FIFO"
           : S_ISCHR(st.st_mode)  ? "a character device"
           : S_ISBLK(st.st_mode)  ? "a block device"
           : S_ISSOCK(st.st_mode) ? "a socket"
                                  : "of an unknown type";
    return dlp__err(err, DLP_ENOPLUGIN,
                    "cannot load plugin '%s': it is %s, not a shared object "
                    "file",
                    path, what);
}

int dlp__plugin_find(const char *name, const char *plugin_path, char **out,
                     dlp_error *err)
{
    int rc;
    *out = NULL;
    if (!name || !*name)
        return dlp__err(err, DLP_EINVAL, "empty plugin name");
    if (!strchr(name, '/')) {
        if (!plugin_path)
            plugin_path = getenv("DLPOOL_PLUGIN_PATH");
        rc = search_dirs(plugin_path, name, out);
        if (rc == 0)
            rc = search_dirs(DLP_PLUGINDIR, name, out);
        if (rc < 0)
            return dlp__err(err, rc, "out of memory");
        if (rc > 0)
            return 0;
    }
    /* A name without a '/' that no directory had is for dlopen's own
     * search (libc.so.6), which finds only files. */
    if (strchr(name, '/') && (rc = plugin_regular(name, err)))
        return rc;
    *out = strdup(name);
    return *out ? 0 : dlp__err(err, -ENOMEM, "out of memory");
}

static int load_plugin(dlp__loader *L, const char *path,
                       struct dlp__loaded **out, dlp_error *err)
{
    struct dlp__loaded *l;
    const dlp_manifest *m;
    void *h;

    for (l = L->head; l; l = l->next) {
        if (strcmp(l->path, path) == 0) {
            *out = l;
            return 0;
        }
    }
    /* The empty name is the program itself (":SYMBOL"): its exported
     * functions (-rdynamic) and its own manifest, if it has one. */
    h = *path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : dlopen(NULL, RTLD_NOW);
    if (!h) {
        const char *e = dlerror();
        return dlp__err(err, DLP_ENOPLUGIN, "cannot load plugin '%s': %s",
                        path, e ? e : "unknown dlopen error");
    }
    /* The same file reached by another path ("./a.so", "a.so" on the
     * search path) is the same plugin: initialise it once. */
    for (l = L->head; l; l = l->next) {
        if (l->handle == h) {
            dlclose(h); /* drop the extra reference */
            *out = l;
            return 0;
        }
    }
    m = dlsym(h, DLP_MANIFEST_SYMBOL);
    if (m) {
        /* Check the version before reading any other field. */
        /* Copy what the message needs: m is gone after dlclose. */
        uint32_t abi = m->abi, size = m->size;
        if (abi != DLP_PLUGIN_ABI) {
            dlclose(h);
            return dlp__err(err, DLP_EABI,
                            "plugin '%s': manifest ABI %u, this dlpool reads "
                            "ABI %d",
                            path, (unsigned)abi, DLP_PLUGIN_ABI);
        }
        if (size < sizeof(dlp_manifest)) {
            dlclose(h);
            return dlp__err(err, DLP_EABI,
                            "plugin '%s': manifest is %u bytes, expected at "
                            "least %zu",
                            path, (unsigned)size, sizeof(dlp_manifest));
        }
        if (m->host)
            *m->host = &dlp__host_api;
        if (m->init) {
            int irc = m->init();
            if (irc != 0) {
                dlclose(h);
                return dlp__err(err, DLP_EINIT,
                                "plugin '%s': init hook returned %d", path,
                                irc);
            }
        }
    }
    l = calloc(1, sizeof *l);
    if (!l || !(l->path = strdup(path))) {
        free(l);
        dlclose(h);
        return dlp__err(err, -ENOMEM, "out of memory");
    }
    l->handle = h;
    l->m = m;
    l->next = L->head;
    L->head = l;
    *out = l;
    return 0;
}

int dlp__load_manifest(dlp__loader *L, const char *plugin,
                       const dlp_manifest **out, dlp_error *err)
{
    struct dlp__loaded *l;
    int rc = load_plugin(L, plugin, &l, err);
    *out = rc ? NULL : l->m;
    return rc;
}

/* Prefix a signature error with the plugin and function it belongs to. */
static int sig_error(dlp_error *err, int rc, const char *plugin,
                     const char *symbol)
{
    char inner[sizeof err->msg];
    snprintf(inner, sizeof inner, "%s", err ? err->msg : "");
    return dlp__err(err, rc, "plugin '%s', function '%s': %s", plugin,
                    symbol, inner);
}

int dlp__load_fn(dlp__loader *L, const char *plugin, const char *symbol,
                 const char *sig_text, dlp__fn *fn, dlp_error *err)
{
    struct dlp__loaded *l;
    const char *msig = NULL;
    int rc;

    memset(fn, 0, sizeof *fn);
    if ((rc = load_plugin(L, plugin, &l, err)))
        return rc;
    if (l->m) {
        for (size_t i = 0; i < l->m->nfns; i++) {
            const dlp_fn_entry *e = &l->m->fns[i];
            if (e->name && strcmp(e->name, symbol) == 0) {
                fn->addr = e->fn;
                msig = e->sig;
                break;
            }
        }
    }
    if (!fn->addr) {
        void *p;
        dlerror();
        p = dlsym(l->handle, symbol);
        if (!p && !*plugin)
            return dlp__err(err, DLP_ENOSYM,
                            "the program has no exported function '%s' "
                            "(link it with -rdynamic, and do not make the "
                            "function static)",
                            symbol);
        if (!p)
            return dlp__err(err, DLP_ENOSYM,
                            "plugin '%s' has no function '%s'%s", plugin,
                            symbol,
                            l->m ? " (not in its manifest, and no such "
                                   "exported symbol)"
                                 : "");
        /* POSIX guarantees a data pointer from dlsym converts to a
         * function pointer; memcpy keeps ISO C compilers quiet. */
        memcpy(&fn->addr, &p, sizeof p);
    }
    if (msig) {
        if ((rc = dlp_sig_parse(msig, &fn->sig, err)))
            return sig_error(err, rc, plugin, symbol);
        if (sig_text && *sig_text) {
            dlp_sig given;
            if ((rc = dlp_sig_parse(sig_text, &given, err)))
                return sig_error(err, rc, plugin, symbol);
            if (!dlp__sig_equal(&given, &fn->sig))
                return dlp__err(err, DLP_ESIG,
                                "plugin '%s', function '%s': the manifest "
                                "says '%s', the given signature is '%s'",
                                plugin, symbol, msig, sig_text);
        }
    } else if (sig_text && *sig_text) {
        if ((rc = dlp_sig_parse(sig_text, &fn->sig, err)))
            return sig_error(err, rc, plugin, symbol);
    } else {
        return dlp__err(err, DLP_ENOSIG,
                        "plugin '%s': '%s' has no manifest entry; give its "
                        "signature (for example --sig 'f64(f64)')",
                        plugin, symbol);
    }
    return dlp__invoke_prep(fn, symbol, err);
}

void dlp__unload_all(dlp__loader *L)
{
    struct dlp__loaded *l = L->head, *next;
    for (; l; l = next) {
        next = l->next;
        if (l->m && l->m->fini)
            l->m->fini();
        /* No dlclose: the worker is about to exit, and a plugin's
         * destructors may still be referenced by atexit handlers. */
        free(l->path);
        free(l);
    }
    L->head = NULL;
}
