#!/usr/bin/env bash
# cli.sh - end-to-end tests of the dlpool command: JSON Lines in, results
# in input order out, one error line per failed task, exit statuses, and
# no process left behind once the command has exited.
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init cli
tl_need_runner

tl_need_dlpool

T=$TL_TMP
NULL_IN=/dev/null

# input FILE LINE...: write the lines, each followed by a newline.
input() {
    local f=$1
    shift
    printf '%s\n' "$@" >"$f"
}

# check_stderr_clean NAME: every line the command wrote on standard error
# is its own ("dlpool: ..." or the hint to --help): a worker writes nothing
# of the parent's there.
check_stderr_clean() {
    local own="^(dlpool: |Try 'dlpool --help'\\.$)"
    if grep -Evq "$own" "$TL_ERR"; then
        tl_fail "$1" "expected only lines of the command itself on stderr, got others:"
        grep -Evn "$own" "$TL_ERR" | head -n 20 | sed 's/^/      | /'
    else
        tl_pass "$1"
    fi
}

# check_input_error NAME LINE FRAGMENT: stdout has the error line of input
# line LINE ({"error":"line LINE: ...FRAGMENT...","index":LINE-1}) and
# stderr has the message, naming the task and the line.
check_input_error() {
    local name=$1 line=$2 frag=$3 got msg
    got=$(sed -n "${line}p" "$TL_OUT")
    local head="{\"error\":\"line $line: " tail="\",\"index\":$((line - 1))}"
    if [[ $got == "$head"*"$tail" && $got == *"$frag"* ]]; then
        tl_pass "$name: error line"
    else
        tl_fail "$name: error line" \
            "expected line $line: ${head}...${frag}...${tail}" \
            "got:             $got"
    fi
    msg=${got#"$head"}
    msg=${msg%"$tail"}
    # Standard error has the message as text, not as a JSON string.
    msg=${msg//\\\"/\"}
    if grep -Fxq -- "dlpool: task $((line - 1)) (line $line): $msg" "$TL_ERR"; then
        tl_pass "$name: message on stderr"
    else
        tl_fail "$name: message on stderr" \
            "expected the line: dlpool: task $((line - 1)) (line $line): $msg"
        tl_show "stderr" "$TL_ERR"
    fi
}

# ---- order -------------------------------------------------------------

# Tasks that sleep for different times finish out of order; the output must
# still follow the input.
: >"$T/sleepy.in"
: >"$T/sleepy.want"
for i in $(seq 1 45); do
    echo "[$(((i * 7) % 11 * 3)),$((i * 10))]" >>"$T/sleepy.in"
    echo "$((i * 10))" >>"$T/sleepy.want"
done
run "$T/sleepy.in" run -j 3 "$TP:sleepy"
check_status "ordered: exit status" 0
check_files "ordered: results in input order" "$T/sleepy.want" "$TL_OUT"
check_empty "ordered: nothing on stderr" "$TL_ERR"

run "$T/sleepy.in" run -j 3 --unordered "$TP:sleepy"
check_status "unordered: exit status" 0
sort "$TL_OUT" >"$T/unordered.got"
sort "$T/sleepy.want" >"$T/unordered.want"
check_files "unordered: the same results, in any order" "$T/unordered.want" "$T/unordered.got"

# ---- input errors ------------------------------------------------------

input "$T/i8.in" 1 '[300]' '"x"' '[1,2]' '{"a":' 2 '' '[null]' 3
run "$T/i8.in" run -j 2 "$TP:echo_i8"
check_status "input errors: exit status" 1
check_eq "input errors: good lines keep their place" "1|2|3" \
    "$(sed -n '1p;6p;9p' "$TL_OUT" | paste -sd '|')"
check_eq "input errors: one output line per input line" 9 "$(wc -l <"$TL_OUT")"
check_input_error "out of range (i8 300)" 2 "300"
check_input_error "wrong type (a string for i8)" 3 "string"
check_input_error "wrong arity" 4 "got 2"
check_input_error "bad JSON" 5 "JSON"
check_input_error "empty line" 7 "empty"
check_input_error "null argument" 8 "null"
check_grep "input errors: the count on stderr, by kind" '^dlpool: 6 of 9 tasks failed \(6 bad inputs\)$' "$TL_ERR"

input "$T/u64.in" -1 7
run "$T/u64.in" run "$TP:echo_u64"
check_status "u64 -1: exit status" 1
check_input_error "out of range (u64 -1)" 1 "-1"
check_eq "u64 -1: the next line still runs" 7 "$(sed -n 2p "$TL_OUT")"

input "$T/nul.in" '"a\u0000b"' '"ab"'
run "$T/nul.in" run "$TP:echo_str"
check_status "NUL in a str: exit status" 1
check_input_error "NUL in a str" 1 "NUL"
check_eq "NUL in a str: the next line still runs" '"ab"' "$(sed -n 2p "$TL_OUT")"

# Text that is not UTF-8 in an input line fails that line alone.
printf '"ok"\n"bad \377 byte"\n"fine"\n' >"$T/utf8.in"
run "$T/utf8.in" run "$TP:echo_str"
check_status "invalid UTF-8 in a line: exit status" 1
check_eq "invalid UTF-8 in a line: the line before" '"ok"' "$(sed -n 1p "$TL_OUT")"
got=$(sed -n 2p "$TL_OUT")
if [[ $got == '{"error":"line 2: bad JSON at column '*'unable to decode byte 0xff'*'","index":1}' ]]; then
    tl_pass "invalid UTF-8 in a line: error line names the byte"
else
    tl_fail "invalid UTF-8 in a line: error line names the byte" \
        "expected {\"error\":\"line 2: bad JSON at column N: unable to decode byte 0xff ...\",\"index\":1}" \
        "got: $got"
fi
check_eq "invalid UTF-8 in a line: the next line still runs" '"fine"' "$(sed -n 3p "$TL_OUT")"

# The whole range of u64 is valid input.
input "$T/u64max.in" 18446744073709551615 9223372036854775808
run "$T/u64max.in" run "$TP:echo_u64"
check_status "u64 above the i64 range: exit status" 0
check_text "u64 above the i64 range: echoed" "$TL_OUT" <<'EOF'
18446744073709551615
9223372036854775808
EOF

# ---- plugin errors -----------------------------------------------------

input "$T/odd.in" 1 2 3 4
run "$T/odd.in" run -j 2 "$TP:fail_odd"
check_status "dlp_fail: exit status" 1
check_eq "dlp_fail: good results keep their place" "2|4" \
    "$(sed -n '2p;4p' "$TL_OUT" | paste -sd '|')"
for k in 1 3; do
    got=$(sed -n "${k}p" "$TL_OUT")
    if [[ $got == '{"error":"odd value '$k*'","index":'$((k - 1))'}' && $got != *'"line '* ]]; then
        tl_pass "dlp_fail: the plugin's message for value $k"
    else
        tl_fail "dlp_fail: the plugin's message for value $k" \
            "expected: {\"error\":\"odd value $k...\",\"index\":$((k - 1))}" \
            "got:      $got"
    fi
done
check_grep "dlp_fail: message on stderr" "^dlpool: task 0 \(line 1\): odd value 1" "$TL_ERR"
check_stderr_clean "dlp_fail: every message is one line on stderr"
check_grep "dlp_fail: the count on stderr, by kind" '^dlpool: 2 of 4 tasks failed \(2 plugin errors\)$' "$TL_ERR"

input "$T/good.in" '[1,2]' '[3,4]'
run "$T/good.in" run "$EX:add"
check_status "all good: exit status 0" 0
check_text "all good: results" "$TL_OUT" <<'EOF'
3
7
EOF

# ---- set-up errors -----------------------------------------------------

input "$T/one.in" 1
run "$T/one.in" run "$T/nonexistent.so:f"
check_setup_error "plugin not found (path)" "$T/nonexistent.so"
run "$T/one.in" run nosuchplugin:f
check_setup_error "plugin not found (bare name)" "nosuchplugin"
echo "this is not a shared object" >"$T/text.so"
run "$T/one.in" run "$T/text.so:f"
check_setup_error "not a shared object" "$T/text.so"
run "$T/one.in" run "$TP:no_such_function"
check_setup_error "no such symbol" "no_such_function"
run "$T/one.in" run libm.so.6:cbrt
check_setup_error "no manifest entry and no --sig" "--sig"
run "$T/one.in" run --sig 'f64(f6)' libm.so.6:cbrt
check_setup_error "bad --sig names the column" "column 5"
run "$T/one.in" run "$TP:echo_i64" "$T/missing-input"
check_setup_error "missing input file" "$T/missing-input"
run "$T/one.in" run -j 0 "$TP:echo_i64"
check_setup_error "-j 0" "-j"
run "$T/one.in" run -j many "$TP:echo_i64"
check_setup_error "-j many" "many"
run "$T/one.in" run --frobnicate "$TP:echo_i64"
check_setup_error "unknown option" "--frobnicate"
run "$T/one.in" run
check_setup_error "missing PLUGIN:FUNCTION" "PLUGIN:FUNCTION"
run "$T/one.in" run "$TP"
check_setup_error "no function in the reference" "PLUGIN:FUNCTION"
run "$T/one.in" frobnicate
check_setup_error "unknown command" "frobnicate"
run "$T/one.in"
check_setup_error "no command" "command"
# A plugin that kills the worker loading it is a set-up error, not a hang.
run -t 10 "$T/one.in" run -j 2 "$DLPOOL_TEST_PLUGINS/crashload.so:never"
check_setup_error "plugin that crashes while loading" "crashload.so"
# A plugin that needs a library that is missing: set-up error naming the
# plugin (dlopen's RTLD_NOW makes it fail at load time, in a worker).
CC=${CC:-cc}
if command -v "$CC" >/dev/null 2>&1; then
    mkdir -p "$T/dep"
    printf 'int dep_value(void) { return 7; }\n' > "$T/dep/dep.c"
    printf '#include <dlpool/plugin.h>\nint dep_value(void);\nstatic int64_t use(int64_t v) { return v + dep_value(); }\nDLP_PLUGIN("needsdep", DLP_FN(use, "i64(i64)"));\n' > "$T/dep/needsdep.c"
    if "$CC" -shared -fPIC -o "$T/dep/libdlpdep.so" "$T/dep/dep.c" &&
        "$CC" -shared -fPIC -I"$top_srcdir/include" -o "$T/dep/needsdep.so" \
            "$T/dep/needsdep.c" -L"$T/dep" -ldlpdep; then
        rm -f "$T/dep/libdlpdep.so"
        run "$T/one.in" run -j 2 "$T/dep/needsdep.so:use"
        check_setup_error "plugin whose dependency is missing" "needsdep.so"
        check_grep "plugin whose dependency is missing: names the library" \
            "libdlpdep\.so" "$TL_ERR"
    else
        tl_fail "plugin whose dependency is missing: could build it" "a compiler that works"
    fi
else
    tl_note "no C compiler: the missing-dependency check is not run"
fi
run "$T/one.in" run -j 2 "$DLPOOL_TEST_PLUGINS/badinit.so:never"
check_status "plugin whose init hook fails: exit status" 2
check_grep "plugin whose init hook fails: names the plugin" "badinit\.so" "$TL_ERR"

# ---- libm through --sig ------------------------------------------------

input "$T/cbrt.in" 8 27 1000
run "$T/cbrt.in" run --sig 'f64(f64)' libm.so.6:cbrt
check_status "cbrt: exit status" 0
check_eq "cbrt(8)" 2.0 "$(sed -n 1p "$TL_OUT")"
check_eq "cbrt(1000)" 10.0 "$(sed -n 3p "$TL_OUT")"
if py=$(python3 -c 'import math; print(repr(math.cbrt(27.0)))' 2>/dev/null); then
    check_eq "cbrt(27) as libm computes it" "$py" "$(sed -n 2p "$TL_OUT")"
else
    tl_note "python3 with math.cbrt is not available: cbrt(27) not compared"
fi

# ---- values ------------------------------------------------------------

input "$T/bare.in" 5 '[5]' -7 '[-7]'
run "$T/bare.in" run "$TP:echo_i64"
check_status "one argument, bare or in an array: exit status" 0
check_text "one argument, bare or in an array" "$TL_OUT" <<'EOF'
5
5
-7
-7
EOF

input "$T/f64.in" 0.1 1e300 -0.0 2 0.30000000000000004 '[1.5]' -2.5e-8
run "$T/f64.in" run "$TP:echo_f64"
check_status "f64 output: exit status" 0
check_text "f64 output reads back to the same value" "$TL_OUT" <<'EOF'
0.1
1e+300
-0.0
2.0
0.30000000000000004
1.5
-2.5e-08
EOF

input "$T/f32.in" 0.1 16777216 -0.0
run "$T/f32.in" run "$TP:echo_f32"
check_text "f32 output is the shortest text of the float" "$TL_OUT" <<'EOF'
0.1
16777216.0
-0.0
EOF

# Quotes, backslashes, control characters and non-ASCII text, written in
# the input both escaped and raw.
cat >"$T/str.in" <<'EOF'
"say \"hi\""
"back\\slash"
"two\nlines\ttab"
"bell\u0007 unit\u0010"
"\u00e9\u2603\ud83d\ude00"
"é☃😀"
"slash/"
""
EOF
run "$T/str.in" run "$TP:echo_str"
check_status "str results: exit status" 0
check_text "str results are JSON-escaped" "$TL_OUT" <<'EOF'
"say \"hi\""
"back\\slash"
"two\nlines\ttab"
"bell\u0007 unit\u0010"
"é☃😀"
"é☃😀"
"slash/"
""
EOF

input "$T/utf8.in" '[]' '[]'
run "$T/utf8.in" run "$TP:bad_utf8"
check_status "a str result that is not UTF-8: exit status" 1
check_grep "a str result that is not UTF-8 fails its task" \
    '^\{"error":"[^"]*UTF-8[^"]*","index":0\}$' "$TL_OUT"
check_eq "a str result that is not UTF-8: one line per task" 2 "$(wc -l <"$TL_OUT")"
check_no_grep "a str result that is not UTF-8: not an input error" '"line 1:' "$TL_OUT"

# ---- structured values: val and T[] ------------------------------------

# concat(val, val) joins two lists: every kind of JSON value inside comes
# back as it went in (integers exact over the whole i64 and u64 ranges,
# doubles as their shortest text, maps with their keys in order).  A line
# with an integer past the i64 range is parsed again with every number as
# a real, each given its literal back: its other numbers must keep their
# own values, wherever they are nested.
cat >"$T/concat.in" <<'EOF'
[[1,2],[3,4]]
[[18446744073709551615,9223372036854775808,9223372036854775807,-9223372036854775808,-1,0],[]]
[[0.1,1e300,-0.0,2.0,-2.5e-8,5e-324],[1.5]]
[["é☃😀","\u00e9\ud83d\ude00","say \"hi\"","tab\tnl\n","nul\u0000x"],[""]]
[[{"b":1,"a":[2,{"x":null,"y":[true,false]}]},[[[]]],{}],[{"é":{"":[]}},null]]
[[{"x":-1,"y":[2.5,18446744073709551615,"9"]},3],[1e2,-0,{"z":-7}]]
[[],[]]
[ [ 1 , { "k" : 2 } ] , [ ] ]
EOF
run "$T/concat.in" run -j 2 "$EX:concat"
check_status "concat: exit status" 0
check_text "concat: every kind of value comes back as it went in" "$TL_OUT" <<'EOF'
[1,2,3,4]
[18446744073709551615,9223372036854775808,9223372036854775807,-9223372036854775808,-1,0]
[0.1,1e+300,-0.0,2.0,-2.5e-08,5e-324,1.5]
["é☃😀","é😀","say \"hi\"","tab\tnl\n","nul\u0000x",""]
[{"b":1,"a":[2,{"x":null,"y":[true,false]}]},[[[]]],{},{"é":{"":[]}},null]
[{"x":-1,"y":[2.5,18446744073709551615,"9"]},3,100.0,0,{"z":-7}]
[]
[1,{"k":2}]
EOF
check_empty "concat: nothing on stderr" "$TL_ERR"
# What the command writes reads back to the same values: fed to concat
# again (with an empty list), each output line comes back unchanged.
sed 's/^/[/; s/$/,[]]/' "$TL_OUT" >"$T/concat2.in"
cp "$TL_OUT" "$T/concat.out"
run "$T/concat2.in" run -j 2 "$EX:concat"
check_status "concat of its own output: exit status" 0
check_files "concat of its own output: the same text" "$T/concat.out" "$TL_OUT"

input "$T/concat-err.in" '[[1],{"a":1}]' '[[1],[2]]'
run "$T/concat-err.in" run "$EX:concat"
check_status "concat of a map: exit status" 1
check_eq "concat of a map: the plugin's message" \
    '{"error":"concat: argument 2: expected a list, got map","index":0}' \
    "$(sed -n 1p "$TL_OUT")"
check_eq "concat of a map: the next line still runs" '[1,2]' "$(sed -n 2p "$TL_OUT")"

# nest N: N lists, one in another.
nest() {
    local open='' close='' i
    for ((i = 0; i < $1; i++)); do
        open+='['
        close+=']'
    done
    echo "$open$close"
}
input "$T/deep.in" "[$(nest 100),[]]" '[[1],[2]]' "[$(nest 64),[]]" "[$(nest 65),[]]"
run "$T/deep.in" run -j 2 "$EX:concat"
check_status "values nested too deep: exit status" 1
check_input_error "100 levels of nesting" 1 "argument 1 (val): nested deeper than 64 levels"
check_eq "100 levels of nesting: the next line still runs" '[1,2]' "$(sed -n 2p "$TL_OUT")"
check_eq "64 levels of nesting are allowed" "$(nest 64)" "$(sed -n 3p "$TL_OUT")"
check_input_error "65 levels of nesting" 4 "argument 1 (val): nested deeper than 64 levels"
check_grep "values nested too deep: the count on stderr" '^dlpool: 2 of 4 tasks failed \(2 bad inputs\)$' "$TL_ERR"

input "$T/valerr.in" '[[{"a":1,"a":2}],[]]' '[[-99999999999999999999],[]]' \
    '[[18446744073709551616],[]]' '[[1],[2]]'
run "$T/valerr.in" run "$EX:concat"
check_status "bad val input: exit status" 1
check_input_error "a key given twice" 1 "duplicate object key"
check_input_error "an integer below the i64 range" 2 \
    "argument 1 (val): -99999999999999999999 is out of range [-9223372036854775808, 18446744073709551615]"
check_input_error "an integer above the u64 range" 3 \
    "argument 1 (val): 18446744073709551616 is out of range [-9223372036854775808, 18446744073709551615]"
check_eq "bad val input: the next line still runs" '[1,2]' "$(sed -n 4p "$TL_OUT")"

# A function of one T[] argument takes its array bare or as the list of
# arguments; integers fill a floating array.
input "$T/sum.in" '[1.5,2.5]' '[[0.25,0.5]]' '[]' '[1,2,3]' '[18446744073709551615]' \
    '[-99999999999999999999]'
run "$T/sum.in" run -j 2 "$EX:sum"
check_status "sum(f64[]): exit status" 0
check_text "sum(f64[])" "$TL_OUT" <<'EOF'
4.0
0.75
0.0
6.0
1.8446744073709552e+19
-1e+20
EOF

input "$T/isum.in" '[1,2,3]' '[-9223372036854775808,9223372036854775807]' '[]' \
    '[[40,2]]' '[9223372036854775807,1]'
run "$T/isum.in" run -j 2 "$EX:isum"
check_status "isum(i64[]): exit status" 1
check_text "isum(i64[]): sums, and overflow as the plugin's error" "$TL_OUT" <<'EOF'
6
-1
0
42
{"error":"isum: overflow at element 1","index":4}
EOF

input "$T/stats.in" '[1,2,3,4]' '[-0.5]' '[]' '[0.1,0.2]'
run "$T/stats.in" run -j 2 "$EX:stats"
check_status "stats(f64[]) -> val: exit status" 1
check_text "stats(f64[]) -> val: a map per line, keys in order" "$TL_OUT" <<'EOF'
{"n":4,"mean":2.5,"min":1.0,"max":4.0}
{"n":1,"mean":-0.5,"min":-0.5,"max":-0.5}
{"error":"stats: the array is empty","index":2}
{"n":2,"mean":0.15000000000000002,"min":0.1,"max":0.2}
EOF

input "$T/arrerr.in" '[1,"x",3]' '[1,2.5]' '[4,5]' '[1,null]' '[1,[2]]' \
    '[1,18446744073709551616]'
run "$T/arrerr.in" run -j 2 "$EX:isum"
check_status "bad array elements: exit status" 1
check_input_error "a string in an i64[]" 1 \
    "argument 1 (i64[]): element 1: expected a number, got a string"
check_input_error "a fraction in an i64[]" 2 \
    "argument 1 (i64[]): element 1: expected an integer, got 2.5"
check_eq "bad array elements: the next line still runs" 9 "$(sed -n 3p "$TL_OUT")"
check_input_error "null in an i64[]" 4 "argument 1 (i64[]): element 1: expected a number, got null"
check_input_error "an array in an i64[]" 5 "argument 1 (i64[]): element 1: expected a number, got an array"
check_input_error "an integer past u64 in an i64[]" 6 \
    "argument 1 (i64[]): element 1: 18446744073709551616 is out of range"

# rgb(u8[]): each element is range-checked for the narrower type.
input "$T/rgb.in" '[255,128,0]' '[1,256,3]' '[-1,0,0]' \
    '[0,18446744073709551615,-1]' '[9223372036854775808,-1,0]' '[1,2]'
run "$T/rgb.in" run -j 2 "$EX:rgb"
check_status "rgb(u8[]): exit status" 1
check_eq "rgb(u8[]): in range" '"#ff8000"' "$(sed -n 1p "$TL_OUT")"
check_input_error "256 in a u8[]" 2 "argument 1 (u8[]): element 1: 256 is out of range [0, 255]"
check_input_error "-1 in a u8[]" 3 "argument 1 (u8[]): element 0: -1 is out of range [0, 255]"
check_input_error "u64 max and -1 in a u8[]: the first is named" 4 \
    "argument 1 (u8[]): element 1: 18446744073709551615 is out of range [0, 255]"
check_input_error "2^63 and -1 in a u8[]: the first is named" 5 \
    "argument 1 (u8[]): element 0: 9223372036854775808 is out of range [0, 255]"
check_eq "rgb(u8[]): a plugin error after input errors" \
    '{"error":"rgb: expected 3 channels, got 2","index":5}' "$(sed -n 6p "$TL_OUT")"

input "$T/notarr.in" 5 '{"a":1}' '"abc"' 'null' '[[1],[2]]' '[1,2]'
run "$T/notarr.in" run -j 2 "$EX:sum"
check_status "not an array for f64[]: exit status" 1
check_input_error "an integer for f64[]" 1 "argument 1 (f64[]): expected an array of numbers, got an integer"
check_input_error "an object for f64[]" 2 "argument 1 (f64[]): expected an array of numbers, got an object"
check_input_error "a string for f64[]" 3 "argument 1 (f64[]): expected an array of numbers, got a string"
check_input_error "null for f64[]" 4 "argument 1 (f64[]): expected an array of numbers, got null"
check_input_error "two arrays for one f64[]" 5 "argument 1 (f64[]): element 0: expected a number, got an array"
check_eq "not an array for f64[]: the next line still runs" 3.0 "$(sed -n 6p "$TL_OUT")"

# val results of every kind, from a plugin built here: non-finite floats
# print as null (as f64 results do), bytes that are UTF-8 as a string, and
# a str, bytes or key that is not UTF-8 fails its task (as a str result
# does), naming where it is.
mkdir -p "$T/vals"
cat >"$T/vals/vals.c" <<'EOF'
#include <math.h>
#include <stdint.h>
#include <dlpool/plugin.h>

static dlp_val *make(int32_t which)
{
    dlp_val *m = dlp_val_map(), *l = dlp_val_list();
    switch (which) {
    case 0:
        dlp_val_set(m, "nan", dlp_val_float(NAN));
        dlp_val_set(m, "inf", dlp_val_float(INFINITY));
        dlp_val_set(m, "-inf", dlp_val_float(-INFINITY));
        dlp_val_set(m, "u", dlp_val_uint(UINT64_MAX));
        dlp_val_set(m, "i", dlp_val_int(INT64_MIN));
        dlp_val_set(m, "f", dlp_val_float(0.1));
        dlp_val_set(m, "bytes", dlp_val_bytes("h\xc3\xa9\n", 4));
        dlp_val_set(m, "t", dlp_val_bool(1));
        dlp_val_set(m, "n", dlp_val_null());
        dlp_val_set(m, "l", l);
        return m;
    case 1:
        dlp_val_push(l, dlp_val_cstr("ok"));
        dlp_val_push(l, dlp_val_cstr("bad \xff"));
        dlp_val_set(m, "a", l);
        return m;
    case 2:
        dlp_val_set(m, "b", dlp_val_bytes("\x80", 1));
        dlp_val_free(l);
        return m;
    case 3:
        dlp_val_set(m, "k\xc3", dlp_val_int(1));
        dlp_val_free(l);
        return m;
    case 4:
        dlp_val_free(l);
        dlp_val_free(m);
        return NULL;
    default:
        dlp_val_free(l);
        dlp_val_free(m);
        return dlp_val_cstr("plain");
    }
}

DLP_PLUGIN("vals", DLP_FN(make, "val(i32)"));
EOF
if ! command -v "$CC" >/dev/null 2>&1; then
    tl_note "no C compiler: val results of every kind are not checked"
elif "$CC" -shared -fPIC -I"$top_srcdir/include" -o "$T/vals/vals.so" "$T/vals/vals.c"; then
    # The plugin calls dlp_val_* without linking libdlpool: every worker
    # has the library loaded already.
    input "$T/vals.in" 0 1 2 3 4 5
    run "$T/vals.in" run -j 2 "$T/vals/vals.so:make"
    check_status "val results: exit status" 1
    check_text "val results: each kind, and text that is not UTF-8 fails its task" "$TL_OUT" <<'EOF'
{"nan":null,"inf":null,"-inf":null,"u":18446744073709551615,"i":-9223372036854775808,"f":0.1,"bytes":"hé\n","t":true,"n":null,"l":[]}
{"error":"the result is not valid UTF-8 text at $.a[1]","index":1}
{"error":"the result is not valid UTF-8 text at $.b","index":2}
{"error":"the result is not valid UTF-8 text at $ (key 0)","index":3}
null
"plain"
EOF
    check_grep "val results: the count on stderr, by kind" \
        '^dlpool: 3 of 6 tasks failed \(3 bad results\)$' "$TL_ERR"
else
    tl_fail "val results: could build the plugin" "a compiler that works"
fi

# ---- crashing tasks ----------------------------------------------------

input "$T/crash.in" 1 -1 2 -2 3 -3 4
run "$T/crash.in" run -j 2 "$TP:crash"
check_status "crashes: exit status" 1
check_eq "crashes: good results keep their place" "1|2|3|4" \
    "$(sed -n '1p;3p;5p;7p' "$TL_OUT" | paste -sd '|')"
check_grep "crashes: SIGSEGV fails its task alone" \
    '^\{"error":"[^"]*killed by SIGSEGV[^"]*","index":1\}$' "$TL_OUT"
check_grep "crashes: abort fails its task alone" \
    '^\{"error":"[^"]*killed by SIGABRT[^"]*","index":3\}$' "$TL_OUT"
check_grep "crashes: exit(3) fails its task alone" \
    '^\{"error":"[^"]*exited with status 3[^"]*","index":5\}$' "$TL_OUT"
check_eq "crashes: one line per task" 7 "$(wc -l <"$TL_OUT")"
check_grep "crashes: the count on stderr, by kind" '^dlpool: 3 of 7 tasks failed \(2 killed by a signal, 1 exited\)$' "$TL_ERR"
check_stderr_clean "crashes: a dying worker writes nothing of the parent's"

# Many tasks with a few crashes among them: only the crashing tasks fail,
# however the tasks were grouped for the workers.
: >"$T/crashmany.in"
: >"$T/crashmany.want"
for i in $(seq 1 300); do
    case $i in
    50) v=-1 ;;
    150) v=-2 ;;
    250) v=-3 ;;
    *) v=$i ;;
    esac
    echo "$v" >>"$T/crashmany.in"
    if [ "$v" -lt 0 ]; then
        echo "error at index $((i - 1))" >>"$T/crashmany.want"
    else
        echo "$v" >>"$T/crashmany.want"
    fi
