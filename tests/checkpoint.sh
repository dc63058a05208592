#!/usr/bin/env bash
# checkpoint.sh - dlpool run --checkpoint FILE: every finished task is
# kept in FILE as it finishes, and a rerun with the same FILE after an
# interruption (kill -9, Ctrl-C, SIGTERM, --halt) runs only the tasks not
# in it and writes the same output, byte for byte, as a run that was never
# interrupted.  A checkpoint of other input, another function or other
# options is refused; a record cut short when the run was killed is
# ignored, damage before the last record is an error naming its offset.
#
# Which tasks ran is seen through a side effect: testplug's logged(ms, v)
# appends v to the file named by DLPOOL_TEST_LOG before it sleeps.  The
# checkpoint is read independently of dlpool (python3 checks each
# record's length and checksum).
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init checkpoint
tl_need_runner
tl_need_cmd python3 "to read checkpoint files independently of dlpool"

tl_need_dlpool

T=$TL_TMP

# ckpt FILE [--strict | --last-offset | --offset K]: the indexes of the
# tasks in checkpoint FILE, sorted, one per line.  A cut-off last record
# is left out; --strict fails (status 1) on it instead.  --last-offset
# prints where the last whole record starts; --offset K where record K
# (counting from 0, the header is record 0) starts.
ckpt() {
    python3 - "$@" <<'EOF'
import sys, zlib
path, mode = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
data = open(path, "rb").read()
off, tasks, starts = 0, [], []
while off < len(data):
    nl = data.find(b"\n", off)
    head = data[off:nl].split(b" ") if nl >= 0 else []
    ok = len(head) == 3 and head[0] in (b"H", b"R")
    if ok:
        n, crc = int(head[1]), int(head[2], 16)
        payload = data[nl + 1:nl + 1 + n]
        ok = len(payload) == n and zlib.crc32(payload) == crc
    if not ok:
        if mode == "--strict":
            sys.exit("a bad record at byte %d" % off)
        break
    starts.append(off)
    if head[0] == b"R":
        tasks.append(int(payload.split(b" ", 1)[0]))
    off = nl + 1 + n
if mode == "--last-offset":
    print(starts[-1])
elif mode == "--offset":
    print(starts[int(sys.argv[3])])
else:
    for t in sorted(tasks):
        print(t)
EOF
}

# records_in FILE: how many whole records the checkpoint has so far (a
# quick look, for waiting on a run).
records_in() {
    local n
    n=$(grep -c '^R ' "$1" 2>/dev/null)
    echo "${n:-0}"
}

# wait_records FILE N: wait (at most 20 s) until FILE has N records.
wait_records() {
    for _ in $(seq 1 800); do
        [ "$(records_in "$1")" -ge "$2" ] && return 0
        sleep 0.025
    done
    return 1
}

# logged_input FILE N MS: N tasks logged(MS, i) for i = 0 .. N-1.
logged_input() {
    local i
    : >"$1"
    for ((i = 0; i < $2; i++)); do
        echo "[$3,$i]" >>"$1"
    done
}

# lines_of FILE: its lines sorted numerically (a missing file has none).
lines_of() {
    if [ -f "$1" ]; then sort -n "$1"; fi
}

# check_disjoint NAME A B: no line is in both files.
check_disjoint() {
    local both
    both=$(comm -12 <(sort "$2") <(sort "$3") | paste -sd ' ')
    if [ -z "$both" ]; then
        tl_pass "$1"
    else
        tl_fail "$1" "expected no task in both, got: $both"
    fi
}

# check_complete NAME CKPT N: CKPT is whole and holds tasks 0 .. N-1 once
# each.
check_complete() {
    if ckpt "$2" --strict >"$T/complete.got" 2>"$T/complete.err"; then
        seq 0 $(($3 - 1)) >"$T/complete.want"
        check_files "$1" "$T/complete.want" "$T/complete.got"
    else
        tl_fail "$1" "expected a checkpoint whose every record is whole"
        tl_show "the reader said" "$T/complete.err"
    fi
}

