#!/usr/bin/env bash
# man.sh - the manual pages say what the code does: both render without a
# single warning, dlpool(1) documents every option and exit status the
# command's --help names (and no option the command refuses), its
# examples print what they show, and the signature errors and example
# plugins of dlpool-plugin(7) are what dlpool prints and what builds.
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init man
tl_need_runner

if ! command -v groff >/dev/null 2>&1; then
    tl_skip "groff is not installed (Debian: groff-base), so the pages cannot be rendered"
fi

DLPOOL=$top_builddir/dlpool
MAN1=$top_srcdir/man/dlpool.1
MAN7=$top_srcdir/man/dlpool-plugin.7
tl_need_file "$DLPOOL" "the dlpool command"
tl_need_file "$DLPOOL_EXAMPLES/examples.so" "the example plugin"
tl_need_file "$MAN1" "dlpool.1"
tl_need_file "$MAN7" "dlpool-plugin.7"

T=$TL_TMP
CC=${CC:-cc}

# unroff: the text of roff source lines as a reader would type it: the
# escapes the pages use for characters become those characters, and font
# changes go.
unroff() {
    sed -e 's/\\f[BIRP]//g' -e 's/\\(aq/'"'"'/g' -e 's/\\(dq/"/g' \
        -e 's/\\-/-/g' -e 's/\\&//g' -e 's/\\e/\\/g'
}

# section FILE NAME: the source lines of section NAME (.SH NAME).
section() {
    awk -v want=".SH $2" '
        /^\.SH / { on = ($0 == want); next }
        on' "$1"
}