done
for j in 1 3; do
    run "$T/crashmany.in" run -j $j "$TP:crash"
    check_status "crashes among 300 tasks, -j $j: exit status" 1
    sed -E 's/^\{"error":.*"index":([0-9]+)\}$/error at index \1/' "$TL_OUT" >"$T/crashmany.got"
    check_files "crashes among 300 tasks, -j $j: only the crashing tasks fail" \
        "$T/crashmany.want" "$T/crashmany.got"
    check_stderr_clean "crashes among 300 tasks, -j $j: a dying worker writes nothing of the parent's"
done

# ---- output channels ---------------------------------------------------

seq 1 20 >"$T/noisy.in"
run "$T/noisy.in" run -j 2 "$TP:noisy"
check_status "noisy plugin: exit status" 0
check_files "noisy plugin: stdout holds only the results" "$T/noisy.in" "$TL_OUT"
check_eq "noisy plugin: its output goes to stderr" 20 \
    "$(grep -c '^noise from a task$' "$TL_ERR")"

# ---- inspect -----------------------------------------------------------

run "$NULL_IN" inspect "$EX"
check_status "inspect: exit status" 0
abi=$(sed -n 's/^#define DLP_PLUGIN_ABI \([0-9]*\).*/\1/p' "$top_srcdir/include/dlpool/plugin.h")
{
    echo "# plugin examples, manifest ABI $abi"
    # The manifest as the source declares it: DLP_FN(name, "signature").
    sed -n 's/.*DLP_FN(\([A-Za-z_0-9]*\), *"\([^"]*\)").*/\1\t\2/p' \
        "$top_srcdir/plugins/examples.c"
} >"$T/inspect.want"
check_files "inspect: a header and name<TAB>signature per function" "$T/inspect.want" "$TL_OUT"
check_grep "inspect: a val signature as declared" $'^concat\tval\(val,val\)$' "$TL_OUT"
check_grep "inspect: an array signature as declared" $'^sum\tf64\(f64\[\]\)$' "$TL_OUT"

