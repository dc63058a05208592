#!/usr/bin/env bash
# progress.sh - the progress line of dlpool run, in a real terminal: run
# in a tmux pane, it is drawn on standard error with the tasks done and
# failed and the rate, with the percentage and time left when the size is
# known (a file, ::: arguments) and the time elapsed when not (a pipe); it
# is redrawn while results are slow, erased at the end, before the count
# of failures, and never reaches standard output.  Without a terminal it
# is drawn only when asked for.
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init progress
tl_need_runner

tl_need_dlpool

T=$TL_TMP

# The line as it is drawn: with a known size, the percentage, a bar, the
# counts, the rate and the time left ("--" before the first result); with
# none, the counts, the rate and the time elapsed.
SIZED='^ *[0-9]{1,3}% \[[= ]+\] [0-9]+ done, [0-9]+ failed, [0-9.]+[kM]?/s, ETA ([0-9]+[hms]([0-9]{2}[ms])?|--)$'
UNSIZED='^[0-9]+ done, [0-9]+ failed, [0-9.]+[kM]?/s, [0-9]+[hms]([0-9]{2}[ms])? elapsed$'
ANY='[0-9]+ done, [0-9]+ failed, '

# ---- without a terminal ------------------------------------------------

# 12 tasks of 50 ms on 2 workers: long enough for several ticks.
: >"$T/slow.in"
: >"$T/slow.want"
for i in $(seq 1 12); do
    echo "[50,$i]" >>"$T/slow.in"
    echo "$i" >>"$T/slow.want"
done
tl_run "$T/slow.in" "$DLPOOL" run -j 2 "$TP:sleepy"
check_status "no terminal: exit status" 0
check_files "no terminal: the results" "$T/slow.want" "$TL_OUT"
check_empty "no terminal, no --progress: nothing drawn on stderr" "$TL_ERR"

tl_run "$T/slow.in" "$DLPOOL" run -j 2 --progress "$TP:sleepy"
check_status "--progress without a terminal: exit status" 0
check_files "--progress without a terminal: stdout holds only the results" \
    "$T/slow.want" "$TL_OUT"
# Each redraw starts with a carriage return and ends by clearing the rest
# of the line; the last thing written erases the line.
tr '\r' '\n' <"$TL_ERR" | sed 's/\x1b\[K$//' | grep -v '^$' >"$T/drawn"
check_grep "--progress without a terminal: drawn on stderr (standard input is a file: its size is known)" \
    "$SIZED" "$T/drawn"
if [ "$(tail -c 4 "$TL_ERR" | od -An -c | tr -d ' ')" = '\r033[K' ]; then
    tl_pass "--progress without a terminal: the line is erased at the end"
else
    tl_fail "--progress without a terminal: the line is erased at the end" \
        "expected stderr to end with \\r ESC [ K, got: $(tail -c 16 "$TL_ERR" | od -An -c)"
fi

tl_run "$T/slow.in" "$DLPOOL" run -j 2 --progress --no-progress "$TP:sleepy"
check_empty "--no-progress after --progress: nothing drawn" "$TL_ERR"

# ---- in a terminal -----------------------------------------------------

if ! command -v tmux >/dev/null 2>&1; then
    tl_skip "tmux is not installed (Debian: apt-get install tmux), so the progress line cannot be tried in a terminal"
fi

SOCK=dlpool-progress-$$
SESS=bar
tmux -L "$SOCK" -f /dev/null new-session -d -s "$SESS" -x 100 -y 40 \
    env -i HOME="$T" HISTFILE=/dev/null TERM=xterm PATH="/usr/bin:/bin" PS1='$ ' \
    bash --norc --noprofile
trap 'tmux -L "$SOCK" kill-server 2>/dev/null; tl_cleanup' EXIT
PANE_PID=$(tmux -L "$SOCK" display-message -p -t "$SESS" '#{pane_pid}')

# in_tty NAME COMMAND: run COMMAND in the pane and wait for it (at most 60 s),
# taking a picture of the pane every 50 ms meanwhile: $T/NAME.seen has
# every line any picture showed (each picture ending in '-- picture --'), $T/NAME.end the pane at the end, and
# TL_RC the command's exit status.  The pane is cleared first.
in_tty() {
    local name=$1 cmd=$2 i
    rm -f "$T/$name.rc"
    : >"$T/$name.seen"
    tmux -L "$SOCK" send-keys -t "$SESS" "clear; $cmd; echo \$? >'$T/$name.rc'" Enter
    for i in $(seq 1 1200); do
        tmux -L "$SOCK" capture-pane -p -t "$SESS" >>"$T/$name.seen"
        echo "-- picture --" >>"$T/$name.seen"
        [ -s "$T/$name.rc" ] && break
        sleep 0.05
    done
    sleep 0.1
    tmux -L "$SOCK" capture-pane -p -t "$SESS" >"$T/$name.end"
    TL_RC=$(cat "$T/$name.rc" 2>/dev/null)
    TL_RC=${TL_RC:-124}
    TL_LIMIT=60
    TL_ERR=$T/$name.end
}

# no_bar_left NAME: the pane at the end shows no progress line.
no_bar_left() {
    check_no_grep "$1: the progress line is erased at the end" "$ANY" "$T/$1.end"
}

