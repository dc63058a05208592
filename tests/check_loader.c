/*
 * check_loader.c - finding plugins and loading them, in this process.
 *
 * Every test runs in its own forked child, so a plugin dlopen()ed here
 * cannot leak into the next test.  crashload.so is never loaded here: it
 * kills the process that loads it, which the pool tests cover.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"
#include "testutil.h"

/* Assert that a call failed with exactly code, and that err says so on one
 * line.  A macro, so that a failure points at the call being checked. */
#define expect_code(rc, err, want)                                             \
    do {                                                                       \
        ck_assert_msg((rc) == (want),                                          \
                      "expected %d (%s), got %d (%s): %s", (want),             \
                      dlp_strerror(want), (rc), dlp_strerror(rc),              \
                      (err).msg);                                              \
        ck_assert_msg((err).code == (want),                                    \
                      "expected err.code %d (%s), got %d", (want),             \
                      dlp_strerror(want), (err).code);                         \
        ck_assert_msg(strchr((err).msg, '\n') == NULL,                         \
                      "expected a one-line message, got: %s", (err).msg);      \
    } while (0)

/* Assert that err's message mentions what, so a user can find the
 * culprit. */
#define expect_names(err, what)                                                \
    ck_assert_msg(strstr((err).msg, (what)) != NULL,                           \
                  "expected the message to name '%s', got: %s", (what),        \
                  (err).msg)

/* ---- fixture: plugin directories ------------------------------------- */

/*
 * Three directories made once per test case, in the Check runner itself
 * (an unchecked fixture), so that they are removed even when a test fails:
 *
 *   d1/plug      -> testplug.so      d2/plug      -> examples.so
 *   d1/both      -> testplug.so      d2/onlyd2    -> testplug.so
 *   d1/both.so   -> examples.so      d2/order     -> testplug.so
 *   d1/onlyso.so -> testplug.so      d2/notelf.so    (a text file)
 *   d1/order.so  -> examples.so      d3/             (empty)
 */
/* Short enough that every path made from them fits in PATH_MAX. */
static char dirs[3][256];
static char made[16][PATH_MAX];
static unsigned nmade;

static void real_plugin(const char *path, char *out)
{
    ck_assert_msg(realpath(path, out) != NULL,
                  "expected the plugin %s to exist, realpath failed: %s",
                  path, strerror(errno));
}

static void link_into(const char *dir, const char *name, const char *target)
{
    char *p = made[nmade++];
    snprintf(p, PATH_MAX, "%s/%s", dir, name);
    ck_assert_msg(symlink(target, p) == 0, "expected to create %s: %s", p,
                  strerror(errno));
}

static void setup_dirs(void)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    char testplug[PATH_MAX], examples[PATH_MAX];
    FILE *f;

    real_plugin(tu_plugin("testplug"), testplug);
    real_plugin(tu_examples(), examples);
    nmade = 0;
    for (int i = 0; i < 3; i++) {
        int n = snprintf(dirs[i], sizeof dirs[i],
                         "%s/dlpool-check-loader-XXXXXX",
                         tmp);
        ck_assert_msg(n > 0 && (size_t)n < sizeof dirs[i],
                      "expected TMPDIR to be shorter than %zu bytes, got %s",
                      sizeof dirs[i] - 32, tmp);
        ck_assert_msg(mkdtemp(dirs[i]) != NULL,
                      "expected a temporary directory: %s", strerror(errno));
    }
    link_into(dirs[0], "plug", testplug);
    link_into(dirs[0], "both", testplug);
    link_into(dirs[0], "both.so", examples);
    link_into(dirs[0], "onlyso.so", testplug);
    link_into(dirs[0], "order.so", examples);
    link_into(dirs[1], "plug", examples);
    link_into(dirs[1], "onlyd2", testplug);
    link_into(dirs[1], "order", testplug);
    snprintf(made[nmade], PATH_MAX, "%s/notelf.so", dirs[1]);
    f = fopen(made[nmade], "w");
    ck_assert_msg(f != NULL, "expected to create %s: %s", made[nmade],
                  strerror(errno));
    nmade++;
    fputs("this is a text file, not a shared object\n", f);
    fclose(f);
}