run "$NULL_IN" inspect "$T/nonexistent.so"
check_setup_error "inspect of a missing plugin" "$T/nonexistent.so"

# --json: one object with the same content, for tools.
cp "$T/inspect.want" "$T/inspect-lines.want"
run "$NULL_IN" inspect --json "$EX"
check_status "inspect --json: exit status" 0
check_eq "inspect --json: one line" 1 "$(wc -l <"$TL_OUT")"
if command -v python3 >/dev/null 2>&1; then
    # Back to the lines of plain inspect, from the parsed object.
    if python3 - "$TL_OUT" "$EX" >"$T/inspect-json.got" 2>"$T/inspect-json.err" <<'PY'; then
import json, sys
o = json.load(open(sys.argv[1]))
assert list(o) == ["plugin", "name", "abi", "functions"], list(o)
assert o["plugin"] == sys.argv[2], o["plugin"]
assert isinstance(o["abi"], int), o["abi"]
print("# plugin %s, manifest ABI %d" % (o["name"], o["abi"]))
for f in o["functions"]:
    assert list(f) == ["name", "signature"], list(f)
    print("%s\t%s" % (f["name"], f["signature"]))
PY
        check_files "inspect --json: plugin, name, abi and the functions of plain inspect" \
            "$T/inspect-lines.want" "$T/inspect-json.got"
    else
        tl_fail "inspect --json: a JSON object of plugin, name, abi, functions"
        tl_show "python said" "$T/inspect-json.err"
        tl_show "stdout" "$TL_OUT"
    fi
