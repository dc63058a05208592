#!/usr/bin/env bash
# external.sh - dlpool as someone outside this tree uses it: install it
# into a temporary directory, build a plugin with nothing but the
# installed <dlpool/plugin.h>, build a program with nothing but the
# installed <dlpool.h>, libdlpool and pkg-config, and run both, and the
# installed dlpool command, on that plugin.
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init external
tl_need_runner

CC=${CC:-cc}
if ! command -v "$CC" >/dev/null 2>&1; then
    tl_skip "no C compiler ($CC) to build a plugin with"
fi
if ! command -v pkg-config >/dev/null 2>&1; then
    tl_skip "pkg-config is not installed"
fi
MAKE=${MAKE:-make}
if ! command -v "$MAKE" >/dev/null 2>&1; then
    tl_skip "no make ($MAKE) to install with"
fi

T=$TL_TMP
D=$T/dest
STRICT="-Wall -Wextra -Werror -std=c99 -pedantic"

# The installation directories as this build's Makefile has them.
cat >"$T/print.mk" <<'EOF'
print-%:
	@echo '$($*)'
EOF
mapfile -t dirs < <(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "$MAKE" -s \
    --no-print-directory -C "$top_builddir" -f Makefile -f "$T/print.mk" \
    print-bindir print-libdir print-includedir print-pkgconfigdir print-plugindir)
bindir=${dirs[0]:-}
libdir=${dirs[1]:-}
includedir=${dirs[2]:-}
pkgconfigdir=${dirs[3]:-}
plugindir=${dirs[4]:-}
for d in "$bindir" "$libdir" "$includedir" "$pkgconfigdir" "$plugindir"; do
    if [ "${d#/}" = "$d" ]; then
        tl_fail "the Makefile names the installation directories" \
            "expected five absolute directories, got: ${dirs[*]}"
        tl_finish
    fi
done

# Install.  The sub-make gets no jobserver of the make running the tests.
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "$MAKE" -s -C "$top_builddir" \
    install DESTDIR="$D" >"$T/install.log" 2>&1; then
    tl_pass "make install DESTDIR=..."
else
    tl_fail "make install DESTDIR=..."
    tl_show "its output" "$T/install.log"
    tl_finish
fi

check_installed() {
    if [ -f "$D$1" ]; then
        tl_pass "installed $1"
    else
        tl_fail "installed $1" "expected the file $D$1; the installation holds:"
        (cd "$D" && find . -type f | sort | head -n 40 | sed 's/^/      | /')
    fi
}
check_installed "$includedir/dlpool.h"
check_installed "$includedir/dlpool/plugin.h"
check_installed "$libdir/libdlpool.so"
if "$top_builddir/libtool" --features | grep -q 'enable static libraries'; then
    check_installed "$libdir/libdlpool.a"
else
    tl_note "static libraries are disabled in this build: libdlpool.a not expected"
fi
check_installed "$bindir/dlpool"
check_installed "$pkgconfigdir/dlpool.pc"
check_installed "$plugindir/examples.so"
check_eq "test plugins are not installed" "" \
    "$(cd "$D" && find . -name 'testplug*' -o -name 'crashload*' | head -n 5)"

# pkg-config, pointed at the temporary installation: its .pc file, with
# every path in it under the temporary root.
export PKG_CONFIG_PATH="$D$pkgconfigdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_SYSROOT_DIR=$D
if pcflags=$(pkg-config --cflags dlpool 2>"$T/pc.err") &&
    pclibs=$(pkg-config --libs dlpool 2>>"$T/pc.err"); then
    tl_pass "pkg-config finds the installed dlpool"
else
    tl_fail "pkg-config finds the installed dlpool"
    tl_show "pkg-config said" "$T/pc.err"
    tl_finish
fi
check_eq "pkg-config --cflags points into the installation" yes \
    "$([[ " $pcflags " == *" -I$D$includedir "* ]] && echo yes || echo "no: $pcflags")"
check_eq "pkg-config --libs points into the installation" yes \
    "$([[ " $pclibs " == *" -L$D$libdir "* && " $pclibs " == *" -ldlpool "* ]] &&
        echo yes || echo "no: $pclibs")"