static void teardown_dirs(void)
{
    for (unsigned i = 0; i < nmade; i++)
        unlink(made[i]);
    for (int i = 0; i < 3; i++)
        rmdir(dirs[i]);
}

/* "dir/name" in static storage, for comparing with what was found. */
static const char *in_dir(int d, const char *name)
{
    static char buf[4][PATH_MAX];
    static unsigned n;
    char *p = buf[n++ % 4];
    snprintf(p, PATH_MAX, "%s/%s", dirs[d], name);
    return p;
}

/* "d1:d2" style search paths. */
static const char *path_of(int a, int b)
{
    static char buf[2 * PATH_MAX + 2];
    snprintf(buf, sizeof buf, "%s:%s", dirs[a], dirs[b]);
    return buf;
}

/* Find name on plugin_path, expecting success and the result want. */
static void expect_found(const char *name, const char *plugin_path,
                         const char *want)
{
    dlp_error err = {0};
    char *got = NULL;
    int rc = dlp__plugin_find(name, plugin_path, &got, &err);
    tu_ok(rc, err);
    ck_assert_ptr_nonnull(got);
    ck_assert_msg(strcmp(got, want) == 0,
                  "plugin '%s' on path '%s': expected '%s', got '%s'", name,
                  plugin_path ? plugin_path : "(null)", want, got);
    free(got);
}

/* ---- dlp__plugin_find -------------------------------------------------- */

START_TEST(test_find_slash_kept)
{
    /* A name with a '/' is a path: used as given, existing or not, and
     * never looked up in the directories. */
    expect_found("./plug", dirs[0], "./plug");
    expect_found("/no/such/dir/plug.so", dirs[0], "/no/such/dir/plug.so");
    expect_found(in_dir(1, "plug"), dirs[0], in_dir(1, "plug"));
}
END_TEST

START_TEST(test_find_bare_name)
{
    expect_found("plug", dirs[0], in_dir(0, "plug"));
}
END_TEST

START_TEST(test_find_so_suffix)
{
    expect_found("onlyso", dirs[0], in_dir(0, "onlyso.so"));
}
END_TEST

START_TEST(test_find_name_before_suffix)
{
    /* Within one directory, NAME is tried before NAME.so. */
    expect_found("both", dirs[0], in_dir(0, "both"));
}
END_TEST

START_TEST(test_find_first_dir_wins)
{
    expect_found("plug", path_of(0, 1), in_dir(0, "plug"));
    expect_found("plug", path_of(1, 0), in_dir(1, "plug"));
    /* The directory order counts for more than the suffix: d1/order.so
     * is found before d2/order. */
    expect_found("order", path_of(0, 1), in_dir(0, "order.so"));
}
END_TEST

START_TEST(test_find_later_dir)
{
    char path[3 * PATH_MAX + 8];
    expect_found("onlyd2", path_of(2, 1), in_dir(1, "onlyd2"));
    /* Empty components of the path are skipped. */
    snprintf(path, sizeof path, ":%s::%s:", dirs[2], dirs[1]);
    expect_found("onlyd2", path, in_dir(1, "onlyd2"));
}
END_TEST

START_TEST(test_find_missing_bare)
{
    /* Not found anywhere: the bare name is left to the system's library
     * search (which is how "libm.so.6" is found). */
    expect_found("dlpool-no-such-plugin", path_of(0, 1),
                 "dlpool-no-such-plugin");
    expect_found("libm.so.6", dirs[2], "libm.so.6");
}
END_TEST

START_TEST(test_find_env_path)
{
    /* A NULL plugin_path means the environment's DLPOOL_PLUGIN_PATH; an
     * empty one means no directory at all. */
    ck_assert_int_eq(setenv("DLPOOL_PLUGIN_PATH", path_of(2, 1), 1), 0);
    expect_found("onlyd2", NULL, in_dir(1, "onlyd2"));
    expect_found("onlyd2", "", "onlyd2");
    unsetenv("DLPOOL_PLUGIN_PATH");
    expect_found("onlyd2", NULL, "onlyd2");
}
END_TEST