else
    check_grep "inspect --json: the object's start (python3 missing: not parsed)" \
        "^\\{\"plugin\":\"[^\"]*\",\"name\":\"examples\",\"abi\":$abi,\"functions\":\\[\\{\"name\":\"add\",\"signature\":\"i64\\(i64,i64\\)\"\\}," "$TL_OUT"
fi
run "$NULL_IN" inspect "$EX" --json
check_status "inspect PLUGIN --json: the option after the plugin" 0
run "$NULL_IN" inspect --json "$T/nonexistent.so"
check_setup_error "inspect --json of a missing plugin" "$T/nonexistent.so"
run "$NULL_IN" inspect --json "$DLPOOL_TEST_PLUGINS/badabi.so"
check_setup_error "inspect --json of a plugin of another manifest ABI" "badabi.so"
run "$NULL_IN" inspect --json "$T/text.so"
check_setup_error "inspect --json of a file that is not a shared object" "$T/text.so"
run -t 10 "$NULL_IN" inspect --json "$DLPOOL_TEST_PLUGINS/crashload.so"
check_setup_error "inspect --json of a plugin that crashes while loading" "crashload.so"
run "$NULL_IN" inspect --frobnicate "$EX"
check_setup_error "inspect: an unknown option" "--frobnicate"
run "$NULL_IN" inspect --json
check_setup_error "inspect --json without a plugin" "PLUGIN"