# blocks FILE: split the .EX/.EE example blocks of standard input into
# FILE.1, FILE.2, ... (unescaped); prints how many there were.
blocks() {
    local n i
    n=$(awk -v out="$1" '
        /^\.EX/ { n++; on = 1; printf "" >(out "." n); next }
        /^\.EE/ { on = 0; close(out "." n); next }
        on && !/^\./ { print >(out "." n) }
        END { print n + 0 }')
    for i in $(seq 1 "$n"); do
        unroff <"$1.$i" >"$1.$i.txt" && mv "$1.$i.txt" "$1.$i"
    done
    echo "$n"
}

# ---- rendering ---------------------------------------------------------

for page in "$MAN1" "$MAN7"; do
    name=${page##*/}
    groff -man -Tutf8 -ww -z "$page" >"$T/groff.out" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ] && [ ! -s "$T/groff.out" ]; then
        tl_pass "$name renders with groff -man -Tutf8 -ww without a warning"
    else
        tl_fail "$name renders with groff -man -Tutf8 -ww without a warning" \
            "expected status 0 and no output, got status $rc"
        tl_show "groff said" "$T/groff.out"
    fi
    # Non-ASCII bytes would reach groff undecoded: the pages spell special
    # characters as escapes.
    if LC_ALL=C grep -n "$(printf '[\200-\377]')" "$page" >"$T/nonascii"; then
        tl_fail "$name is plain ASCII" "expected no byte above 127, found some on:"
        tl_show "lines" "$T/nonascii"
    else
        tl_pass "$name is plain ASCII"
    fi
done

version=$("$DLPOOL" --version)
check_eq "dlpool.1 names the version dlpool --version prints" \
    "\"$version\"" "$(sed -n 's/^\.TH DLPOOL 1 [^ ]* \("[^"]*"\).*/\1/p' "$MAN1")"
check_eq "dlpool-plugin.7 names the version dlpool --version prints" \
    "\"$version\"" "$(sed -n 's/^\.TH DLPOOL-PLUGIN 7 [^ ]* \("[^"]*"\).*/\1/p' "$MAN7")"

# ---- options: what --help names is documented, and the other way round ----

"$DLPOOL" --help >"$T/help" 2>&1
"$DLPOOL" run --help >"$T/help.run" 2>&1
# The options --help names: long ones anywhere, short ones where an option
# line starts ("  -j, --jobs N").
{
    grep -ohE -- '--[a-z][a-z0-9-]*' "$T/help" "$T/help.run"
    grep -ohE -- '^ +-[A-Za-z],' "$T/help" "$T/help.run" | tr -d ' ,'
} | sort -u >"$T/help.opts"
if [ "$(wc -l <"$T/help.opts")" -lt 10 ]; then
    tl_fail "dlpool --help names its options" \
        "expected at least 10 options in --help, found $(wc -l <"$T/help.opts")"
    tl_show "--help" "$T/help"
fi

# The options dlpool.1 documents: those in the tag line of a .TP item.
awk 'prev == ".TP" { print } { prev = $1 }' "$MAN1" | unroff |
    grep -oE -- '(^|[^A-Za-z0-9-])--?[A-Za-z][A-Za-z0-9-]*' |
    sed 's/^[^-]*//' | sort -u >"$T/man.opts"

missing=$(comm -23 "$T/help.opts" "$T/man.opts")
if [ -z "$missing" ]; then
    tl_pass "dlpool.1 documents every option --help names ($(tr '\n' ' ' <"$T/help.opts"))"
else
    for o in $missing; do
        tl_fail "dlpool.1 documents $o" \
            "dlpool --help names the option $o, but no .TP item of man/dlpool.1 does"
    done
fi

# An option the page documents must be one the command takes: at the top
# (--version), or after run or inspect, where getopt says "unknown option"
# otherwise.
while read -r o; do
    tl_run /dev/null "$DLPOOL" "$o"
    top=$TL_RC
    tl_run /dev/null "$DLPOOL" inspect "$o"
    grep -q 'unknown option' "$TL_ERR" && inspect=no || inspect=yes
    tl_run /dev/null "$DLPOOL" run "$o"
    if [ "$top" -eq 0 ] || [ "$inspect" = yes ] || ! grep -q 'unknown option' "$TL_ERR"; then
        tl_pass "the command takes $o, which dlpool.1 documents"
    else
        tl_fail "the command takes $o, which dlpool.1 documents" \
            "expected 'dlpool $o' to exit 0, or 'dlpool inspect $o' or 'dlpool run $o' to know it, got:"
        tl_show "stderr of dlpool run $o" "$TL_ERR"
    fi
done <"$T/man.opts"

# Every exit status --help lists has its item under EXIT STATUS.
section "$MAN1" "EXIT STATUS" | awk 'prev == ".TP" { print } { prev = $1 }' |
    unroff | grep -oE '[0-9]+' | sort -u >"$T/man.status"
# The paragraph of --help that starts with "Exit status:".
sed -n '/^Exit status:/,/^$/p' "$T/help" | grep -oE '\b[0-9]{1,3}\b' |
    sort -u >"$T/help.status"
if [ ! -s "$T/help.status" ]; then
    tl_fail "dlpool --help lists exit statuses" "expected a paragraph 'Exit status: ...'"
    tl_show "--help" "$T/help"
fi
for s in $(comm -23 "$T/help.status" "$T/man.status"); do
    tl_fail "dlpool.1 documents exit status $s" \
        "dlpool --help names the exit status $s, but EXIT STATUS of man/dlpool.1 has no item for it"
done
if [ -s "$T/help.status" ] && [ -z "$(comm -23 "$T/help.status" "$T/man.status")" ]; then
    tl_pass "dlpool.1 documents every exit status --help names ($(tr '\n' ' ' <"$T/help.status"))"
fi

# ---- dlpool(1) examples -------------------------------------------------

# Each block under EXAMPLES is a transcript: "$ " starts a command (a line
# ending in | or \ goes on on the next line), the other lines are what the
# commands print on standard output.  A block runs in one shell, in a
# directory of its own, with dlpool on the PATH and the example plugin on
# the plugin path.
n=$(section "$MAN1" EXAMPLES | blocks "$T/ex")
if [ "$n" -lt 4 ]; then
    tl_fail "dlpool.1 has at least 4 examples" "expected 4 or more .EX blocks under EXAMPLES, found $n"
fi
for i in $(seq 1 "$n"); do
    b=$T/ex.$i
    dir=$T/ex$i.d
    mkdir -p "$dir"
    {
        printf 'cd %q || exit 99\n' "$dir"
        # shellcheck disable=SC2016 # $PATH belongs to the block's shell.
        printf 'PATH=%q:$PATH\n' "$top_builddir"
        printf 'export DLPOOL_PLUGIN_PATH=%q\n' "$DLPOOL_EXAMPLES"
    } >"$b.sh"
    : >"$b.want"
    more=no
    first=
    named=no
    while IFS= read -r line; do
        if [ "$more" = yes ] || [[ $line == '$ '* ]]; then
            cmd=${line#'$ '}
            # The first command names the example, continuation included.
            if [ -z "$first" ] || [ "$named" = no ]; then
                first="${first:+$first }${cmd#"${cmd%%[! ]*}"}"
            fi
            printf '%s\n' "$cmd" >>"$b.sh"
            if [[ $cmd == *'|' || $cmd == *\\ ]]; then more=yes; else more=no; fi
            [ "$more" = yes ] || named=yes
        else
            printf '%s\n' "$line" >>"$b.want"
        fi
    done <"$b"
    if [ -z "$first" ]; then
        tl_fail "dlpool.1 example $i is a transcript" \
            "expected lines starting with '\$ ' (commands) in the block:"
        tl_show "block" "$b"
        continue
    fi
    tl_run /dev/null bash "$b.sh"
    check_files "dlpool.1 example $i ($first): prints what the page shows" \
        "$b.want" "$TL_OUT"
done

# ---- dlpool-plugin(7) -----------------------------------------------------

# The signature errors it quotes are the ones dlpool --sig prints.  A line
# that ends in " ..." quotes the start of the message.
n=$(blocks "$T/p7" <"$MAN7")
checked=0
for i in $(seq 1 "$n"); do
    while IFS= read -r line; do
        [[ $line == "signature '"* ]] || continue
        checked=$((checked + 1))
        sig=${line#"signature '"}
        sig=${sig%%"': "*}
        tl_run /dev/null "$DLPOOL" run --sig "$sig" examples:add
        got=$(head -n 1 "$TL_ERR")
        got=${got#"dlpool: --sig: "}
        if [[ $line == *' ...' ]]; then
            want=${line%' ...'}
            rest=${got#"$want"}
            if [[ $got == "$want"* && ! $rest =~ ^[A-Za-z0-9] ]]; then
                ok=yes
            else
                ok=no
            fi
        else
            want=$line
            [ "$got" == "$want" ] && ok=yes || ok=no
        fi
        if [ "$ok" = yes ] && [ "$TL_RC" -eq 2 ]; then
            tl_pass "dlpool-plugin.7 quotes the error of --sig '$sig'"
        else
            tl_fail "dlpool-plugin.7 quotes the error of --sig '$sig'" \
                "the page:  $line" "dlpool:    $got (status $TL_RC)"
        fi
    done <"$T/p7.$i"
done
if [ "$checked" -lt 5 ]; then
    tl_fail "dlpool-plugin.7 quotes signature errors" \
        "expected 5 or more lines \"signature '...': ...\" in its examples, found $checked"
fi

# Its example plugins (the blocks with a manifest) build as they are, with
# strict warnings, and dlpool inspect lists the functions they declare.
if ! command -v "$CC" >/dev/null 2>&1; then
    tl_note "no C compiler ($CC): the example plugins of dlpool-plugin.7 were not built"
else
    built=0
    for i in $(seq 1 "$n"); do
        b=$T/p7.$i
        grep -q 'DLP_PLUGIN' "$b" || continue
        built=$((built + 1))
        what=$(sed -n 's/.*DLP_PLUGIN[_A-Z]*("\([^"]*\)".*/\1/p' "$b" | head -n 1)
        what="example plugin '${what:-block $i}'"
        cp "$b" "$b.c"
        # shellcheck disable=SC2086
        if "$CC" -shared -fPIC -std=c99 -Wall -Wextra -Werror -pedantic \
            -I"$top_srcdir/include" -o "$b.so" "$b.c" >"$b.cc" 2>&1; then
            tl_pass "dlpool-plugin.7 $what builds"
        else
            tl_fail "dlpool-plugin.7 $what builds"
            tl_show "the compiler said" "$b.cc"
            continue
        fi
        sed -n 's/.*DLP_FN(\([A-Za-z_][A-Za-z0-9_]*\), *"\([^"]*\)").*/\1\t\2/p' \
            "$b" >"$b.fns"
        tl_run /dev/null "$DLPOOL" inspect "$b.so"
        if [ "$TL_RC" -eq 0 ] && [ -s "$b.fns" ] &&
            ! grep -qvxFf <(tail -n +2 "$TL_OUT") "$b.fns"; then
            tl_pass "dlpool inspect lists the functions of the $what"
        else
            tl_fail "dlpool inspect lists the functions of the $what" \
                "expected status 0 and the lines: $(tr '\n\t' '; ' <"$b.fns")"
            tl_show "stdout" "$TL_OUT"
            tl_show "stderr" "$TL_ERR"
        fi
    done
    if [ "$built" -lt 2 ]; then
        tl_fail "dlpool-plugin.7 has example plugins" \
            "expected 2 or more example blocks with a DLP_PLUGIN manifest, found $built"
    fi
fi

tl_finish