# ---- (a) a finished run, run again -------------------------------------

logged_input "$T/a.in" 30 1
CK=$T/a.ckpt
export DLPOOL_TEST_LOG=$T/a.log1
run "$T/a.in" run -j 3 --checkpoint "$CK" "$TP:logged"
check_status "complete run: exit status" 0
seq 0 29 >"$T/a.want"
check_files "complete run: output" "$T/a.want" "$TL_OUT"
check_empty "complete run: nothing on stderr" "$TL_ERR"
check_eq "complete run: every task ran once" "$(seq 0 29 | paste -sd ' ')" \
    "$(lines_of "$T/a.log1" | paste -sd ' ')"
check_complete "complete run: the checkpoint holds every task once" "$CK" 30
cp "$CK" "$T/a.full"

export DLPOOL_TEST_LOG=$T/a.log2
run "$T/a.in" run -j 3 --checkpoint "$CK" "$TP:logged"
check_status "rerun of a finished run: exit status" 0
check_files "rerun of a finished run: the same output" "$T/a.want" "$TL_OUT"
check_eq "rerun of a finished run: no task runs again" "" \
    "$(lines_of "$T/a.log2" | paste -sd ' ')"
check_files "rerun of a finished run: the checkpoint is unchanged" "$T/a.full" "$CK"

# Failed tasks are kept too: a rerun writes their error lines, reports
# them on standard error and counts them, as the first run did.
seq 1 10 >"$T/odd.in"
run "$T/odd.in" run -j 3 --checkpoint "$T/odd.ckpt" "$TP:fail_odd"
check_status "failures: exit status" 1
cp "$TL_OUT" "$T/odd.out1"
sort "$TL_ERR" >"$T/odd.err1"
run "$T/odd.in" run -j 3 --checkpoint "$T/odd.ckpt" "$TP:fail_odd"
check_status "failures, rerun: exit status" 1
check_files "failures, rerun: the same output" "$T/odd.out1" "$TL_OUT"
sort "$TL_ERR" >"$T/odd.err2"
check_files "failures, rerun: the same messages and count on stderr" \
    "$T/odd.err1" "$T/odd.err2"

# --records, in any order: a rerun writes each stored line once.
export DLPOOL_TEST_LOG=$T/a.log3
run "$T/a.in" run -j 3 --records --unordered --checkpoint "$T/ar.ckpt" \
    "$TP:logged"
check_status "--records --unordered: exit status" 0
sort "$TL_OUT" >"$T/ar.out1"
for i in $(seq 0 29); do echo "{\"index\":$i,\"value\":$i}"; done | sort >"$T/ar.want"
check_files "--records --unordered: a record per task" "$T/ar.want" "$T/ar.out1"
run "$T/a.in" run -j 3 --records --unordered --checkpoint "$T/ar.ckpt" \
    "$TP:logged"
sort "$TL_OUT" >"$T/ar.out2"
check_files "--records --unordered, rerun: the same records" "$T/ar.want" "$T/ar.out2"
check_eq "--records --unordered, rerun: no task runs again" 30 \
    "$(wc -l <"$T/a.log3")"

# ---- (b) kill -9 mid-run -----------------------------------------------

# Tasks of 100 ms on 4 workers: the run takes 2 s, and is killed once a
# dozen tasks are in the checkpoint.
logged_input "$T/b.in" 80 100
unset DLPOOL_TEST_LOG
run "$T/b.in" run -j 4 "$TP:logged"
check_status "uninterrupted run (reference): exit status" 0
cp "$TL_OUT" "$T/b.want"