# ---- help and version --------------------------------------------------

run "$NULL_IN" --help
check_status "--help: exit status" 0
check_grep "--help: shows the usage" '^Usage: dlpool run' "$TL_OUT"
# One screen of a terminal: 24 lines of 80 columns (79 characters, so
# that no line wraps), with the common options first.
n=$(wc -l <"$TL_OUT")
if [ "$n" -le 24 ]; then
    tl_pass "--help: fits in 24 lines"
else
    tl_fail "--help: fits in 24 lines" "expected at most 24 lines, got $n"
fi
# The installed plugin directory has a line of its own, as long as the
# prefix makes it.
wide=$(awk '!/^  \// && length($0) > 79 { printf "%d: %s\n", length($0), $0 }' "$TL_OUT")
check_eq "--help: no line over 79 columns" "" "$wide"
# The options, in the order --help lists them: --jobs first, and the ones
# few people need (--max-tasks-per-worker, ...) last.
opts=$(grep -E -- '^ +(-[a-z], )?--[a-z]' "$TL_OUT" |
    sed -E 's/^ +(-[a-z], )?(--[a-z-]+).*/\2/' | paste -sd ' ')
check_eq "--help: --jobs is the first option" "--jobs" "${opts%% *}"
check_eq "--help: the rare options are the last" "--max-tasks-per-worker" "${opts##* }"
check_empty "--help: nothing on stderr" "$TL_ERR"

