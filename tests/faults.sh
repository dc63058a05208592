#!/usr/bin/env bash
# faults.sh - the dlpool command under faults: tasks that run too long or
# crash, workers killed from outside, memory limits, workers recycled,
# halting on failures, signals to the command and its process group, a
# closed output, the command itself killed, workers that keep dying, and
# one huge argument.  Every run must end with every task accounted for in
# input order, the documented exit status, and no process left behind.
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init faults
tl_need_runner

tl_need_dlpool
IC=$DLPOOL_TEST_PLUGINS/idlecrash.so
tl_need_file "$IC" "the idlecrash test plugin"

T=$TL_TMP

# start NAME WORKERS INPUT ARGS...: dlpool ARGS in the background (see
# tl_start), once it is the dlpool program itself (past the libtool
# wrapper) and has WORKERS children; their pids are then in KIDS.
# Returns 1, with a failed check, if that did not happen.
start() {
    local name=$1 n=$2 in=$3
    shift 3
    tl_start "$in" "$DLPOOL" "$@"
    KIDS=
    if [ -z "$TL_PID" ] || ! tl_wait_exe "$TL_PID" dlpool lt-dlpool; then
        tl_fail "$name: the command starts" \
            "expected process ${TL_PID:-?} to run the dlpool program within 5 s"
        tl_wait
        return 1
    fi
    if ! KIDS=$(tl_wait_children "$TL_PID" "$n"); then
        tl_fail "$name: the pool starts" \
            "expected $n workers (children of $TL_PID) within 10 s, got: '$KIDS'"
        kill -KILL "$TL_PID" 2>/dev/null
        tl_wait -o
        return 1
    fi
    return 0
}

now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# check_below NAME LIMIT GOT [UNIT]: GOT < LIMIT.
check_below() {
    if [ "$3" -lt "$2" ]; then
        tl_pass "$1"
    else
        tl_fail "$1" "expected less than $2${4:-}, got $3${4:-}"
    fi
}

# as_values FILE: the output with each error line replaced by the value its
# task would have returned had the input been [MS,INDEX+1]: then a run of
# sleepy over [MS,1], [MS,2], ... reads 1, 2, ... with nothing missing.
as_values() {
    sed -E 's/^\{"error":.*"index":([0-9]+)\}$/\1 error/' "$1" |
        awk '$2 == "error" { print $1 + 1; next } { print }'
}

# marked FILE: each error line as "error at index N".
marked() {
    sed -E 's/^\{"error":.*"index":([0-9]+)\}$/error at index \1/' "$1"
}

# check_prefix NAME WANT GOT: GOT is the first lines of WANT, in order and
# with none missing.  A last line cut short (no newline) differs from them.
check_prefix() {
    local n
    n=$(wc -l <"$3")
    head -n "$n" "$2" >"$T/prefix.want"
    check_files "$1" "$T/prefix.want" "$3"
}

# check_not_run NAME WHY TOTAL: stderr says "WHY: X tasks read but not
# finished or not written[; input from line K on was not read]", and the
# numbers add up: the lines written and X make the K-1 lines read (or all
# TOTAL lines when the input was read to its end).
check_not_run() {
    local name=$1 why=$2 total=$3 line x k written
    line=$(grep -F -- "dlpool: $why: " "$TL_ERR" | head -n 1)
    if [[ $line =~ ^dlpool:\ .*:\ ([0-9]+)\ tasks?\ read\ but\ not\ finished\ or\ not\ written(\;\ input\ from\ line\ ([0-9]+)\ on\ was\ not\ read)?$ ]]; then
        tl_pass "$name: stderr says '$why' and what was not run"
        x=${BASH_REMATCH[1]}
        k=${BASH_REMATCH[3]:-$((total + 1))}
        written=$(wc -l <"$TL_OUT")
        check_eq "$name: lines written + tasks not finished = lines read" \
            "$((k - 1))" "$((written + x))"
    else
        tl_fail "$name: stderr says '$why' and what was not run" \
            "expected: dlpool: $why: X tasks read but not finished or not written[; input from line K on was not read]"
        tl_show "got" "$TL_ERR"
    fi
}