CK=$T/b.ckpt
name="kill -9 mid-run"
export DLPOOL_TEST_LOG=$T/b.log1
tl_start "$T/b.in" "$DLPOOL" run -j 4 --checkpoint "$CK" "$TP:logged"
if wait_records "$CK" 12; then
    kill -KILL "$TL_PID"
    tl_wait -o
    check_status "$name: exit status" 137
    ckpt "$CK" >"$T/b.done"
    n=$(wc -l <"$T/b.done")
    if [ "$n" -gt 0 ] && [ "$n" -lt 80 ]; then
        tl_pass "$name: killed mid-run ($n of 80 tasks in the checkpoint)"
    else
        tl_fail "$name: killed mid-run" \
            "expected some but not all of the 80 tasks in the checkpoint, got $n"
    fi
    export DLPOOL_TEST_LOG=$T/b.log2
    run "$T/b.in" run -j 4 --checkpoint "$CK" "$TP:logged"
    check_status "$name, rerun: exit status" 0
    check_files "$name, rerun: output identical to an uninterrupted run" \
        "$T/b.want" "$TL_OUT"
    lines_of "$T/b.log2" >"$T/b.ran2"
    check_disjoint "$name, rerun: no task of the checkpoint runs again" \
        "$T/b.done" "$T/b.ran2"
    check_eq "$name, rerun: runs exactly the tasks not in the checkpoint" \
        "$(comm -23 <(seq 0 79 | sort) <(sort "$T/b.done") | sort -n | paste -sd ' ')" \
        "$(paste -sd ' ' "$T/b.ran2")"
    # A task in the checkpoint ran once in all: in the first run.
    twice=$(cat "$T/b.log1" "$T/b.log2" | sort | uniq -d | sort |
        comm -12 - <(sort "$T/b.done") | paste -sd ' ')
    check_eq "$name: each task of the checkpoint ran once in all" "" "$twice"
    check_complete "$name, rerun: the checkpoint then holds every task once" "$CK" 80
else
    tl_fail "$name: the checkpoint fills as tasks finish" \
        "expected 12 records in $CK within 20 s, got $(records_in "$CK")"
    kill -KILL "$TL_PID" 2>/dev/null
    tl_wait -o
fi

# ---- (c) a record cut short, and damage --------------------------------

CK=$T/c.ckpt
last=$(ckpt "$T/a.full" --last-offset)
last_task=$(tail -c +$((last + 1)) "$T/a.full" | sed -n 2p | cut -d' ' -f1)
for cut in 3 "$(($(wc -c <"$T/a.full") - last - 4))"; do
    name="the last record cut short by $cut bytes"
    cp "$T/a.full" "$CK"
    truncate -s "-$cut" "$CK"
    export DLPOOL_TEST_LOG=$T/c.log.$cut
    run "$T/a.in" run -j 3 --checkpoint "$CK" "$TP:logged"
    check_status "$name: exit status" 0
    check_files "$name: the same output" "$T/a.want" "$TL_OUT"
    check_eq "$name: only its task runs again" "$last_task" \
        "$(lines_of "$T/c.log.$cut" | paste -sd ' ')"
    check_grep "$name: a note on stderr" \
        "^dlpool: checkpoint $CK: its last record \\(at byte $last\\) is incomplete and was ignored$" \
        "$TL_ERR"
    check_complete "$name: cut off, then the checkpoint is whole" "$CK" 30
done

# One byte changed in the second task's record: damage, not a cut-off end.
cp "$T/a.full" "$CK"
at=$(ckpt "$CK" --offset 2)
printf 'X' | dd of="$CK" bs=1 seek=$((at + 20)) conv=notrunc 2>/dev/null
cp "$CK" "$T/c.damaged"
export DLPOOL_TEST_LOG=$T/c.log.damaged
run "$T/a.in" run -j 3 --checkpoint "$CK" "$TP:logged"
check_setup_error "damage before the last record" \
    "checkpoint $CK is damaged at byte $at "
check_files "damage before the last record: the file is left as it was" \
    "$T/c.damaged" "$CK"
check_eq "damage before the last record: no task runs" "" \
    "$(lines_of "$T/c.log.damaged" | paste -sd ' ')"