run "$NULL_IN" run --help
check_status "run --help: exit status" 0
check_grep "run --help: shows the usage" '^Usage: dlpool run' "$TL_OUT"

run "$NULL_IN" --version
check_status "--version: exit status" 0
version=$(sed -n 's/^#define DLPOOL_VERSION_STRING "\(.*\)"/\1/p' "$top_srcdir/include/dlpool.h")
check_text "--version: the header's version" "$TL_OUT" <<EOF
dlpool $version
EOF
pcversion=$(sed -n 's/^Version: //p' "$top_builddir/dlpool.pc")
check_eq "the header's version is the package version" "$pcversion" "$version"

# ---- where the input comes from ----------------------------------------

: >"$T/pairs.in"
for i in $(seq 1 200); do echo "[$i,$((2 * i))]" >>"$T/pairs.in"; done
run "$T/pairs.in" run -j 2 "$EX:add"
cp "$TL_OUT" "$T/pairs.stdin"
check_status "input from stdin: exit status" 0
check_eq "input from stdin: 200 results" 200 "$(wc -l <"$T/pairs.stdin")"
check_eq "input from stdin: the last is 3*200" 600 "$(tail -n 1 "$T/pairs.stdin")"
run "$NULL_IN" run -j 2 "$EX:add" "$T/pairs.in"
check_status "input from a file: exit status" 0
check_files "input from a file gives the same output as stdin" "$T/pairs.stdin" "$TL_OUT"
run "$T/pairs.in" run -j 2 "$EX:add" -
check_files "input '-' is stdin" "$T/pairs.stdin" "$TL_OUT"

printf '[1,2]\n[3,4]' >"$T/nonl.in"
run "$T/nonl.in" run "$EX:add"
check_status "no trailing newline: exit status" 0
check_text "no trailing newline: the last line counts" "$TL_OUT" <<'EOF'
3
7
EOF

printf '[1,2]\r\n[3,4]\r\n' >"$T/crlf.in"
run "$T/crlf.in" run "$EX:add"
check_text "CRLF line ends" "$TL_OUT" <<'EOF'
3
7
EOF

tl_run "$T/good.in" env DLPOOL_PLUGIN_PATH="$T/nowhere:$DLPOOL_EXAMPLES" "$DLPOOL" run examples:add
check_status "a bare plugin name found through DLPOOL_PLUGIN_PATH: exit status" 0
check_text "a bare plugin name found through DLPOOL_PLUGIN_PATH" "$TL_OUT" <<'EOF'
3
7
EOF

# A slow input: each task runs as soon as its line arrives, not when the
# input ends.  The writer keeps the pipe open until it has seen the result.
mkfifo "$T/fifo"
# Opened for reading and writing, the FIFO does not wait for a peer; the
# command opens it by name and sees its end once this descriptor closes.
exec 3<>"$T/fifo"
# shellcheck disable=SC2016 # $$ and $@ belong to the inner shell.
timeout -k 5 "$TL_TIMEOUT" setsid -w sh -c 'echo $$ >"$0"; exec "$@"' \
    "$T/slow.sid" "$DLPOOL" run -j 2 "$EX:add" "$T/fifo" \
    </dev/null >"$T/slow.out" 2>"$T/slow.err" 3>&- &