START_TEST(test_find_then_load)
{
    /* What the parent finds is what a worker loads: the symlinks lead to
     * the plugin they name. */
    dlp__loader L = {0};
    dlp_error err = {0};
    const dlp_manifest *m = NULL;
    char *path = NULL;
    int rc = dlp__plugin_find("plug", path_of(1, 0), &path, &err);
    tu_ok(rc, err);
    rc = dlp__load_manifest(&L, path, &m, &err);
    tu_ok(rc, err);
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(m->name, "examples");
    free(path);
    dlp__unload_all(&L);
}
END_TEST

START_TEST(test_find_empty_name)
{
    dlp_error err = {0};
    char *out = (char *)"not touched";
    int rc = dlp__plugin_find("", dirs[0], &out, &err);
    expect_code(rc, err, DLP_EINVAL);
    ck_assert_ptr_null(out);
    out = (char *)"not touched";
    rc = dlp__plugin_find(NULL, dirs[0], &out, &err);
    expect_code(rc, err, DLP_EINVAL);
    ck_assert_ptr_null(out);
}
END_TEST

/* ---- dlp__load_fn ------------------------------------------------------ */

/* The canonical text of fn's signature. */
static const char *sig_text(const dlp__fn *fn)
{
    static char buf[256];
    int n = dlp_sig_format(&fn->sig, buf, sizeof buf);
    ck_assert_msg(n > 0 && (size_t)n < sizeof buf,
                  "expected a formatted signature, got length %d", n);
    return buf;
}

START_TEST(test_load_manifest_entry)
{
    dlp__loader L = {0};
    dlp_error err = {0};
    dlp__fn fn;
    int rc = dlp__load_fn(&L, tu_plugin("testplug"), "echo_i64", NULL, &fn,
                          &err);
    tu_ok(rc, err);
    ck_assert_ptr_nonnull(fn.addr);
    ck_assert_str_eq(sig_text(&fn), "i64(i64)");
    ck_assert_uint_eq(fn.ncargs, 1);

    rc = dlp__load_fn(&L, tu_plugin("testplug"), "concat", NULL, &fn, &err);
    tu_ok(rc, err);
    ck_assert_str_eq(sig_text(&fn), "str!(str,str)");
    ck_assert(fn.sig.ret_owned);

    /* bytes is passed as two C parameters, data and length. */
    rc = dlp__load_fn(&L, tu_plugin("testplug"), "bytes_hex", NULL, &fn,
                      &err);
    tu_ok(rc, err);
    ck_assert_uint_eq(fn.sig.nargs, 1);
    ck_assert_uint_eq(fn.ncargs, 2);
    dlp__unload_all(&L);
}
END_TEST

START_TEST(test_load_matching_sig)
{
    /* A given signature that says the same as the manifest is accepted,
     * however it is spelled. */
    dlp__loader L = {0};
    dlp_error err = {0};
    dlp__fn fn;
    int rc = dlp__load_fn(&L, tu_plugin("testplug"), "echo_i64",
                          " i64 ( i64 ) ", &fn, &err);
    tu_ok(rc, err);
    ck_assert_str_eq(sig_text(&fn), "i64(i64)");
    /* An empty signature means none was given. */
    rc = dlp__load_fn(&L, tu_plugin("testplug"), "echo_u8", "", &fn, &err);
    tu_ok(rc, err);
    ck_assert_str_eq(sig_text(&fn), "u8(u8)");
    dlp__unload_all(&L);
}
END_TEST

START_TEST(test_load_host_table)
{
    /* The loader hands the plugin its host table before any call, so
     * dlp_fail() in the plugin reaches the worker. */
    dlp__loader L = {0};
    dlp_error err = {0};
    const dlp_manifest *m = NULL;
    int rc = dlp__load_manifest(&L, tu_plugin("testplug"), &m, &err);
    tu_ok(rc, err);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(m->host);
    ck_assert_ptr_eq(*m->host, &dlp__host_api);
    dlp__unload_all(&L);
}
END_TEST