# pgid_of PID: the process group of PID, the 3rd field of /proc/PID/stat
# after the command name in parentheses.
pgid_of() {
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 0
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    echo "$3"
}

# sleepy_input FILE MS N: N lines [MS,1] .. [MS,N]; FILE.want has 1 .. N.
sleepy_input() {
    seq 1 "$3" | sed "s/.*/[$2,&]/" >"$1"
    seq 1 "$3" >"$1.want"
}

# ---- --timeout ---------------------------------------------------------

for i in $(seq 1 12); do
    if [ "$i" -eq 5 ]; then echo "[5000,$i]"; else echo "[20,$i]"; fi
done >"$T/timeout.in"
t0=$(now_ms)
run -t 20 "$T/timeout.in" run -j 3 --timeout 0.3 "$TP:sleepy"
t1=$(now_ms)
check_status "--timeout: exit status" 1
got=$(sed -n 5p "$TL_OUT")
if [[ $got == '{"error":"timed out after 0.3 s '*'","index":4}' ]]; then
    tl_pass "--timeout: the 5 s task fails as timed out"
else
    tl_fail "--timeout: the 5 s task fails as timed out" \
        'expected line 5: {"error":"timed out after 0.3 s ...","index":4}' \
        "got:             $got"
fi
sed 5d "$TL_OUT" >"$T/timeout.rest"
seq 1 12 | sed 5d >"$T/timeout.want"
check_files "--timeout: every other task succeeds, in order" "$T/timeout.want" "$T/timeout.rest"
check_grep "--timeout: the count on stderr" '^dlpool: 1 of 12 tasks failed \(1 timed out\)$' "$TL_ERR"
# Not a benchmark: had the task not been stopped, the run would take 5 s.
check_below "--timeout: the run does not wait for the 5 s task" 4000 $((t1 - t0)) " ms"

# ---- --retries ---------------------------------------------------------

# crash_once crashes the first time it sees a marker path: every task
# fails without retries, and a single retry saves every one.
mkdir "$T/marks0" "$T/marks1"
for d in 0 1; do
    for i in 1 2 3 4; do echo "[\"$T/marks$d/m$i\",$i]"; done >"$T/once$d.in"
done
run "$T/once0.in" run -j 2 "$TP:crash_once"
check_status "crash_once without retries: exit status" 1
check_eq "crash_once without retries: each task's first run crashes" 4 \
    "$(grep -c '^{"error":"worker [0-9]* killed by SIGSEGV","index":[0-3]}$' "$TL_OUT")"
run "$T/once1.in" run -j 2 --retries 1 "$TP:crash_once"
check_status "--retries 1: exit status" 0
check_text "--retries 1: every task succeeds on its second run" "$TL_OUT" <<'EOF'
1
2
3
4
EOF
check_empty "--retries 1: nothing on stderr" "$TL_ERR"

printf '%s\n' 5 -1 6 >"$T/crash.in"
run "$T/crash.in" run -j 2 --retries 2 "$TP:crash"
check_status "--retries 2 on a task that always crashes: exit status" 1
check_grep "--retries 2: the error says how many runs were made" \
    '^\{"error":"worker [0-9]+ killed by SIGSEGV \(after 3 attempts\)","index":1\}$' "$TL_OUT"
check_eq "--retries 2: the other tasks succeed" "5|6" "$(sed -n '1p;3p' "$TL_OUT" | paste -sd '|')"

# ---- a worker killed from outside -------------------------------------