check_eq "pkg-config --modversion" \
    "$(sed -n 's/^#define DLPOOL_VERSION_STRING "\(.*\)"/\1/p' "$D$includedir/dlpool.h")" \
    "$(pkg-config --modversion dlpool)"

# A plugin written against the installed header alone.
mkdir -p "$T/mine"
cat >"$T/mine/mine.c" <<'EOF'
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <dlpool/plugin.h>

static int64_t add(int64_t a, int64_t b)
{
    return a + b;
}

static char *shout(const char *s)
{
    size_t n = strlen(s), i;
    char *out = malloc(n + 1);
    if (!out) {
        dlp_fail("out of memory for %lu bytes", (unsigned long)n + 1);
        return NULL;
    }
    for (i = 0; i <= n; i++)
        out[i] = (char)toupper((unsigned char)s[i]);
    return out;
}

static double mean(double a, double b)
{
    return (a + b) / 2;
}

DLP_PLUGIN("mine",
    DLP_FN(add, "i64(i64,i64)"),
    DLP_FN(shout, "str!(str)"),
    DLP_FN(mean, "f64(f64,f64)"));
EOF
PLUGIN=$T/mine/mine.so
# shellcheck disable=SC2086
if "$CC" -shared -fPIC $pcflags -o "$PLUGIN" "$T/mine/mine.c" >"$T/cc.log" 2>&1; then
    tl_pass "a plugin builds with the installed <dlpool/plugin.h>"
else
    tl_fail "a plugin builds with the installed <dlpool/plugin.h>"
    tl_show "the compiler said" "$T/cc.log"
    tl_finish
fi
# shellcheck disable=SC2086
if "$CC" -shared -fPIC $STRICT $pcflags -o "$T/mine/strict.so" "$T/mine/mine.c" \
    >"$T/cc.log" 2>&1; then
    tl_pass "the plugin builds with $STRICT"
else
    tl_fail "the plugin builds with $STRICT"
    tl_show "the compiler said" "$T/cc.log"
fi

# A program that maps the plugin's add over a few tuples.
cat >"$T/mine/mapadd.c" <<'EOF'
#include <stdio.h>

#include <dlpool.h>

static const int64_t pairs[][2] = {
    {1, 2}, {40, 2}, {-10, 5}, {INT64_C(1000000000000), 1}, {0, 0}};

static int next_pair(void *ud, uint64_t index, dlp_args *a)
{
    (void)ud;
    if (index >= sizeof pairs / sizeof pairs[0])
        return 0;
    dlp_args_int(a, pairs[index][0]);
    dlp_args_int(a, pairs[index][1]);
    return 1;
}

int main(int argc, char **argv)
{
    dlp_pool_options opts;
    dlp_pool *pool = NULL;
    dlp_job *job = NULL;
    dlp_error err;
    dlp_result r;
    char ref[4096];
    int fn, rc;

    if (argc != 2) {
        fprintf(stderr, "usage: mapadd PLUGIN\n");
        return 2;
    }
    snprintf(ref, sizeof ref, "%s:add", argv[1]);
    dlp_pool_options_init(&opts);
    opts.workers = 2;
    if ((rc = dlp_pool_create(&pool, &opts, &err))) {
        fprintf(stderr, "mapadd: %s: %s\n", dlp_strerror(rc), err.msg);
        return 2;
    }
    fn = dlp_pool_fn(pool, ref, NULL, &err);
    if (fn < 0) {
        fprintf(stderr, "mapadd: %s: %s\n", dlp_strerror(fn), err.msg);
        dlp_pool_destroy(pool);
        return 2;
    }
    if ((rc = dlp_job_create(&job, pool, fn, next_pair, NULL, NULL, &err))) {
        fprintf(stderr, "mapadd: %s: %s\n", dlp_strerror(rc), err.msg);
        dlp_pool_destroy(pool);
        return 2;
    }
    while ((rc = dlp_job_next(job, &r, &err)) == 1) {
        if (r.fail)
            printf("task %lu failed: %s\n", (unsigned long)r.index, r.error);
        else
            printf("%lld\n", (long long)r.v.i);
    }
    if (rc < 0)
        fprintf(stderr, "mapadd: %s: %s\n", dlp_strerror(rc), err.msg);
    dlp_job_destroy(job);
    dlp_pool_destroy(pool);
    return rc < 0 ? 1 : 0;
}
EOF
# shellcheck disable=SC2086
# A sanitizer build's libdlpool needs the sanitizer runtime in the program.
if "$CC" $STRICT ${SAN_CFLAGS:-} $pcflags -o "$T/mine/mapadd" "$T/mine/mapadd.c" $pclibs \
    >"$T/cc.log" 2>&1; then
    tl_pass "a program builds with the installed <dlpool.h> and libdlpool ($STRICT)"