START_TEST(test_load_once)
{
    dlp__loader L = {0};
    dlp_error err = {0};
    const dlp_manifest *m1 = NULL, *m2 = NULL;
    struct dlp__loaded *first, *second;
    dlp__fn fn;
    int rc;

    rc = dlp__load_fn(&L, tu_plugin("testplug"), "echo_i64", NULL, &fn,
                      &err);
    tu_ok(rc, err);
    first = L.head;
    ck_assert_ptr_nonnull(first);

    /* New plugins are added at the head of the list: an unchanged head
     * means the second load found the first one and added nothing. */
    rc = dlp__load_fn(&L, tu_plugin("testplug"), "echo_u64", NULL, &fn,
                      &err);
    tu_ok(rc, err);
    ck_assert_msg(L.head == first,
                  "expected testplug to be loaded once, but a second entry "
                  "was added");
    rc = dlp__load_manifest(&L, tu_plugin("testplug"), &m1, &err);
    tu_ok(rc, err);
    ck_assert_ptr_eq(L.head, first);

    rc = dlp__load_manifest(&L, tu_examples(), &m2, &err);
    tu_ok(rc, err);
    second = L.head;
    ck_assert_msg(second != first,
                  "expected a second plugin to get an entry of its own");
    ck_assert_ptr_ne(m1, m2);

    /* Found again further down the list, not loaded again. */
    rc = dlp__load_manifest(&L, tu_plugin("testplug"), &m2, &err);
    tu_ok(rc, err);
    ck_assert_ptr_eq(L.head, second);
    ck_assert_ptr_eq(m1, m2);
    dlp__unload_all(&L);
}
END_TEST

START_TEST(test_load_plain_library)
{
    /* A shared library without a manifest works when the signature is
     * given. */
    dlp__loader L = {0};
    dlp_error err = {0};
    dlp__fn fn;
    int rc = dlp__load_fn(&L, "libm.so.6", "cbrt", "f64(f64)", &fn, &err);
    tu_ok(rc, err);
    ck_assert_ptr_nonnull(fn.addr);
    ck_assert_str_eq(sig_text(&fn), "f64(f64)");
    dlp__unload_all(&L);
}
END_TEST

/* ---- dlp__load_manifest and dlp__unload_all --------------------------- */

START_TEST(test_manifest_examples)
{
    static const char *const names[] = {"add",   "mean",   "shout",  "divide",
                                        "count", "length", "concat", "sum",
                                        "isum",  "stats",  "rgb",
                                        "calculator"};
    dlp__loader L = {0};
    dlp_error err = {0};
    const dlp_manifest *m = NULL;
    int rc = dlp__load_manifest(&L, tu_examples(), &m, &err);
    tu_ok(rc, err);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->abi, DLP_PLUGIN_ABI);
    ck_assert_str_eq(m->name, "examples");
    ck_assert_uint_eq(m->nfns, sizeof names / sizeof names[0]);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        ck_assert_str_eq(m->fns[i].name, names[i]);
        ck_assert_ptr_nonnull(m->fns[i].fn);
        ck_assert_ptr_nonnull(m->fns[i].sig);
    }
    dlp__unload_all(&L);
}
END_TEST

START_TEST(test_manifest_plain_library)
{
    dlp__loader L = {0};
    dlp_error err = {0};
    const dlp_manifest *m = (const dlp_manifest *)&err;
    int rc = dlp__load_manifest(&L, "libm.so.6", &m, &err);
    tu_ok(rc, err);
    ck_assert_msg(m == NULL, "expected no manifest in libm.so.6, got %p",
                  (const void *)m);
    ck_assert_ptr_nonnull(L.head);
    dlp__unload_all(&L);
}
END_TEST

START_TEST(test_unload_all)
{
    dlp__loader L = {0};
    dlp_error err = {0};
    const dlp_manifest *m;
    dlp__fn fn;
    int rc;

    /* Unloading nothing is harmless. */
    dlp__unload_all(&L);
    ck_assert_ptr_null(L.head);

    rc = dlp__load_manifest(&L, tu_examples(), &m, &err);
    tu_ok(rc, err);
    rc = dlp__load_fn(&L, tu_plugin("testplug"), "echo_str", NULL, &fn,
                      &err);
    tu_ok(rc, err);
    rc = dlp__load_fn(&L, "libm.so.6", "cbrt", "f64(f64)", &fn, &err);
    tu_ok(rc, err);
    dlp__unload_all(&L);
    ck_assert_ptr_null(L.head);

    /* The loader can be used again afterwards. */
    rc = dlp__load_fn(&L, tu_plugin("testplug"), "echo_str", NULL, &fn,
                      &err);
    tu_ok(rc, err);
    ck_assert_ptr_nonnull(L.head);
    dlp__unload_all(&L);
    ck_assert_ptr_null(L.head);
}
END_TEST