sleepy_input "$T/kill1.in" 150 24
for retries in 0 3; do
    name="kill -9 of a busy worker (--retries $retries)"
    start "$name" 3 "$T/kill1.in" run -j 3 --retries "$retries" "$TP:sleepy" || continue
    sleep 0.5
    victim=${KIDS%% *}
    kill -KILL "$victim"
    tl_wait
    as_values "$TL_OUT" >"$T/kill1.got"
    check_files "$name: every line present, in order" "$T/kill1.in.want" "$T/kill1.got"
    nerr=$(grep -c '^{"error"' "$TL_OUT")
    if [ "$retries" -eq 0 ]; then
        check_below "$name: at most the task it ran fails" 2 "$nerr" " failed tasks"
        check_eq "$name: a failure says the worker was killed by SIGKILL" "" \
            "$(grep '^{"error"' "$TL_OUT" | grep -v "\"worker $victim killed by SIGKILL\"")"
        check_status "$name: exit status" $((nerr > 0 ? 1 : 0))
    else
        check_eq "$name: no task fails" 0 "$nerr"
        check_status "$name: exit status" 0
    fi
done

# ---- --memory-limit ----------------------------------------------------

if [ -n "${SAN_CFLAGS:-}" ]; then
    tl_note "--memory-limit not checked: sanitizers ($SAN_CFLAGS) reserve more address space than any limit"
else
    printf '%s\n' 1073741824 1000000 >"$T/hog.in"
    run "$T/hog.in" run -j 1 --memory-limit 256M "$TP:hog"
    check_status "--memory-limit 256M: exit status" 1
    check_text "--memory-limit 256M: 1 GiB cannot be had, 1 MB can" "$TL_OUT" <<'EOF'
{"error":"cannot allocate 1073741824 bytes","index":0}
1000000
EOF
fi

# ---- --max-tasks-per-worker --------------------------------------------

seq 1 100 | sed 's/.*/[]/' >"$T/pid.in"
run "$T/pid.in" run -j 2 --max-tasks-per-worker 5 "$TP:worker_pid"
check_status "--max-tasks-per-worker 5: exit status" 0
check_eq "--max-tasks-per-worker 5: one pid per task" 100 "$(grep -Ecx '[0-9]+' "$TL_OUT")"
n=$(sort -u "$TL_OUT" | wc -l)
if [ "$n" -ge 20 ]; then
    tl_pass "--max-tasks-per-worker 5: 100 tasks ran in at least 20 workers"
else
    tl_fail "--max-tasks-per-worker 5: 100 tasks ran in at least 20 workers" \
        "expected at least 20 distinct worker pids, got $n"
fi
seq 1 1000 >"$T/seq1000"
run "$T/seq1000" run -j 3 --max-tasks-per-worker 5 "$TP:echo_i64"
check_status "--max-tasks-per-worker 5 over 1000 tasks: exit status" 0
check_files "--max-tasks-per-worker 5 over 1000 tasks: exact output" "$T/seq1000" "$TL_OUT"

# ---- --halt ------------------------------------------------------------

# Every third task crashes.
for i in $(seq 1 1000); do
    if [ $((i % 3)) -eq 0 ]; then echo -1; else echo "$i"; fi
done >"$T/halt.in"
for i in $(seq 1 1000); do
    if [ $((i % 3)) -eq 0 ]; then echo "error at index $((i - 1))"; else echo "$i"; fi
done >"$T/halt.want"

run "$T/halt.in" run -j 1 --halt now,fail=2 "$TP:crash"
check_status "--halt now,fail=2: exit status" 1
marked "$TL_OUT" >"$T/halt.got"
head -n 6 "$T/halt.want" >"$T/halt6.want"
check_files "--halt now,fail=2: the lines up to the second failure, and no more" \
    "$T/halt6.want" "$T/halt.got"
check_not_run "--halt now,fail=2" "halted (now, fail=2)" 1000
check_grep "--halt now,fail=2: input was left unread" 'input from line [0-9]+ on was not read$' "$TL_ERR"
check_grep "--halt now,fail=2: the count on stderr" '^dlpool: 2 of 6 tasks failed \(2 killed by a signal\)$' "$TL_ERR"

run "$T/halt.in" run -j 1 --halt soon,fail=1 "$TP:crash"
check_status "--halt soon,fail=1: exit status" 1
marked "$TL_OUT" >"$T/halt.got"
check_prefix "--halt soon,fail=1: the output is the start of the full output" \
    "$T/halt.want" "$T/halt.got"