# A record made by hand, with a valid checksum: its content is checked as
# strictly as a line the command writes, and a bad one is refused with
# its offset before anything runs or is written.  craft FILE K HOW
# rewrites record K (the header is record 0) and fixes its checksum.
craft() {
    python3 - "$@" <<'EOF'
import sys, zlib
path, k, how = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = open(path, "rb").read()
off, recs = 0, []
while off < len(data):
    nl = data.find(b"\n", off)
    t, n, _ = data[off:nl].split(b" ")
    recs.append([t, data[nl + 1:nl + 1 + int(n)]])
    off = nl + 1 + int(n)
meta, msg, line = recs[k][1].split(b"\n", 2)
index, h, kind = meta.split(b" ")
if how == "two-lines":
    line = line + line
elif how == "no-newline":
    line = line[:-1]
elif how == "empty":
    line = b""
elif how == "newline-only":
    line = b"\n"
elif how == "index-max":
    index = b"18446744073709551615"
elif how == "control":
    line = b"\x1b[2J" + line
recs[k][1] = b" ".join([index, h, kind]) + b"\n" + msg + b"\n" + line
with open(path, "wb") as f:
    for t, p in recs:
        f.write(b"%s %d %08x\n" % (t, len(p), zlib.crc32(p)) + p)
EOF
}

