#!/usr/bin/env bash
# soak.sh - a million tasks while another process SIGKILLs a random worker
# of the pool every few milliseconds (run by make soak, not make check).
#
# With retries every task must still succeed, in order, and the command's
# memory must stay flat however many workers it replaces; without retries
# every line must still be there, in order, with no more failures than
# kills, each one a SIGKILL.  Nothing may be left behind.
#
# SOAK_TASKS (default 1000000) and SOAK_TASKS2 (default 200000) are the
# tasks of the two runs, SOAK_KILL_MS (default 5) the milliseconds between
# kills, SOAK_LIMIT (default 3600) the most seconds one run may take.
# The tasks are testplug:echo_i64, so that a kill lands anywhere: in a task,
# between tasks, while a batch is read or its results written.  With
# SOAK_SLEEP_MS above 0 they are testplug:sleepy tasks of that many
# milliseconds instead: nearly every kill then lands in a task, and the
# run takes far longer.
# shellcheck disable=SC2119 # tl_wait has an option, not the script's arguments.
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init soak
tl_need_runner

tl_need_dlpool

TASKS=${SOAK_TASKS:-1000000}
TASKS2=${SOAK_TASKS2:-200000}
KILL_MS=${SOAK_KILL_MS:-5}
LIMIT=${SOAK_LIMIT:-3600}
SLEEP_MS=${SOAK_SLEEP_MS:-0}
if [ "$SLEEP_MS" -gt 0 ]; then
    FN=sleepy
else
    FN=echo_i64
fi
# More children than this at once means dead workers are not reaped.
MAX_CHILDREN=8
# The most the command's resident memory may grow above its median once
# it runs at full speed.
RSS_SLACK_KB=$((16 * 1024))
T=$TL_TMP

if [ -z "${EPOCHREALTIME:-}" ]; then
    tl_skip "bash 5 (EPOCHREALTIME) is needed to time the samples"
fi

# Forks are slow on some machines (tens of milliseconds in some virtual
# machines), so the killer and the sampler below start no process: they
# read /proc with the read builtin and wait with read -t on a FIFO that
# never has data.  Each opens the FIFO itself, so that the command under
# test inherits no descriptor of ours.
mkfifo "$T/never"

# open_never: NEVER is a descriptor of that FIFO, in this process.
open_never() {
    exec {NEVER}<>"$T/never"
}

# pause SECONDS: wait without a process (after open_never).
pause() {
    read -r -t "$1" -u "$NEVER" _
}

# set_now: NOW is the milliseconds since the epoch.
set_now() {
    local t=${EPOCHREALTIME/[.,]/}
    NOW=$((t / 1000))
}