else
    tl_fail "a program builds with the installed <dlpool.h> and libdlpool ($STRICT)"
    tl_show "the compiler said" "$T/cc.log"
    tl_finish
fi

export LD_LIBRARY_PATH="$D$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if command -v ldd >/dev/null 2>&1; then
    ldd "$T/mine/mapadd" >"$T/ldd.prog" 2>&1
    check_grep "the program uses the installed libdlpool" \
        "libdlpool\.so.* => $D$libdir/libdlpool\.so" "$T/ldd.prog"
    ldd "$D$bindir/dlpool" >"$T/ldd.cmd" 2>&1
    check_grep "the installed dlpool uses the installed libdlpool" \
        "libdlpool\.so.* => $D$libdir/libdlpool\.so" "$T/ldd.cmd"
fi

tl_run /dev/null "$T/mine/mapadd" "$PLUGIN"
check_status "the program runs the plugin's add" 0
check_text "the program's results, in order" "$TL_OUT" <<'EOF'
3
42
-5
1000000000001
0
EOF
check_empty "the program: nothing on stderr" "$TL_ERR"

# The installed command on the new plugin.
DLPOOL=$D$bindir/dlpool
printf '%s\n' '[1,2]' '[40,2]' '[-10,5]' >"$T/add.in"
tl_run "$T/add.in" "$DLPOOL" run -j 2 "$PLUGIN:add"
check_status "installed dlpool run mine:add" 0
check_text "installed dlpool run mine:add: results" "$TL_OUT" <<'EOF'
3
42
-5
EOF

printf '%s\n' '"hi there"' '"dlpool"' >"$T/shout.in"
tl_run "$T/shout.in" "$DLPOOL" run "$PLUGIN:shout"
check_status "installed dlpool run mine:shout" 0
check_text "installed dlpool run mine:shout: results" "$TL_OUT" <<'EOF'
"HI THERE"
"DLPOOL"
EOF

printf '%s\n' '[1,2]' '[0.5,0.25]' >"$T/mean.in"
tl_run "$T/mean.in" "$DLPOOL" run "$PLUGIN:mean"
check_status "installed dlpool run mine:mean" 0
check_text "installed dlpool run mine:mean: results" "$TL_OUT" <<'EOF'
1.5
0.375
EOF

tl_run /dev/null "$DLPOOL" inspect "$PLUGIN"
check_status "installed dlpool inspect mine.so" 0
printf '# plugin mine, manifest ABI %s\nadd\ti64(i64,i64)\nshout\tstr!(str)\nmean\tf64(f64,f64)\n' \
    "$(sed -n 's/^#define DLP_PLUGIN_ABI \([0-9]*\).*/\1/p' "$D$includedir/dlpool/plugin.h")" \
    >"$T/inspect.want"
check_files "installed dlpool inspect mine.so: its manifest" "$T/inspect.want" "$TL_OUT"

# The installed example plugin, found by name in the installed plugin
# directory given through DLPOOL_PLUGIN_PATH.
tl_run "$T/add.in" env DLPOOL_PLUGIN_PATH="$D$plugindir" "$DLPOOL" run examples:add
check_status "installed dlpool run examples:add (installed plugin)" 0
check_text "installed dlpool run examples:add: results" "$TL_OUT" <<'EOF'
3
42
-5
EOF

tl_finish