check_not_run "--halt soon,fail=1" "halted (soon, fail=1)" 1000
check_grep "--halt soon,fail=1: input was left unread" 'input from line [0-9]+ on was not read$' "$TL_ERR"

echo 1 >"$T/one.in"
while read -r opt val frag; do
    run "$T/one.in" run "$opt" "$val" "$TP:echo_i64"
    check_setup_error "$opt $val" "$frag"
done <<'EOF'
--halt bogus --halt
--halt now,fail=0 --halt
--halt soon,fail=x --halt
--timeout 0 --timeout
--timeout x --timeout
--retries -1 --retries
--memory-limit 10 --memory-limit
--max-tasks-per-worker 0 --max-tasks-per-worker
--restarts 5 --restarts
--restarts 5/0 --restarts
EOF

# ---- SIGINT and SIGTERM ------------------------------------------------

sleepy_input "$T/sig.in" 200 40
for sig in INT TERM; do
    if [ $sig = INT ]; then
        rc=130 why="interrupted by SIGINT"
    else
        rc=143 why="terminated by SIGTERM"
    fi
    name="SIG$sig mid-run"
    start "$name" 2 "$T/sig.in" run -j 2 "$TP:sleepy" || continue
    sleep 1
    t0=$(now_ms)
    kill -$sig "$TL_PID"
    tl_wait
    t1=$(now_ms)
    check_status "$name: exit status" $rc
    check_prefix "$name: what finished is written in order, with no gap" "$T/sig.in.want" "$TL_OUT"
    check_below "$name: stops instead of running the other tasks" 40 "$(wc -l <"$TL_OUT")" " lines"
    check_below "$name: stops within 2 s" 2000 $((t1 - t0)) " ms"
    check_not_run "$name" "$why" 40
done

# A second SIGINT while the first is being handled kills the command at
# once.  Its workers, busy in long tasks, must not outlive it.
sleepy_input "$T/slow.in" 10000 10
name="two SIGINTs 50 ms apart"
if start "$name" 3 "$T/slow.in" run -j 3 "$TP:sleepy"; then
    sleep 0.3
    kill -INT "$TL_PID"
    sleep 0.05
    kill -INT "$TL_PID" 2>/dev/null
    for _ in $(seq 1 20); do
        # shellcheck disable=SC2086 # $KIDS is a list of pids.
        [ -z "$(tl_live "$TL_PID" $KIDS)" ] && break
        sleep 0.05
    done
    # shellcheck disable=SC2086 # $KIDS is a list of pids.
    left=$(tl_live "$TL_PID" $KIDS | paste -sd ' ')
    check_eq "$name: the command and its workers are gone within 1 s" "" "$left"
    tl_wait -o
    check_status "$name: exit status" 130
fi

