#!/usr/bin/env bash
# exports.sh - the dynamic symbols of libdlpool are exactly the functions
# the public header declares with DLP_API: nothing internal (dlp__*) leaks
# into the ABI, and nothing public goes missing.  A plugin exports only
# its manifest.
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init exports

T=$TL_TMP
LIB=$top_builddir/.libs/libdlpool.so
PLUGIN=$DLPOOL_EXAMPLES/examples.so
HEADERS="$top_srcdir/include/dlpool.h $top_srcdir/include/dlpool/val.h"

if ! command -v nm >/dev/null 2>&1; then
    tl_skip "nm (binutils) is not installed"
fi
if [ ! -e "$LIB" ]; then
    if grep -q '^build_libtool_libs=no' "$top_builddir/libtool" 2>/dev/null; then
        tl_skip "shared libraries are disabled in this build"
    fi
fi
tl_need_file "$LIB" "the shared library"
tl_need_file "$PLUGIN" "the example plugin"

# The defined dynamic symbols of a shared object, sorted.
exported() {
    nm -D --defined-only "$1" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' | sort -u
}

# Every DLP_API declaration names its function before the first '(',
# possibly on a later line.
sed -n '/^DLP_API/{
:a
/(/!{
N
ba
}
s/(.*//
s/.*[^A-Za-z0-9_]//
p
}' $HEADERS | sort -u >"$T/header.syms"

n=$(wc -l <"$T/header.syms")
if [ "$n" -ge 10 ] && ! grep -qv '^dlp_[a-z]' "$T/header.syms"; then
    tl_pass "the header declares $n public dlp_ functions"
else
    tl_fail "the header declares the public dlp_ functions" \
        "expected ten or more names of the form dlp_*, read from DLP_API lines"
    tl_show "got" "$T/header.syms"
fi

exported "$LIB" >"$T/lib.syms"
check_files "libdlpool exports exactly the functions declared in dlpool.h" \
    "$T/header.syms" "$T/lib.syms"
check_no_grep "libdlpool exports no internal dlp__ name" '^dlp__' "$T/lib.syms"

# The static library, when built, holds the same public functions.
if [ -e "$top_builddir/.libs/libdlpool.a" ]; then
    nm --defined-only -g "$top_builddir/.libs/libdlpool.a" 2>/dev/null |
        awk 'NF >= 3 && $3 ~ /^dlp_[a-z]/ { print $3 }' | sort -u >"$T/static.syms"
    check_files "libdlpool.a defines every public function" \
        "$T/header.syms" "$T/static.syms"
fi

exported "$PLUGIN" >"$T/plugin.syms"
check_text "examples.so exports only its manifest" "$T/plugin.syms" <<'EOF'
dlp_plugin_manifest
EOF

tl_finish