# A file: the size is known, by bytes read.  The line is drawn by default,
# standard error being the terminal.
: >"$T/file.in"
: >"$T/file.want"
for i in $(seq 1 40); do
    echo "[60,$i]" >>"$T/file.in"
    echo "$i" >>"$T/file.want"
done
in_tty file "'$DLPOOL' run -j 2 '$TP:sleepy' '$T/file.in' >'$T/file.out'"
check_status "a file: exit status" 0
check_grep "a file: the line, with percentage, bar and time left" "$SIZED" "$T/file.seen"
if grep -E "$SIZED" "$T/file.seen" | grep -qvE '^ *(0|100)% '; then
    tl_pass "a file: a percentage between 0 and 100 while it runs"
else
    tl_fail "a file: a percentage between 0 and 100 while it runs"
    tl_show "the lines drawn" "$T/file.seen"
fi
check_files "a file: standard output holds only the results" "$T/file.want" "$T/file.out"
no_bar_left file

# A pipe: no size, no reading ahead; the time elapsed.
in_tty pipe "cat '$T/file.in' | '$DLPOOL' run -j 2 '$TP:sleepy' >'$T/pipe.out'"
check_status "a pipe: exit status" 0
check_grep "a pipe: the line, with the time elapsed" "$UNSIZED" "$T/pipe.seen"
check_no_grep "a pipe: no percentage" '% \[' "$T/pipe.seen"
check_files "a pipe: standard output holds only the results" "$T/file.want" "$T/pipe.out"
no_bar_left pipe

# Slow results: three tasks of one second on one worker.  The line is
# drawn, and redrawn, before the first result arrives.
in_tty slow "'$DLPOOL' run -j 1 --progress '$TP:sleepy' ::: 1000 ::: 1 2 3 >'$T/slow.out'"
check_status "slow tasks: exit status" 0
check_grep "slow tasks: drawn before any result" \
    '^ *0% \[ +\] 0 done, 0 failed, 0\.0/s, ETA --$' "$T/slow.seen"
check_grep "slow tasks: redrawn as results come (1 of 3)" \
    '^ *33% \[=+ +\] 1 done, 0 failed, [0-9.]+/s, ETA [0-9]+s$' "$T/slow.seen"
check_grep "slow tasks: redrawn as results come (2 of 3)" \
    '^ *66% \[=+ +\] 2 done, 0 failed, [0-9.]+/s, ETA [0-9]+s$' "$T/slow.seen"
check_text "slow tasks: the results" "$T/slow.out" <<'EOF'
1
2
3
EOF
no_bar_left slow

# Failures: the messages and the closing count are whole lines, the
# progress line erased before each.  Three tasks of 150 ms succeed and
# three of 400 ms time out at 250 ms, one at a time: the line is drawn
# meanwhile.
in_tty fail "'$DLPOOL' run -j 1 --timeout 0.25 '$TP:sleepy' ::: 150 400 ::: 1 2 3 >'$T/fail.out'"
check_status "failures: exit status" 1
check_grep "failures: the line is drawn while they run" "$SIZED" "$T/fail.seen"
check_grep "failures: the message of task 3 is a line of its own" \
    '^dlpool: task 3 \(::: 400 1\): timed out after 0\.25 s \(worker [0-9]+ killed\)$' "$T/fail.end"
check_grep "failures: the count, pluralised, is a line of its own" \
    '^dlpool: 3 of 6 tasks failed \(3 timed out\)$' "$T/fail.end"
check_eq "failures: every line on the terminal is a message of dlpool's" "" \
    "$(grep -vE '^(dlpool: .*|[$]( .*)?)?$' "$T/fail.end")"
no_bar_left fail

# Results on the terminal too: each is a line of its own, never mixed with
# the progress line.
in_tty shared "'$DLPOOL' run -j 1 '$TP:sleepy' ::: 150 ::: 1 2 3 4 5 6"
check_status "results on the terminal: exit status" 0
grep -E '^[0-9]+$' "$T/shared.end" >"$T/shared.got"
check_text "results on the terminal: each on a line of its own" "$T/shared.got" <<'EOF'
1
2
3
4
5
6
EOF
check_no_grep "results on the terminal: no line mixes a result and something else" \
    '^[0-9]+[^0-9]' "$T/shared.end"
# ... and each goes out while the run goes on, before the line is drawn
# again: some picture shows the first result beside the progress line.
if awk -v any="$ANY" '
        /^-- picture --$/ { if (r && p) found = 1; r = p = 0; next }
        /^1$/ { r = 1 }
        $0 ~ any { p = 1 }
        END { exit !found }' "$T/shared.seen"; then
    tl_pass "results on the terminal: shown while the run goes on"
else
    tl_fail "results on the terminal: shown while the run goes on" \
        "expected a picture with the result 1 and the progress line; none had both"
fi
no_bar_left shared

in_tty off "'$DLPOOL' run -j 2 --no-progress '$TP:sleepy' '$T/file.in' >'$T/off.out'"
check_status "--no-progress on a terminal: exit status" 0
check_no_grep "--no-progress on a terminal: nothing drawn" "$ANY" "$T/off.seen"

# Every command has ended: only the pane's shell is left in its session.
left=$(tl_session_procs "$PANE_PID" | grep -v "^$PANE_PID ")
check_eq "no process left in the terminal's session" "" "$left"

tl_finish