# The same while the command is blocked writing results to a reader that
# does not read yet: the first SIGINT must not be taken for a closed output
# (exit 141 with a line cut short), and a second one kills it at once.
mkfifo "$T/out.fifo"
seq 1 20 | sed 's/.*/1000000/' >"$T/big_str.in"
for twice in no yes; do
    if [ $twice = yes ]; then
        name="two SIGINTs while the output is blocked"
    else
        name="SIGINT while the output is blocked"
    fi
    # The reader reads only after the signals; it keeps the lines whole.
    { sleep 1.5; cat >"$T/fifo.got"; } <"$T/out.fifo" &
    reader=$!
    # shellcheck disable=SC2016 # $0 and $@ belong to the inner shell.
    tl_start "$T/big_str.in" sh -c 'exec "$@" >"$0"' "$T/out.fifo" \
        "$DLPOOL" run -j 2 "$TP:big_str"
    if ! tl_wait_exe "$TL_PID" dlpool lt-dlpool; then
        tl_fail "$name: the command starts" "process ${TL_PID:-?} never ran dlpool"
        tl_wait
        wait "$reader"
        continue
    fi
    KIDS=$(tl_wait_children "$TL_PID" 2)
    sleep 0.5
    kill -INT "$TL_PID"
    if [ $twice = yes ]; then
        sleep 0.2
        kill -INT "$TL_PID" 2>/dev/null
        for _ in $(seq 1 20); do
            # shellcheck disable=SC2086 # $KIDS is a list of pids.
            [ -z "$(tl_live "$TL_PID" $KIDS)" ] && break
            sleep 0.05
        done
        # shellcheck disable=SC2086 # $KIDS is a list of pids.
        check_eq "$name: the command and its workers are gone within 1 s" "" \
            "$(tl_live "$TL_PID" $KIDS | paste -sd ' ')"
        tl_wait -o
        check_status "$name: exit status" 130
        wait "$reader"
        continue
    fi
    tl_wait
    wait "$reader"
    check_status "$name: exit status" 130
    check_grep "$name: stderr says it was interrupted" '^dlpool: interrupted by SIGINT: ' "$TL_ERR"
    bad=$(awk 'length($0) != 1000000 + 2 { n++ } END { print n + 0 }' "$T/fifo.got")
    # A last line cut short counts too: awk reads it without its newline.
    check_eq "$name: every line written is whole" 0 "$bad"
done

# A Ctrl-C at a terminal signals the whole foreground process group; the
# workers have groups of their own, so only the command sees it and no
# task is killed by it.
sleepy_input "$T/cc.in" 300 20
name="SIGINT to the command's process group"
if start "$name" 3 "$T/cc.in" run -j 3 "$TP:sleepy"; then
    pgid=$(pgid_of "$TL_PID")
    same=
    for k in $KIDS; do
        [ "$(pgid_of "$k")" = "$pgid" ] && same="$same $k"
    done
    check_eq "$name: no worker is in the command's process group $pgid" "" "$same"
    sleep 0.4
    kill -INT -- "-$pgid"
    tl_wait
    check_status "$name: exit status" 130
    check_no_grep "$name: no task was killed by the SIGINT" 'SIGINT"' "$TL_OUT"
    check_prefix "$name: what finished is written in order" "$T/cc.in.want" "$TL_OUT"
    check_not_run "$name" "interrupted by SIGINT" 20
fi

# ---- a closed output ---------------------------------------------------

# The reader of the output leaves after one line: the command stops
# quietly with the status a SIGPIPE gives, having reaped its workers.
seq 1 1000000 >"$T/million.in"
sed 's/.*/100000/' "$T/million.in" >"$T/big100k.in"
for what in echo_i64 big_str; do
    if [ $what = echo_i64 ]; then in=$T/million.in; else in=$T/big100k.in; fi
    name="$what over 1000000 lines | head -n 1"
    t0=$(now_ms)
    # shellcheck disable=SC2016 # $0, $1, $2 belong to the inner shell.
    tl_run -t 30 "$in" bash -c \
        '"$0" run -j 2 "$1" | head -n 1; echo "${PIPESTATUS[*]}" >"$2"' \
        "$DLPOOL" "$TP:$what" "$T/pipestatus"
    t1=$(now_ms)
    check_eq "$name: dlpool exits 141, head 0" "141 0" "$(cat "$T/pipestatus")"
    check_empty "$name: nothing on stderr" "$TL_ERR"
    if [ $what = echo_i64 ]; then
        check_text "$name: head prints the first line" "$TL_OUT" <<<1
    else
        check_eq "$name: head prints the first line" "100003" "$(wc -c <"$TL_OUT")"
    fi
    check_below "$name: returns promptly" 5000 $((t1 - t0)) " ms"
done

# ---- the command killed ------------------------------------------------

name="kill -9 of dlpool while its workers are busy"
if start "$name" 3 "$T/slow.in" run -j 3 "$TP:sleepy"; then
    sleep 0.3
    kill -KILL "$TL_PID"
    for _ in $(seq 1 40); do
        # shellcheck disable=SC2086 # $KIDS is a list of pids.
        [ -z "$(tl_live $KIDS)" ] && break
        sleep 0.05
    done
    # shellcheck disable=SC2086 # $KIDS is a list of pids.
    check_eq "$name: every worker is gone within 2 s" "" \
        "$(tl_live $KIDS | paste -sd ' ')"
    tl_wait -o
    check_status "$name: exit status" 137
