#!/usr/bin/env bash
# readme.sh - the C examples of README.md compile with -Werror against
# this build and print what the README says they print: the front door
# stays true.
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init readme
tl_need_runner

T=$TL_TMP
CC=${CC:-cc}
if ! command -v "$CC" >/dev/null 2>&1; then
    tl_skip "no C compiler ($CC)"
fi
if ! command -v python3 >/dev/null 2>&1; then
    tl_skip "python3 is needed to cut the examples out of README.md"
fi
LIBDIR=$top_builddir/.libs
tl_need_file "$LIBDIR/libdlpool.so" "the shared library"

# The first C block after a heading; a block without main() is wrapped in
# one.
python3 - "$top_srcdir/README.md" "$T" <<'PY' || exit 1
import sys
text = open(sys.argv[1], encoding="utf-8").read()
for name, heading in (("api", "## The C API"),
                      ("process", "### Process and Pipe")):
    i = text.index(heading)
    j = text.index("```c\n", i) + 5
    code = text[j:text.index("```", j)]
    if "int main" not in code:
        code = ("#include <stdio.h>\n#include <dlpool.h>\n"
                "int main(void)\n{\n" + code + "    return 0;\n}\n")
    open(f"{sys.argv[2]}/{name}.c", "w", encoding="utf-8").write(code)
PY

for ex in api process; do
    # shellcheck disable=SC2086 # SAN_CFLAGS is a list of flags.
    if "$CC" -std=c11 -Wall -Wextra -Werror ${SAN_CFLAGS:-} \
        -I"$top_srcdir/include" \
        -o "$T/$ex" "$T/$ex.c" -L"$LIBDIR" -ldlpool \
        -Wl,-rpath,"$LIBDIR" >"$T/$ex.cc" 2>&1; then
        tl_pass "README's $ex example compiles with -Werror"
    else
        tl_fail "README's $ex example compiles with -Werror"
        tl_show "compiler output" "$T/$ex.cc"
    fi
done

tl_run /dev/null env DLPOOL_PLUGIN_PATH="$DLPOOL_EXAMPLES" "$T/api"
check_status "the C API example runs" 0
check_eq "it prints add(2, 40) first" "add(2, 40) = 42" "$(head -n 1 "$TL_OUT")"
check_eq "then add(i, 10) for i = 0..999, in order" \
    "$(seq 10 1009)" "$(tail -n +2 "$TL_OUT")"

tl_run /dev/null env DLPOOL_PLUGIN_PATH="$DLPOOL_EXAMPLES" "$T/process"
check_status "the Process and Pipe example runs and its child exits 0" 0
check_text "it prints the calculator's 3, 4, 5" "$TL_OUT" <<'TXT'
3
4
5
TXT
# Every code fence of the Markdown files is a line of its own: a closing
# fence with text after it opens a block that swallows the rest of the
# page in every renderer.
bad=$(cd "$top_srcdir" && python3 - README.md DESIGN-NOTES.md \
        bench/README.md tests/fuzz/README.md <<'PY'
import sys
for name in sys.argv[1:]:
    inside = False
    for n, line in enumerate(open(name, encoding="utf-8"), 1):
        line = line.rstrip("\n")
        if line.startswith("```"):
            if inside and line != "```":
                print(f"{name}:{n}: {line}")
            inside = not inside
    if inside:
        print(f"{name}: a code block is never closed")
PY
)
check_eq "every code block of the Markdown files closes on a line alone" "" "$bad"

tl_finish