/* ---- errors ------------------------------------------------------------ */

START_TEST(test_err_no_symbol)
{
    dlp__loader L = {0};
    dlp_error err = {0};
    dlp__fn fn;
    const char *tp = tu_plugin("testplug");
    int rc = dlp__load_fn(&L, tp, "no_such_function", NULL, &fn, &err);
    expect_code(rc, err, DLP_ENOSYM);
    expect_names(err, tp);
    expect_names(err, "no_such_function");

    /* A symbol the plugin defines but does not export is not found
     * either. */
    rc = dlp__load_fn(&L, tp, "dlp_plugin_host_", "i64()", &fn, &err);
    expect_code(rc, err, DLP_ENOSYM);
    expect_names(err, "dlp_plugin_host_");

    /* The same in a plain library, with a signature given. */
    rc = dlp__load_fn(&L, "libm.so.6", "no_such_function", "f64(f64)", &fn,
                      &err);
    expect_code(rc, err, DLP_ENOSYM);
    expect_names(err, "libm.so.6");
    expect_names(err, "no_such_function");
    dlp__unload_all(&L);
}
END_TEST

START_TEST(test_err_no_sig)
{
    dlp__loader L = {0};
    dlp_error err = {0};
    dlp__fn fn;
    int rc = dlp__load_fn(&L, "libm.so.6", "cbrt", NULL, &fn, &err);
    expect_code(rc, err, DLP_ENOSIG);
    expect_names(err, "cbrt");
    expect_names(err, "libm.so.6");

    rc = dlp__load_fn(&L, "libm.so.6", "cbrt", "", &fn, &err);
    expect_code(rc, err, DLP_ENOSIG);

    /* An exported symbol of a plugin that is not in its manifest needs a
     * signature too. */
    rc = dlp__load_fn(&L, tu_plugin("testplug"), DLP_MANIFEST_SYMBOL, NULL,
                      &fn, &err);
    expect_code(rc, err, DLP_ENOSIG);
    expect_names(err, DLP_MANIFEST_SYMBOL);
    dlp__unload_all(&L);
}
END_TEST

START_TEST(test_err_sig_disagrees)
{
    dlp__loader L = {0};
    dlp_error err = {0};
    dlp__fn fn;
    const char *tp = tu_plugin("testplug");
    int rc = dlp__load_fn(&L, tp, "echo_i64", "i32(i32)", &fn, &err);
    expect_code(rc, err, DLP_ESIG);
    expect_names(err, tp);
    expect_names(err, "echo_i64");
    expect_names(err, "i64(i64)");
    expect_names(err, "i32(i32)");

    /* Owning the result is part of the signature. */
    rc = dlp__load_fn(&L, tp, "concat", "str(str,str)", &fn, &err);
    expect_code(rc, err, DLP_ESIG);
    expect_names(err, "str!(str,str)");
    dlp__unload_all(&L);
}
END_TEST

START_TEST(test_err_sig_malformed)
{
    /* A malformed given signature is refused, for a manifest function and
     * for a plain library alike. */
    dlp__loader L = {0};
    dlp_error err = {0};
    dlp__fn fn;
    int rc = dlp__load_fn(&L, tu_plugin("testplug"), "echo_i64", "i64(int)",
                          &fn, &err);
    expect_code(rc, err, DLP_ESIG);
    expect_names(err, "int");
    expect_names(err, tu_plugin("testplug"));
    expect_names(err, "echo_i64");
    rc = dlp__load_fn(&L, "libm.so.6", "cbrt", "f64(f64", &fn, &err);
    expect_code(rc, err, DLP_ESIG);
    expect_names(err, "f64(f64");
    expect_names(err, "libm.so.6");
    expect_names(err, "cbrt");
    dlp__unload_all(&L);
}
END_TEST