# set_kids PID: KIDS is the array of the children of PID; every thread of
# PID has its own list.
set_kids() {
    local f a
    KIDS=()
    for f in /proc/"$1"/task/*/children; do
        # The list has no newline at its end: read fails, yet fills a.
        a=()
        read -r -a a 2>/dev/null <"$f"
        KIDS+=("${a[@]}")
    done
}

# running PID: PID exists and is not a zombie.
running() {
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

# The program the command runs once past the libtool wrapper script, if
# there is one: running it once makes sure it exists.
"$DLPOOL" --version >/dev/null 2>&1
BIN=$DLPOOL
for b in "$top_builddir/.libs/lt-dlpool" "$top_builddir/.libs/dlpool"; do
    if [ -x "$b" ]; then
        BIN=$b
        break
    fi
done

# await_bin PID: wait until PID runs BIN (not the wrapper script, whose
# memory is not the command's) or is gone.
await_bin() {
    while running "$1" && ! [ "/proc/$1/exe" -ef "$BIN" ]; do
        pause 0.001
    done
}

# killer PID MS OUT FILE: every MS milliseconds, SIGKILL one child of PID
# chosen at random, until PID is gone; then write the number of kills to
# FILE.  It starts once results appear in OUT: a worker killed while the
# pool loads the function for the first time counts as the plugin's fault
# (it killed the worker loading it), which is a set-up error.
killer() {
    local pid=$1 wait n=0
    wait=$(awk -v ms="$2" 'BEGIN { printf "%.3f", ms / 1000 }')
    open_never
    while running "$pid" && ! [ -s "$3" ]; do
        pause 0.001
    done
    while running "$pid"; do
        set_kids "$pid"
        if [ "${#KIDS[@]}" -gt 0 ] &&
            kill -KILL "${KIDS[RANDOM % ${#KIDS[@]}]}" 2>/dev/null; then
            n=$((n + 1))
        fi
        pause "$wait"
    done
    echo "$n" >"$4"
}

# sampler PID FILE: every 100 ms, append "MS_SINCE_START RSS_KB CHILDREN"
# of PID to FILE, until PID is gone.
sampler() {
    local pid=$1 t0 k v rest rss
    open_never
    set_now
    t0=$NOW
    await_bin "$pid"
    while running "$pid"; do
        rss=
        while read -r k v rest; do
            if [ "$k" = VmRSS: ]; then
                rss=$v
                break
            fi
        done <"/proc/$pid/status" 2>/dev/null
        set_kids "$pid"
        set_now
        [ -n "$rss" ] && echo "$((NOW - t0)) $rss ${#KIDS[@]}"
        pause 0.1
    done >>"$2"
}

# soak NAME TASKS ARGS...: dlpool run ARGS over tasks whose results are 1
# .. TASKS (in $T/want) while the killer runs; KILLS is the number of
# kills, ELAPSED the seconds.
soak() {
    local name=$1 n=$2
    shift 2
    seq 1 "$n" >"$T/want"
    if [ "$FN" = sleepy ]; then
        sed "s/.*/[$SLEEP_MS,&]/" "$T/want" >"$T/in"
    else
        cp "$T/want" "$T/in"
    fi
    : >"$T/rss"
    local t0
    set_now
    t0=$NOW
    tl_start -t "$LIMIT" "$T/in" "$DLPOOL" run "$@" "$TP:$FN"
    if [ -z "$TL_PID" ]; then
        tl_fail "$name: the command starts" "no process started"
        tl_wait
        return 1
    fi
    killer "$TL_PID" "$KILL_MS" "$TL_OUT" "$T/kills" &
    local kpid=$!
    sampler "$TL_PID" "$T/rss" &
    local spid=$!
    tl_wait
    wait "$kpid" "$spid"
    set_now
    ELAPSED=$(awk -v ms=$((NOW - t0)) 'BEGIN { printf "%.1f", ms / 1000 }')
    KILLS=$(cat "$T/kills" 2>/dev/null || echo 0)
    echo "$name: $n tasks of $FN in $ELAPSED s, $KILLS workers killed"
    if [ "$KILLS" -gt 0 ]; then
        tl_pass "$name: workers were killed during the run ($KILLS)"
    else
        tl_fail "$name: workers were killed during the run" "expected kills > 0, got 0"
    fi
    local most
    most=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$T/rss")
    if [ "$most" -le "$MAX_CHILDREN" ]; then
        tl_pass "$name: dead workers are reaped (most children at once: $most)"
    else
        tl_fail "$name: dead workers are reaped" \
            "expected at most $MAX_CHILDREN children of dlpool at a time, got $most"
    fi
    return 0
}

# ---- with retries: every task succeeds ---------------------------------