fi

# ---- --restarts --------------------------------------------------------

# idlecrash kills every worker 20 ms after it starts.  A death in a task
# fails that task; deaths outside tasks count towards the restart
# intensity.  Either way the run ends soon.
seq 1 100 >"$T/ic.in"
run -t 20 "$T/ic.in" run -j 2 --restarts 3/1 "$IC:slow"
case $TL_RC in
1)
    tl_pass "--restarts 3/1 with workers that keep dying: exit status 1 or 2"
    as_values "$TL_OUT" >"$T/ic.got"
    check_files "--restarts 3/1: every line present, in order" "$T/ic.in" "$T/ic.got"
    check_eq "--restarts 3/1: failures are the crashes" "" \
        "$(grep '^{"error"' "$TL_OUT" | grep -v 'killed by SIGSEGV"')"
    ;;
2)
    tl_pass "--restarts 3/1 with workers that keep dying: exit status 1 or 2"
    # Under load the bomb can go off before the plugin's LOAD is answered:
    # then the function fails to load, which is also the run's end.
    check_grep "--restarts 3/1: stderr names the restart intensity or the load" \
        'restart intensity|killed the worker loading it' "$TL_ERR"
    ;;
*) check_status "--restarts 3/1 with workers that keep dying: exit status 1 or 2" 2 ;;
esac

# Idle workers that keep dying: the pool gives up at once and says why,
# without waiting for input that may never come.
mkfifo "$T/ic.fifo"
exec 3<>"$T/ic.fifo"
echo 1 >&3
name="--restarts 3/1 with workers dying while idle"
tl_start -t 20 "$T/ic.fifo" "$DLPOOL" run -j 2 --restarts 3/1 "$IC:slow"
ended=no
for _ in $(seq 1 100); do
    if ! kill -0 "$TL_BG" 2>/dev/null; then
        ended=yes
        break
    fi
    sleep 0.05
done
exec 3>&-
tl_wait
check_eq "$name: stops within 5 s while the input is still open" yes "$ended"
check_status "$name: exit status" 2
check_grep "$name: stderr names the restart intensity or the load" \
    'restart intensity|killed the worker loading it' "$TL_ERR"

# ---- descriptors -------------------------------------------------------

# Every worker, the first ones and those started later to replace retired
# ones, holds stdin, stdout, stderr and its channel, nothing more.
seq 1 20 | sed 's/.*/[]/' >"$T/fds.in"
for extra in "" "--max-tasks-per-worker 2"; do
    # shellcheck disable=SC2086 # $extra is options or nothing.
    run "$T/fds.in" run -j 3 $extra "$TP:open_fds"
    check_status "open_fds ${extra:-with the first workers}: exit status" 0
    check_eq "open_fds ${extra:-with the first workers}: 4 in every task" 20 \
        "$(grep -cx 4 "$TL_OUT")"
done

# ---- a huge argument ---------------------------------------------------

big=$((100 * 1024 * 1024))
avail=$(df -Pk "$T" | awk 'NR == 2 { print $4 }')
if [ "${avail:-0}" -lt $((3 * big / 1024)) ]; then
    tl_note "a 100 MB argument not checked: $T has ${avail:-?} KiB free, needs $((3 * big / 1024))"
else
    {
        printf '"'
        head -c "$big" /dev/zero | tr '\0' a
        printf '"\n"abc"\n'
    } >"$T/huge.in"
    run -t 60 "$T/huge.in" run -j 1 "$EX:length"
    check_status "a 100 MB argument: exit status" 0
    check_text "a 100 MB argument: its length, then the next task's" "$TL_OUT" <<EOF
$big
3
EOF
    rm -f "$T/huge.in"
fi

tl_finish