START_TEST(test_err_missing_file)
{
    dlp__loader L = {0};
    dlp_error err = {0};
    const dlp_manifest *m = (const dlp_manifest *)&err;
    dlp__fn fn;
    const char *path = "/no/such/dir/plugin.so";
    int rc = dlp__load_fn(&L, path, "f", "i64()", &fn, &err);
    expect_code(rc, err, DLP_ENOPLUGIN);
    expect_names(err, path);
    ck_assert_ptr_null(L.head);

    rc = dlp__load_manifest(&L, path, &m, &err);
    expect_code(rc, err, DLP_ENOPLUGIN);
    expect_names(err, path);
    ck_assert_ptr_null(m);

    /* A bare name the system's search does not know either. */
    rc = dlp__load_fn(&L, "dlpool-no-such-plugin.so", "f", "i64()", &fn,
                      &err);
    expect_code(rc, err, DLP_ENOPLUGIN);
    expect_names(err, "dlpool-no-such-plugin.so");
    ck_assert_ptr_null(L.head);
}
END_TEST

START_TEST(test_err_not_shared_object)
{
    dlp__loader L = {0};
    dlp_error err = {0};
    dlp__fn fn;
    const char *path = in_dir(1, "notelf.so");
    int rc = dlp__load_fn(&L, path, "f", "i64()", &fn, &err);
    expect_code(rc, err, DLP_ENOPLUGIN);
    expect_names(err, path);
    ck_assert_ptr_null(L.head);

    /* A directory is not a plugin either. */
    rc = dlp__load_fn(&L, dirs[2], "f", "i64()", &fn, &err);
    expect_code(rc, err, DLP_ENOPLUGIN);
    expect_names(err, dirs[2]);
}
END_TEST

START_TEST(test_err_bad_manifest_sig)
{
    dlp__loader L = {0};
    dlp_error err = {0};
    dlp__fn fn;
    const char *path = tu_plugin("badsig");
    int rc = dlp__load_fn(&L, path, "wrong", NULL, &fn, &err);
    expect_code(rc, err, DLP_ESIG);
    expect_names(err, path);
    expect_names(err, "wrong");
    expect_names(err, "i64(int)");
    /* The plugin itself loaded; only its function is refused. */
    ck_assert_ptr_nonnull(L.head);
    dlp__unload_all(&L);
}
END_TEST

START_TEST(test_err_init_hook)
{
    dlp__loader L = {0};
    dlp_error err = {0};
    const dlp_manifest *m = (const dlp_manifest *)&err;
    dlp__fn fn;
    const char *path = tu_plugin("badinit");
    int rc = dlp__load_fn(&L, path, "never", NULL, &fn, &err);
    expect_code(rc, err, DLP_EINIT);
    expect_names(err, path);
    expect_names(err, "7");
    /* A plugin whose init failed is not kept: every later use fails the
     * same way, instead of calling into a plugin that is not set up. */
    ck_assert_ptr_null(L.head);
    rc = dlp__load_manifest(&L, path, &m, &err);
    expect_code(rc, err, DLP_EINIT);
    ck_assert_ptr_null(m);
    ck_assert_ptr_null(L.head);
}
END_TEST

START_TEST(test_find_skips_directory)
{
    /* A directory named like the plugin (a common layout beside the .so)
     * must not shadow the plugin file. */
    char sub[PATH_MAX];
    snprintf(sub, sizeof sub, "%s/dirplug", dirs[2]);
    ck_assert_msg(mkdir(sub, 0700) == 0, "expected to create %s: %s", sub,
                  strerror(errno));
    link_into(dirs[2], "dirplug.so", tu_plugin("testplug"));
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/dirplug.so", dirs[2]);
    expect_found("dirplug", dirs[2], want);
    unlink(want);
    nmade--;
    rmdir(sub);
}
END_TEST

START_TEST(test_err_abi)
{
    /* A manifest of another ABI version is refused before any other field
     * is read, naming the plugin and both versions. */
    dlp__loader L = {0};
    dlp_error err = {0};
    dlp__fn fn;
    int rc = dlp__load_fn(&L, tu_plugin("badabi"), "never", NULL, &fn, &err);
    expect_code(rc, err, DLP_EABI);
    expect_names(err, tu_plugin("badabi"));
    expect_names(err, "ABI 99");
    ck_assert_ptr_null(L.head);
    dlp__unload_all(&L);
}
END_TEST