name="run 1 (--retries 1000)"
if soak "$name" "$TASKS" -j 2 --retries 1000 --restarts 100000/1; then
    kills1=$KILLS elapsed1=$ELAPSED
    check_status "$name: exit status" 0
    check_eq "$name: one line per task" "$TASKS" "$(wc -l <"$TL_OUT")"
    if cmp -s "$T/want" "$TL_OUT"; then
        tl_pass "$name: every result, in order"
    else
        tl_fail "$name: every result, in order" "first difference: $(cmp "$T/want" "$TL_OUT" 2>&1 | head -n 1)"
        grep '^{"error"' "$TL_OUT" | head -n 5 | sed 's/^/      | /'
    fi
    check_no_grep "$name: the pool kept its workers" 'every worker of the pool is gone' "$TL_ERR"
    check_empty "$name: nothing on stderr" "$TL_ERR"

    # Resident memory once the command runs at full speed: after its
    # first second, or all samples when the run was shorter.  The last
    # sample may have been taken while the process was exiting, its memory
    # already gone.
    sed '$d' "$T/rss" >"$T/rss.run"
    awk '$1 >= 1000 { print $2 }' "$T/rss.run" | sort -n >"$T/rss.sorted"
    if [ "$(wc -l <"$T/rss.sorted")" -lt 5 ]; then
        tl_note "$name: fewer than 5 RSS samples after the first second; using all $(wc -l <"$T/rss.run") samples"
        awk '{ print $2 }' "$T/rss.run" | sort -n >"$T/rss.sorted"
    fi
    read -r nrss rmin rmed rmax < <(awk '{ v[NR] = $1 } END {
        if (NR) print NR, v[1], v[int((NR + 1) / 2)], v[NR]; else print 0, 0, 0, 0 }' "$T/rss.sorted")
    echo "$name: RSS of dlpool over $nrss samples: min $rmin KiB, median $rmed KiB, max $rmax KiB"
    if [ "$nrss" -eq 0 ]; then
        tl_fail "$name: RSS stays flat" "no RSS sample was taken"
    elif [ $((rmax - rmed)) -lt "$RSS_SLACK_KB" ]; then
        tl_pass "$name: RSS stays flat (max - median = $((rmax - rmed)) KiB)"
    else
        tl_fail "$name: RSS stays flat" \
            "expected max - median < $RSS_SLACK_KB KiB, got $((rmax - rmed)) KiB (median $rmed, max $rmax)"
    fi
else
    kills1=0 elapsed1=-
fi

# ---- without retries: failures are the kills, nothing else -------------

name="run 2 (no retries)"
if soak "$name" "$TASKS2" -j 2 --restarts 100000/1; then
    kills2=$KILLS elapsed2=$ELAPSED
    nerr=$(grep -c '^{"error"' "$TL_OUT")
    check_status "$name: exit status" $((nerr > 0 ? 1 : 0))
    check_no_grep "$name: the pool kept its workers" 'every worker of the pool is gone' "$TL_ERR"
    # An error line counts as the value its task would have returned.
    sed -E 's/^\{"error":.*"index":([0-9]+)\}$/\1 error/' "$TL_OUT" |
        awk '$2 == "error" { print $1 + 1; next } { print }' >"$T/got2"
    if cmp -s "$T/want" "$T/got2"; then
        tl_pass "$name: every line present, in order"
    else
        tl_fail "$name: every line present, in order" "first difference: $(cmp "$T/want" "$T/got2" 2>&1 | head -n 1)"
    fi
    if [ "$nerr" -le "$KILLS" ]; then
        tl_pass "$name: no more failures than kills ($nerr <= $KILLS)"
    else
        tl_fail "$name: no more failures than kills" "expected at most $KILLS error lines, got $nerr"
    fi
    other=$(grep '^{"error"' "$TL_OUT" | grep -Evc '^\{"error":"worker [0-9]+ killed by SIGKILL","index":[0-9]+\}$')
    check_eq "$name: every failure is a worker killed by SIGKILL" 0 "$other"
    if [ "$other" -gt 0 ]; then
        grep '^{"error"' "$TL_OUT" | grep -Ev 'killed by SIGKILL"' | head -n 5 | sed 's/^/      | /'
    fi
else
    kills2=0 elapsed2=- nerr=-
fi

echo "summary: testplug:$FN; run 1: $TASKS tasks, $elapsed1 s, $kills1 kills, 0 failures expected;" \
    "run 2: $TASKS2 tasks, $elapsed2 s, $kills2 kills, ${nerr:-?} failures; a kill every $KILL_MS ms"
tl_finish
