#!/usr/bin/env bash
# layering.sh - the shape of the sources, checked on the built objects:
#   - no framework source or header is longer than 900 lines;
#   - every internal header declares only functions its own .c defines
#     (framework/loop.h: functions of loop.c, and so on);
#   - no two files call each other in a circle: the graph "file A calls a
#     function file B defines" has no cycle (tsort finds one if it has);
#   - DESIGN-NOTES.md's module table names every framework source file.
# The graph is read with nm from the objects make built, so it is the
# code's own, not a list kept by hand.
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init layering

T=$TL_TMP
LIMIT=900

if ! command -v nm >/dev/null 2>&1; then
    tl_skip "nm (binutils) is not installed"
fi
if ! command -v tsort >/dev/null 2>&1; then
    tl_skip "tsort (coreutils) is not installed"
fi

# ---- length ---------------------------------------------------------------
long=$(find "$top_srcdir/framework" -name '*.[ch]' -print0 |
    xargs -0 wc -l | awk -v max=$LIMIT '$2 != "total" && $1 > max {
        sub(".*/framework/", "framework/", $2); print $2 " (" $1 " lines)" }')
if [ -z "$long" ]; then
    tl_pass "every framework source is at most $LIMIT lines"
else
    mapfile -t longs <<<"$long"
    tl_fail "framework sources over $LIMIT lines" "${longs[@]}"
fi

# ---- the objects: one per source file, named by the source's stem --------
# Each source's object beside it in the build tree (make names it
# TARGET-STEM.o); libtool keeps the PIC one in .libs/ and, with static
# libraries too, a second copy beside it: the PIC one is taken.  Objects
# that only the tests and fuzz targets compile are left out, and so are
# objects of sources that no longer exist.
: >"$T/objs"
while IFS= read -r c; do
    rel=${c#"$top_srcdir"/}
    dir=$top_builddir/${rel%/*}
    stem=${rel##*/}
    stem=${stem%.c}
    o=$(find "$dir/.libs" "$dir" -maxdepth 1 -name "*-$stem.o" ! -name 'tests_*' \
        2>/dev/null | head -n 1)
    [ -n "$o" ] && echo "$stem $o" >>"$T/objs"
done < <(find "$top_srcdir/framework" -name '*.c' | sort)
stems=$(awk '{ print $1 }' "$T/objs" | sort | uniq -d)
if [ -n "$stems" ]; then
    tl_fail "source file names" "expected each framework source's name once, found twice: $stems"
fi
nobj=$(wc -l <"$T/objs")
if [ "$nobj" -lt 10 ]; then
    tl_fail "objects found" "expected the framework's objects under $top_builddir/framework, found $nobj"
    tl_finish
fi
tl_pass "found $nobj framework objects"

# Global functions and data of each object, and what each uses.
: >"$T/defs"
: >"$T/uses"
while read -r stem o; do
    nm --defined-only -g "$o" | awk -v s="$stem" 'NF >= 3 && $3 ~ /^dlp/ { print $3, s }' >>"$T/defs"
    nm -u "$o" | awk -v s="$stem" '$NF ~ /^dlp/ { print s, $NF }' >>"$T/uses"
done <"$T/objs"
sort -u -o "$T/defs" "$T/defs"

dups=$(awk '{ n[$1]++; f[$1] = f[$1] " " $2 } END { for (s in n) if (n[s] > 1) print s ":" f[s] }' "$T/defs")
if [ -z "$dups" ]; then
    tl_pass "every global symbol is defined once"
else
    mapfile -t d <<<"$dups"
    tl_fail "global symbols defined in several files" "${d[@]}"
fi

# ---- the call graph --------------------------------------------------------
awk 'NR == FNR { def[$1] = $2; next }
     ($2 in def) && def[$2] != $1 { print $1, def[$2] }' \
    "$T/defs" "$T/uses" | sort -u >"$T/edges"
if tsort "$T/edges" >/dev/null 2>"$T/tsort.err"; then
    tl_pass "no two files call each other in a circle ($(wc -l <"$T/edges") edges)"
else
    # Name every edge of each loop tsort found, with a symbol it uses.
    # tsort prints each loop's files in call order after a header line.
    detail=()
    loop_edges() {
        local i a b sym
        for ((i = 0; i < ${#loop[@]}; i++)); do
            a=${loop[i]}
            b=${loop[(i + 1) % ${#loop[@]}]}
            sym=$(awk -v a="$a" -v b="$b" 'NR == FNR { def[$1] = $2; next }
                    $1 == a && def[$2] == b { print $2; exit }' "$T/defs" "$T/uses")
            [ -n "$sym" ] && detail+=("$a -> $b ($sym)")
        done
        [ ${#loop[@]} -gt 0 ] && detail+=("--")
        loop=()
    }
    loop=()
    while IFS= read -r line; do
        case $line in
        *"input contains a loop"*) loop_edges ;;
        "tsort: "*) loop+=("${line#tsort: }") ;;
        esac
    done <"$T/tsort.err"
    loop_edges
    tl_fail "files calling each other in a circle" "${detail[@]}"
fi

# ---- headers declare their own file's functions ---------------------------
# A DLP_PRIV declaration names its function before the first '(' (perhaps
# on a later line); static inline functions live in the header itself.
bad=()
while IFS= read -r h; do
    stem=${h##*/}
    stem=${stem%.h}
    grep -q "^$stem " "$T/objs" || continue
    while IFS= read -r fn; do
        owner=$(awk -v f="$fn" '$1 == f { print $2; exit }' "$T/defs")
        if [ -n "$owner" ] && [ "$owner" != "$stem" ]; then
            bad+=("${h#"$top_srcdir"/}: $fn is defined in $owner.c")
        fi
    done < <(sed -n '/^DLP_PRIV/{
:a
/(/!{
N
ba
}
s/(.*//
s/.*[^A-Za-z0-9_]//
p
}' "$h")
done < <(find "$top_srcdir/framework" -name '*.h')
if [ ${#bad[@]} -eq 0 ]; then
    tl_pass "every internal header declares only its own file's functions"
else
    tl_fail "headers declaring other files' functions" "${bad[@]}"
fi

# ---- the module table -----------------------------------------------------
missing=()
table=$(sed -n '/^## Modules/,/^## /p' "$top_srcdir/DESIGN-NOTES.md")
while IFS= read -r c; do
    rel=${c#"$top_srcdir"/}
    if ! grep -qF "\`$rel\`" <<<"$table" &&
       ! grep -qF "\`${rel%.c}.[ch]\`" <<<"$table"; then
        missing+=("$rel")
    fi
done < <(find "$top_srcdir/framework" -name '*.c' | sort)
if [ ${#missing[@]} -eq 0 ]; then
    tl_pass "DESIGN-NOTES.md's module table names every framework source"
else
    tl_fail "sources missing from DESIGN-NOTES.md's module table" "${missing[@]}"
fi

tl_finish