slow=$!
streamed=yes
for pair in '1,2:3' '3,4:7' '5,6:11'; do
    echo "[${pair%:*}]" >&3
    want=${pair#*:}
    for _ in $(seq 1 200); do
        grep -qx "$want" "$T/slow.out" && break
        sleep 0.05
    done
    grep -qx "$want" "$T/slow.out" || streamed="no result for [${pair%:*}] within 10 s"
done
exec 3>&-
wait "$slow"
TL_RC=$?
TL_ERR=$T/slow.err
check_eq "slow input: every result before the input ends" yes "$streamed"
check_status "slow input: exit status" 0
check_text "slow input: the results" "$T/slow.out" <<'EOF'
3
7
11
EOF
tl_check_session "$T/slow.sid" "dlpool run with a slow input"

# ---- arguments on the command line: ::: and :::: ----------------------

# Every combination, the first source varying slowest (GNU parallel's
# order), one output line per combination, in that order.
run "$NULL_IN" run -j 2 "$EX:add" ::: 1 2 3 ::: 10 20
check_status "::: 1 2 3 ::: 10 20: exit status" 0
check_text "::: 1 2 3 ::: 10 20: [1,10] [1,20] [2,10] ... in order" "$TL_OUT" <<'EOF'
11
21
12
22
13
23
EOF
check_empty "::: 1 2 3 ::: 10 20: nothing on stderr" "$TL_ERR"

# A word is JSON when it is JSON, else a string; a str argument takes any
# word that is not a JSON string as its text.
run "$NULL_IN" run -j 2 "$TP:concat" ::: a '"b c"' 7 ::: x true
check_status "::: words for str arguments: exit status" 0
check_text "::: words for str arguments: as text, a JSON string decoded" "$TL_OUT" <<'EOF'
"ax"
"atrue"
"b cx"
"b ctrue"
"7x"
"7true"
EOF

# A one-argument function gets the bare value, of any type.
run "$NULL_IN" run "$EX:shout" ::: hello '"two words"'
check_text "::: for one argument: the bare value" "$TL_OUT" <<'EOF'
"HELLO"
"TWO WORDS"
EOF
run "$NULL_IN" run "$EX:sum" ::: '[1,2.5]' '[]' '[[1]]'
check_status "::: for one f64[] argument: exit status" 1
check_eq "::: for one f64[] argument: an array is the argument" "3.5|0.0" \
    "$(sed -n '1,2p' "$TL_OUT" | paste -sd '|')"
run "$NULL_IN" run "$EX:concat" ::: '[1,{"a":null}]' ::: '["x"]' '[]'
check_text "::: for val arguments: any JSON" "$TL_OUT" <<'EOF'
[1,{"a":null},"x"]
[1,{"a":null}]
EOF
run "$NULL_IN" run "$TP:echo_u64" ::: 18446744073709551615 0
check_text "::: integers over the i64 range are exact" "$TL_OUT" <<'EOF'
18446744073709551615
0
EOF
# One source per argument of a function of eleven.
run "$NULL_IN" run "$TP:mixed" ::: -1 ::: 2 ::: -3 ::: 4 ::: -5 ::: 6 ::: -7 \
    ::: 8 ::: 0.5 ::: 0.25 ::: true false
check_status "::: eleven sources: exit status" 0
check_eq "::: eleven sources: two tasks" 2 "$(wc -l <"$TL_OUT")"

# A word that does not fit fails each task that uses it, and the message
# names its source and place.
run "$NULL_IN" run -j 2 "$EX:add" ::: 1 x ::: 10 20
check_status "::: a bad word: exit status" 1
check_text "::: a bad word: the tasks that use it fail, naming it" "$TL_OUT" <<'EOF'
11
21
{"error":"::: source 1, argument 2 'x' (i64): expected an integer, got a string","index":2}
{"error":"::: source 1, argument 2 'x' (i64): expected an integer, got a string","index":3}
EOF
check_grep "::: a bad word: stderr names the task by its arguments" \
    "^dlpool: task 2 \\(::: x 10\\): ::: source 1, argument 2 'x' \\(i64\\): expected an integer, got a string$" "$TL_ERR"
check_grep "::: a bad word: the count on stderr" \
    '^dlpool: 2 of 4 tasks failed \(2 bad inputs\)$' "$TL_ERR"
run "$NULL_IN" run "$TP:echo_i8" ::: 5 300
check_eq "::: out of range: the message names the word" \
    '{"error":"::: source 1, argument 2 '"'300'"' (i8): 300 is out of range [-128, 127]","index":1}' \
    "$(sed -n 2p "$TL_OUT")"
# A plugin's own error is as for any task; stderr names the arguments.
run "$NULL_IN" run "$EX:divide" ::: 7 ::: 0
check_status "::: a plugin error: exit status" 1
check_text "::: a plugin error: its line" "$TL_OUT" <<'EOF'
{"error":"division by zero: 7 / 0","index":0}
EOF
check_text "::: a plugin error: stderr, and the count in the singular" "$TL_ERR" <<'EOF'
dlpool: task 0 (::: 7 0): division by zero: 7 / 0
dlpool: 1 of 1 task failed (1 plugin error)
EOF

# :::: FILE: one argument per line; mixed with :::; '-' is standard input.
printf '1\n2\r\nten\n' >"$T/args.txt"
run "$NULL_IN" run -j 2 "$EX:add" :::: "$T/args.txt" ::: 100
check_status ":::: FILE: exit status" 1
check_text ":::: FILE: one argument per line, CRLF too" "$TL_OUT" <<EOF
101
102
{"error":":::: source 1 ($T/args.txt), line 3 'ten' (i64): expected an integer, got a string","index":2}
EOF
printf '5\n6\n' >"$T/args2.txt"
run "$T/args2.txt" run "$EX:add" ::: 1 :::: -
check_text ":::: -: standard input" "$TL_OUT" <<'EOF'
6
7
EOF
: >"$T/empty.txt"
run "$NULL_IN" run "$EX:add" ::: 1 :::: "$T/empty.txt"
check_status ":::: an empty file: no tasks, exit status" 0
check_empty ":::: an empty file: no output" "$TL_OUT"

# A million combinations, computed from the index: memory stays that of a
# few tasks.  (GNU time gives the peak resident set size in KiB.)
if [ -x /usr/bin/time ]; then
    tl_run /dev/null /usr/bin/time -f 'maxrss %M' -o "$T/rss" \
        "$DLPOOL" run -j 2 "$EX:add" ::: $(seq 1000) ::: $(seq 1000)
    check_status "::: 1000 x 1000: exit status" 0
    check_eq "::: 1000 x 1000: a million results, the last 1000+1000" \
        "1000000 2000" "$(wc -l <"$TL_OUT") $(tail -n 1 "$TL_OUT")"
    rss=$(sed -n 's/^maxrss //p' "$T/rss")
    if [ -n "${SAN_CFLAGS:-}" ]; then
        # AddressSanitizer's shadow memory and quarantine are counted too.
        tl_note "::: 1000 x 1000: peak memory not checked under sanitizers (${rss} KiB)"
    elif [ -n "$rss" ] && [ "$rss" -lt $((32 * 1024)) ]; then
        tl_pass "::: 1000 x 1000: peak memory under 32 MiB (${rss} KiB)"
    else
        tl_fail "::: 1000 x 1000: peak memory under 32 MiB" "got: ${rss:-nothing} KiB"
    fi
else
    tl_note "no /usr/bin/time: the memory of a million combinations is not measured"
fi

# Set-up errors.
run "$NULL_IN" run "$EX:add" ::: 1 2
check_setup_error "::: one source for two arguments" "takes 2 arguments, got 1 source"
run "$NULL_IN" run "$EX:add" ::: 1 :::
check_setup_error "::: with nothing after it" "':::' with nothing after it (source 2)"
run "$NULL_IN" run "$EX:add" "$T/args.txt" ::: 1 ::: 2
check_setup_error "INPUT and ::: together" "both INPUT"
run "$NULL_IN" run "$EX:add" ::: 1 :::: "$T/no-such-file"
check_setup_error ":::: a missing file" "$T/no-such-file"
run "$NULL_IN" run ::: 1 2
check_setup_error "::: without PLUGIN:FUNCTION" "missing PLUGIN:FUNCTION"

# ---- big values --------------------------------------------------------

big=$((10 * 1024 * 1024))
{
    printf '"'
    head -c "$big" /dev/zero | tr '\0' a
    printf '"\n'
} >"$T/big.in"
run "$T/big.in" run -j 1 "$EX:shout"
check_status "a 10 MB string: exit status" 0
check_eq "a 10 MB string: the result's length" "$((big + 3))" "$(wc -c <"$TL_OUT")"
check_eq "a 10 MB string: upper-cased" '""' "$(tr -d 'A\n' <"$TL_OUT")"

# ---- no more workers than tasks -----------------------------------------

# A small input file holds two tasks: -j 4 starts two workers, not four
# (each would cost a fork and its start-up for nothing).
input "$T/two_slow.in" '[1500,1]' '[1500,2]'
tl_start "$T/two_slow.in" "$DLPOOL" run -j 4 "$TP:sleepy"
tl_wait_exe "$TL_PID" dlpool lt-dlpool
tl_wait_children "$TL_PID" 2 >/dev/null
sleep 0.5 # a third worker, were one started, has had time to appear
read -r -a kids_now <<<"$(tl_children "$TL_PID")"
check_eq "a file of 2 tasks with -j 4: workers started" 2 "${#kids_now[@]}"
tl_wait
check_status "a file of 2 tasks with -j 4: exit status" 0
check_text "a file of 2 tasks with -j 4: the results" "$TL_OUT" <<'EOF'
1
2
EOF

# ---- lines too long to be a task ---------------------------------------

# A line longer than --max-line-length fails alone and is read past in
# bounded memory: 400 MB of NUL bytes with no newline (as /dev/zero gives)
# between two good lines.  The largest resident size of the command (and
# of its workers) is measured by python3, which runs it.
tl_need_cmd python3 "to measure the command's memory"
cat >"$T/maxrss.py" <<'EOF'
import resource, subprocess, sys
mb = int(sys.argv[1])
p = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE)
p.stdin.write(b"[1,2]\n")
zeros = bytes(1 << 20)
for _ in range(mb):
    p.stdin.write(zeros)