START_TEST(test_hooks_init_and_fini)
{
    /* init runs once when the plugin is loaded, before any call; fini runs
     * once when the worker's plugins are unloaded. */
    dlp__loader L = {0};
    dlp_error err = {0};
    dlp__fn fn;
    dlp__buf out = {0};
    dlp__rd r;
    char mark[PATH_MAX], line[64] = "";
    const char *tmp = getenv("TMPDIR");
    FILE *f;
    int64_t v;

    snprintf(mark, sizeof mark, "%s/dlpool-fini-%d", tmp && *tmp ? tmp : "/tmp",
             (int)getpid());
    unlink(mark);
    setenv("DLPOOL_TEST_FINI", mark, 1);
    int rc = dlp__load_fn(&L, tu_plugin("hooks"), "initialised", NULL, &fn,
                          &err);
    tu_ok(rc, err);
    dlp__rd_init(&r, "", 0);
    rc = dlp__invoke(&fn, 0, &r, &out);
    tu_ok(rc, err);
    ck_assert_uint_eq(out.len, DLP_RESULT_HDR + 8);
    memcpy(&v, out.p + DLP_RESULT_HDR, 8);
    ck_assert_msg(v == 42, "expected init to have set 42, got %lld",
                  (long long)v);
    ck_assert_msg(access(mark, F_OK) != 0,
                  "expected no fini mark before unloading, found %s", mark);
    dlp__unload_all(&L);
    f = fopen(mark, "r");
    ck_assert_msg(f != NULL, "expected fini to write %s: %s", mark,
                  strerror(errno));
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert_str_eq(line, "fini\n");
    ck_assert_ptr_null(fgets(line, sizeof line, f)); /* once only */
    fclose(f);
    unlink(mark);
    dlp__buf_free(&out);
}
END_TEST

Suite *dlp_test_loader(void);

Suite *dlp_test_loader(void)
{
    Suite *s = suite_create("loader");
    TCase *find = tcase_create("find");
    TCase *core = tcase_create("core");
    TCase *errors = tcase_create("errors");

    tcase_add_unchecked_fixture(find, setup_dirs, teardown_dirs);
    tcase_add_test(find, test_find_slash_kept);
    tcase_add_test(find, test_find_bare_name);
    tcase_add_test(find, test_find_so_suffix);
    tcase_add_test(find, test_find_name_before_suffix);
    tcase_add_test(find, test_find_first_dir_wins);
    tcase_add_test(find, test_find_later_dir);
    tcase_add_test(find, test_find_missing_bare);
    tcase_add_test(find, test_find_env_path);
    tcase_add_test(find, test_find_then_load);
    tcase_add_test(find, test_find_empty_name);
    tcase_add_test(find, test_find_skips_directory);
    suite_add_tcase(s, find);

    tcase_add_test(core, test_load_manifest_entry);
    tcase_add_test(core, test_load_matching_sig);
    tcase_add_test(core, test_load_host_table);
    tcase_add_test(core, test_load_once);
    tcase_add_test(core, test_load_plain_library);
    tcase_add_test(core, test_manifest_examples);
    tcase_add_test(core, test_manifest_plain_library);
    tcase_add_test(core, test_unload_all);
    tcase_add_test(core, test_hooks_init_and_fini);
    suite_add_tcase(s, core);

    tcase_add_unchecked_fixture(errors, setup_dirs, teardown_dirs);
    tcase_add_test(errors, test_err_no_symbol);
    tcase_add_test(errors, test_err_no_sig);
    tcase_add_test(errors, test_err_sig_disagrees);
    tcase_add_test(errors, test_err_sig_malformed);
    tcase_add_test(errors, test_err_missing_file);
    tcase_add_test(errors, test_err_not_shared_object);
    tcase_add_test(errors, test_err_bad_manifest_sig);
    tcase_add_test(errors, test_err_init_hook);
    tcase_add_test(errors, test_err_abi);
    suite_add_tcase(s, errors);
    return s;
}

TU_MAIN(dlp_test_loader)