at=$(ckpt "$T/a.full" --offset 5)
for how in two-lines:"more than one output line" \
    no-newline:"an output line that does not end in a newline" \
    empty:"no output line" \
    newline-only:"an empty output line" \
    index-max:"an index out of range" \
    control:"a control character in its output line"; do
    what=${how#*:} how=${how%%:*}
    name="a crafted record ($how)"
    cp "$T/a.full" "$CK"
    craft "$CK" 5 "$how"
    cp "$CK" "$T/c.crafted"
    if ckpt "$CK" --strict >/dev/null; then
        export DLPOOL_TEST_LOG=$T/c.log.$how
        run "$T/a.in" run -j 3 --checkpoint "$CK" "$TP:logged"
        check_setup_error "$name" \
            "dlpool: checkpoint $CK: the record at byte $at has $what"
        check_files "$name: the file is left as it was" "$T/c.crafted" "$CK"
        check_eq "$name: no task runs" "" \
            "$(lines_of "$T/c.log.$how" | paste -sd ' ')"
    else
        tl_fail "$name: its checksum is valid" "expected a record python3 accepts"
    fi
done

# A line over --max-line-length is read past, not held: the checkpoint
# keeps the hash of the whole line all the same, so a rerun skips it as
# any stored line, and finds it if it changed.
{
    echo '[1,0]'
    head -c 3000000 /dev/zero | tr '\0' x
    printf '\n[1,2]\n'
} >"$T/long.in"
CK=$T/long.ckpt
export DLPOOL_TEST_LOG=$T/long.log1
run "$T/long.in" run -j 1 --max-line-length 1M --checkpoint "$CK" "$TP:logged"
check_status "a line over --max-line-length: exit status" 1
cp "$TL_OUT" "$T/long.want"
check_eq "a line over --max-line-length: it fails alone" \
    '0 {"error":"line 2: the line is longer than --max-line-length (1048576 bytes): 3000000 bytes","index":1} 2' \
    "$(paste -sd ' ' "$TL_OUT")"
export DLPOOL_TEST_LOG=$T/long.log2
run "$T/long.in" run -j 1 --max-line-length 1M --checkpoint "$CK" "$TP:logged"
check_status "a line over --max-line-length, rerun: exit status" 1
check_files "a line over --max-line-length, rerun: the same output" \
    "$T/long.want" "$TL_OUT"
check_eq "a line over --max-line-length, rerun: no task runs again" "" \
    "$(lines_of "$T/long.log2" | paste -sd ' ')"
# The same length, its last byte changed: the hash of the whole line.
{
    echo '[1,0]'
    head -c 2999999 /dev/zero | tr '\0' x
    printf 'y\n[1,2]\n'
} >"$T/long.in"
run "$T/long.in" run -j 1 --max-line-length 1M --checkpoint "$CK" "$TP:logged"
check_eq "a line over --max-line-length, changed: found" \
    "dlpool: checkpoint $CK was written for different input: line 2 differs" \
    "$(tail -n 1 "$TL_ERR")"

# ---- (d) a checkpoint of another run -----------------------------------

CK=$T/d.ckpt
cp "$T/a.full" "$CK"
cp "$T/a.in" "$T/d.in.keep"
# Line 17 changed, the file's size kept: found when line 17 is read.
sed -i '17s/^\[1,16\]$/[1,61]/' "$T/a.in"
export DLPOOL_TEST_LOG=$T/d.log
run "$T/a.in" run -j 3 --checkpoint "$CK" "$TP:logged"
check_status "line 17 changed: exit status" 2
check_eq "line 17 changed: the message" \
    "dlpool: checkpoint $CK was written for different input: line 17 differs" \
    "$(cat "$TL_ERR")"
seq 0 15 >"$T/d.want"
check_files "line 17 changed: only the lines before it are written" \
    "$T/d.want" "$TL_OUT"
check_eq "line 17 changed: no task runs" "" "$(lines_of "$T/d.log" | paste -sd ' ')"
check_files "line 17 changed: the checkpoint is unchanged" "$T/a.full" "$CK"
cp "$T/d.in.keep" "$T/a.in"

run "$T/a.in" run -j 3 --checkpoint "$CK" "$TP:sleepy"
check_setup_error "another function" \
    "checkpoint $CK was written for a different function: $TP:logged (this run: $TP:sleepy)"
run "$T/a.in" run -j 3 --records --checkpoint "$CK" "$TP:logged"
check_setup_error "with --records" \
    "checkpoint $CK was written without --records (this run: with --records)"
run "$T/a.in" run -j 3 --sig 'i64(i64,i64)' --checkpoint "$CK" "$TP:logged"
check_setup_error "with --sig" \
    "checkpoint $CK was written without --sig (this run: with --sig 'i64(i64,i64)')"
head -n 29 "$T/a.in" >"$T/d.short"
run "$T/d.short" run -j 3 --checkpoint "$CK" "$TP:logged" "$T/d.short"
check_setup_error "another input file" \
    "checkpoint $CK was written for different input: standard input, $(wc -c <"$T/a.in") bytes (this run: $T/d.short, $(wc -c <"$T/d.short") bytes)"
check_eq "a checkpoint of another run: no task runs" "" \
    "$(lines_of "$T/d.log" | paste -sd ' ')"
check_files "a checkpoint of another run: the checkpoint is unchanged" "$T/a.full" "$CK"

# From a pipe the input's size is not known before it ends: a shorter
# input is found at its end.
CK=$T/d.pipe.ckpt
# shellcheck disable=SC2016 # $1 .. $4 belong to the inner shell.
tl_run /dev/null sh -c 'cat "$1" | "$2" run --checkpoint "$3" "$4"' sh \
    "$T/a.in" "$DLPOOL" "$CK" "$TP:logged"
check_status "from a pipe: exit status" 0
# shellcheck disable=SC2016 # $1 .. $4 belong to the inner shell.
tl_run /dev/null sh -c 'head -n 29 "$1" | "$2" run --checkpoint "$3" "$4"' sh \
    "$T/a.in" "$DLPOOL" "$CK" "$TP:logged"
check_status "a shorter input from a pipe: exit status" 2
check_grep "a shorter input from a pipe: the message" \
    "^dlpool: checkpoint $CK was written for different input: it has a result for line 30, and the input ends at line 29$" \
    "$TL_ERR"

# A plugin path that is no regular file is refused before it is hashed
# for the fingerprint: a FIFO would wait for a writer, a device never end.
mkfifo "$T/d.fifo"
for what in "/dev/zero:a character device" "$T/d.fifo:a FIFO" \
    "$T:a directory"; do
    plugin=${what%%:*} kind=${what#*:}
    run -t 10 "$T/a.in" run --checkpoint "$T/d.dev.ckpt" "$plugin:logged"
    check_setup_error "a plugin path that is $kind" \
        "dlpool: plugin $plugin is $kind, not a shared object file"
done

echo "some data, not a checkpoint" >"$T/d.data"
cp "$T/d.data" "$T/d.data.keep"
run "$T/a.in" run --checkpoint "$T/d.data" "$TP:logged"
check_setup_error "a file that is no checkpoint" \
    "$T/d.data is not a dlpool checkpoint"
check_files "a file that is no checkpoint: left alone" "$T/d.data.keep" "$T/d.data"

# Two runs on one checkpoint at once: the second is refused.
unset DLPOOL_TEST_LOG
CK=$T/d.busy.ckpt
tl_start "$T/b.in" "$DLPOOL" run -j 2 --checkpoint "$CK" "$TP:logged"
first_pid=$TL_PID first_bg=$TL_BG first_sid=$TL_SIDFILE first_what=$TL_WHAT
if wait_records "$CK" 1; then
    run "$T/a.in" run --checkpoint "$CK" "$TP:logged"
    check_setup_error "a checkpoint in use" "checkpoint $CK is in use by another run"
else
    tl_fail "a checkpoint in use: the first run starts" "expected a record in $CK within 20 s"
fi
kill -TERM "$first_pid"
TL_BG=$first_bg TL_SIDFILE=$first_sid TL_WHAT=$first_what
tl_wait
check_status "a checkpoint in use: the first run stops on SIGTERM" 143

# ---- (e) Ctrl-C and SIGTERM mid-run ------------------------------------

for how in INT TERM; do
    if [ $how = INT ]; then
        opts=(-j 4) status=130 want=$T/b.want
    else
        # Unordered, with records: the same records once sorted.
        opts=(-j 4 --unordered --records) status=143 want=$T/e.records.want
        for i in $(seq 0 79); do echo "{\"index\":$i,\"value\":$i}"; done |
            sort >"$want"
    fi
    name="SIG$how mid-run (${opts[*]})"
    CK=$T/e.$how.ckpt
    export DLPOOL_TEST_LOG=$T/e.$how.log1
    tl_start "$T/b.in" "$DLPOOL" run "${opts[@]}" --checkpoint "$CK" "$TP:logged"
    if ! wait_records "$CK" 8; then
        tl_fail "$name: the checkpoint fills as tasks finish" \
            "expected 8 records in $CK within 20 s, got $(records_in "$CK")"
        kill -KILL "$TL_PID" 2>/dev/null
        tl_wait -o
        continue
    fi
    kill -$how "$TL_PID"
    tl_wait
    check_status "$name: exit status" $status
    check_grep "$name: says what was not run" "^dlpool: (interrupted|terminated) by SIG$how: " "$TL_ERR"
    cp "$TL_OUT" "$T/e.$how.out1"
    ckpt "$CK" --strict >"$T/e.$how.done"
    n=$(wc -l <"$T/e.$how.done")
    if [ "$n" -gt 0 ] && [ "$n" -lt 80 ]; then
        tl_pass "$name: stopped mid-run, the checkpoint whole ($n of 80 tasks)"
    else
        tl_fail "$name: stopped mid-run, the checkpoint whole" \
            "expected some but not all of the 80 tasks in a whole checkpoint, got $n"
    fi
    if [ $how = INT ]; then
        # What it wrote is the start of the full output, in order.
        head -n "$(wc -l <"$T/e.$how.out1")" "$want" >"$T/e.$how.head"
        check_files "$name: the lines written are the first ones, in order" \
            "$T/e.$how.head" "$T/e.$how.out1"
    fi
    export DLPOOL_TEST_LOG=$T/e.$how.log2
    run "$T/b.in" run "${opts[@]}" --checkpoint "$CK" "$TP:logged"
    check_status "$name, rerun: exit status" 0
    if [ $how = INT ]; then
        check_files "$name, rerun: output identical to an uninterrupted run" \
            "$want" "$TL_OUT"
    else
        sort "$TL_OUT" >"$T/e.$how.sorted"
        check_files "$name, rerun: every record, once" "$want" "$T/e.$how.sorted"
    fi
    lines_of "$T/e.$how.log2" >"$T/e.$how.ran2"
    check_disjoint "$name, rerun: no task of the checkpoint runs again" \
        "$T/e.$how.done" "$T/e.$how.ran2"
    check_complete "$name, rerun: the checkpoint then holds every task once" "$CK" 80
done

# ---- --halt --------------------------------------------------------------

# --halt now stops at once: the failed task is in the checkpoint all the
# same, and a rerun without --halt runs the rest.
unset DLPOOL_TEST_LOG
printf '%s\n' 2 4 1 6 8 3 10 >"$T/h.in"
run "$T/h.in" run -j 2 "$TP:fail_odd"
cp "$TL_OUT" "$T/h.want"
run "$T/h.in" run -j 1 --halt now,fail=1 --checkpoint "$T/h.ckpt" "$TP:fail_odd"
check_status "--halt now: exit status" 1
check_eq "--halt now: the failed task is in the checkpoint" yes \
    "$(ckpt "$T/h.ckpt" --strict | grep -qx 2 && echo yes || echo no)"
run "$T/h.in" run -j 2 --checkpoint "$T/h.ckpt" "$TP:fail_odd"
check_status "--halt now, rerun without it: exit status" 1
check_files "--halt now, rerun without it: the output of a run never halted" \
    "$T/h.want" "$TL_OUT"
check_complete "--halt now, rerun without it: the checkpoint holds every task once" \
    "$T/h.ckpt" 7

# --halt now with --checkpoint, run again: the stored lines up to the
# failure are written, the halt is reached among them, and a task that
# finishes after it is neither written nor counted.  The closing line
# counts exactly the lines the output holds, each time.
seq 0 51 | awk '{ print $1 == 30 ? 1 : 2 * $1 }' >"$T/h2.in"
for pass in 1 2; do
    name="--halt now with --checkpoint, run $pass"
    run "$T/h2.in" run -j 2 --halt now,fail=1 --checkpoint "$T/h2.ckpt" \
        "$TP:fail_odd"
    check_status "$name: exit status" 1
    check_eq "$name: 31 lines, the failure last" "31 {\"error\":\"odd value 1 refused\",\"index\":30}" \
        "$(wc -l <"$TL_OUT") $(tail -n 1 "$TL_OUT")"
    check_grep "$name: the closing line counts the lines written" \
        "^dlpool: 1 of $(wc -l <"$TL_OUT") tasks failed \(1 plugin error\)$" "$TL_ERR"
done

# A rerun that halts on a stored failure before any task of its own has
# finished says so, as the first run did.
seq 1 100 | awk '{ print $1 == 40 ? "[1,0]" : "[" $1 ",1]" }' >"$T/h3.in"
for pass in 1 2; do
    name="--halt now, a failure stored early, run $pass"
    run "$T/h3.in" run -j 4 --halt now,fail=1 --checkpoint "$T/h3.ckpt" \
        "$DLPOOL_EXAMPLES/examples.so:divide"
    check_status "$name: exit status" 1
    check_eq "$name: 40 lines, the failure last" "40 {\"error\":\"division by zero: 1 / 0\",\"index\":39}" \
        "$(wc -l <"$TL_OUT") $(tail -n 1 "$TL_OUT")"
    check_grep "$name: it says it halted" \
        '^dlpool: halted \(now, fail=1\): ' "$TL_ERR"
done

tl_finish