p.stdin.write(b"\n[3,4]\n")
p.stdin.close()
rc = p.wait()
kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("maxrss %d" % kib, file=sys.stderr)
sys.exit(rc)
EOF
tl_run "$NULL_IN" python3 "$T/maxrss.py" 400 "$DLPOOL" run -j 1 \
    --max-line-length 1M "$EX:add"
check_status "a 400 MB line with no newline: exit status" 1
check_text "a 400 MB line with no newline: it fails alone" "$TL_OUT" <<'EOF'
3
{"error":"line 2: the line is longer than --max-line-length (1048576 bytes): 419430400 bytes","index":1}
7
EOF
check_grep "a 400 MB line with no newline: its message on stderr" \
    '^dlpool: task 1 \(line 2\): the line is longer than --max-line-length \(1048576 bytes\): 419430400 bytes$' \
    "$TL_ERR"
rss=$(sed -n 's/^maxrss //p' "$TL_ERR")
if [ -n "$rss" ] && [ "$rss" -lt $((160 * 1024)) ]; then
    tl_pass "a 400 MB line with no newline: memory stays bounded (${rss} KiB)"
else
    tl_fail "a 400 MB line with no newline: memory stays bounded" \
        "expected a largest resident size under 160 MiB, got ${rss:-?} KiB"
fi

# The limit is inclusive, and a last line with no newline is held to it.
{
    printf '"%s"\n' "$(head -c $((1048576 - 2)) /dev/zero | tr '\0' a)"
    printf '"%s"\n' "$(head -c $((1048576 - 1)) /dev/zero | tr '\0' a)"
    printf '"ok"\n'
    head -c 2000000 /dev/zero | tr '\0' ' '
} >"$T/limit.in"
run "$T/limit.in" run -j 1 --max-line-length 1M "$EX:shout"
check_status "--max-line-length 1M: exit status" 1
check_eq "--max-line-length 1M: a line of 1M bytes runs" 1048576 \
    "$(sed -n 1p "$TL_OUT" | tr -d '\n' | wc -c)"
check_eq "--max-line-length 1M: one byte more fails, the rest runs" \
    '{"error":"line 2: the line is longer than --max-line-length (1048576 bytes): 1048577 bytes","index":1}
"OK"
{"error":"line 4: the line is longer than --max-line-length (1048576 bytes): 2000000 bytes","index":3}' \
    "$(sed -n 2,4p "$TL_OUT")"

# A :::: file is read whole before the run: a line over the limit there
# is a set-up error, found while it is read.
head -c 3000000 /dev/zero >"$T/zeros.args"
run "$NULL_IN" run --max-line-length 1M "$EX:shout" :::: "$T/zeros.args"
check_setup_error ":::: FILE with a line over --max-line-length" \
    ":::: source 1: '$T/zeros.args': line 1 is longer than --max-line-length (1048576 bytes)"
run "$NULL_IN" run --max-line-length 100 "$EX:shout" ::: a
check_status "--max-line-length 100: exit status" 2
check_grep "--max-line-length 100: the message" \
    "^dlpool: --max-line-length: expected a size of at least 1M such as 512M or 2G, got '100'$" \
    "$TL_ERR"

# ---- messages: cut between characters, escaped for the terminal ------

# check_no_controls NAME FILE: FILE has no byte a terminal obeys: no C0
# control but the newline ending each line, no DEL, no C1 character
# (U+0080 .. U+009F, as UTF-8).
check_no_controls() {
    if LC_ALL=C grep -aqE $'[\x01-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$2"; then
        tl_fail "$1" "expected no control character, got lines holding some:" \
            "$(LC_ALL=C grep -aE $'[\x01-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$2" |
                cut -c1-60 | od -c | head -n 8)"
    else
        tl_pass "$1"
    fi
}

# A plugin's message longer than the library keeps (1023 bytes) is cut
# between two characters: 600 two-byte characters keep 511 whole ones,
# and no byte of them becomes '?'.
python3 -c 'import json; print(json.dumps(["\u00e9" * 600]))' >"$T/long_msg.in"
run "$T/long_msg.in" run "$TP:fail_with"
check_status "a long multibyte message: exit status" 1
e511=$(printf '\303\251%.0s' $(seq 1 511))
check_eq "a long multibyte message: cut between characters, none lost" \
    "{\"error\":\"$e511\",\"index\":0}" "$(cat "$TL_OUT")"
check_eq "a long multibyte message: the same on stderr" \
    "dlpool: task 0 (line 1): $e511" "$(head -n 1 "$TL_ERR")"

# A message with one invalid byte: that byte alone becomes '?'.
run "$NULL_IN" run "$TP:fail_with" ::: $'\303\251\377\303\251'
check_eq "a message with an invalid byte: only it is replaced" \
    $'{"error":"\303\251?\303\251","index":0}' "$(cat "$TL_OUT")"
check_eq "a message with an invalid byte: escaped on stderr" \
    $'dlpool: task 0 (::: \303\251\\xff\303\251): \303\251\\xff\303\251' \
    "$(head -n 1 "$TL_ERR")"

# Control characters in a plugin's message (ESC, BEL, U+009B CSI) and in
# input quoted by a JSON error are escaped on standard error; standard
# output is JSON, where jansson escapes C0 controls.
input "$T/ctl.in" '["\u001b[31mred\u0007 \u009b[2J end"]' $'[1, \x1b[2J]'
run "$T/ctl.in" run "$TP:fail_with"
check_status "control characters in messages: exit status" 1
check_text "control characters in messages: escaped on stderr" "$TL_ERR" <<'EOF'
dlpool: task 0 (line 1): \x1b[31mred\x07 \u009b[2J end
dlpool: task 1 (line 2): bad JSON at column 5: invalid token near '\x1b'
dlpool: 2 of 2 tasks failed (1 plugin error, 1 bad input)
EOF
check_no_controls "control characters in messages: none raw on stderr" "$TL_ERR"
check_eq "control characters in messages: JSON-escaped on stdout" \
    '{"error":"line 2: bad JSON at column 5: invalid token near '"'"'\u001B'"'"'","index":1}' \
    "$(sed -n 2p "$TL_OUT")"

# A set-up message quotes what it was given (here a plugin path with ESC
# and a C1 CSI in it): escaped too.
run /dev/null run $'/nonexistent/x\x1b[31m\xc2\x9b.so:f'
check_setup_error "control characters in a set-up message" \
    "'/nonexistent/x\\x1b[31m\\u009b.so'"
check_no_controls "control characters in a set-up message: none raw" "$TL_ERR"

# An option's bad value is quoted by a usage error: escaped as well.
run /dev/null run --halt $'x\x1b[31m\xc2\x9b' "$TP:echo_i64"
check_setup_error "control characters in an option's value" \
    "got 'x\\x1b[31m\\u009b'"
check_no_controls "control characters in an option's value: none raw" "$TL_ERR"

tl_finish
