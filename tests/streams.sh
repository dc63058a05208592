#!/usr/bin/env bash
# streams.sh - dlpool run when one of its streams fails.  For each of
# standard output, standard error, --checkpoint, --joblog and --trace:
# closed (or a path that cannot be opened), /dev/full, a full file system,
# a reader that goes away (EPIPE), and a slow reader on a non-blocking
# pipe (a FIFO for the files).  Each row checks the exit status, the
# message, and that nothing went where it should not: no result in a
# message stream, no message or result in a file of the run.
#
# Expected: only a standard output whose reader went away ends 141, with
# no message; any other write error names the stream and the error, and
# ends 2; a full non-blocking pipe is waited on, and every line arrives.
# Standard error that cannot be written loses the messages only: the run
# and its status are as they would have been.
#
# Then signals: SIGTERM while standard output is blocked by a reader that
# does not read, and SIGINT or SIGTERM while the plugin is loading.
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init streams
tl_need_runner
tl_need_cmd python3 "to read a pipe slowly with O_NONBLOCK set"
tl_need_cmd mkfifo "for the rows with a reader on a FIFO"

tl_need_dlpool
SLOW=$DLPOOL_TEST_PLUGINS/slowload.so
tl_need_file "$SLOW" "the slowly loading test plugin"

T=$TL_TMP

# ---- inputs and what a run with sound streams gives -----------------------

# 200,000 additions: results 2, 4, 6, ..., one per line (for a slow
# reader); the first 20,000 for the rest (their 128 KiB of results fill a
# pipe and the small file system).
N=200000
seq 1 "$N" | awk '{print "[" $1 "," $1 "]"}' >"$T/big.in"
seq 1 "$N" | awk '{print 2 * $1}' >"$T/big.expected"
M=20000
head -n "$M" "$T/big.in" >"$T/add.in"
head -n "$M" "$T/big.expected" >"$T/add.expected"
# 5,000 divisions by zero: an error line each, and a message each.
seq 1 5000 | awk '{print "[" $1 ",0]"}' >"$T/div.in"

run "$T/div.in" run -j 2 "$EX:divide"
check_status "reference run of failing tasks: exit status" 1
cp "$TL_OUT" "$T/div.out"
cp "$TL_ERR" "$T/div.err"
n=$(grep -c '^dlpool: task ' "$T/div.err")
check_eq "reference run: a message per failed task" 5000 "$n"

# slow.py FD CMD...: CMD with descriptor FD (1 or 2) on a pipe made
# non-blocking, read 4 KiB every 2 ms; what was read goes to the same
# descriptor of slow.py.  Exits with CMD's status.
cat >"$T/slow.py" <<'EOF'
import os, subprocess, sys, time
fd = int(sys.argv[1])
r, w = os.pipe()
os.set_blocking(w, False)
p = subprocess.Popen(sys.argv[2:], **{"stdout" if fd == 1 else "stderr": w})
os.close(w)
got = bytearray()
while True:
    time.sleep(0.002)
    b = os.read(r, 4096)
    if not b:
        break
    got += b
os.write(fd, got) if got else None
sys.exit(p.wait())
EOF

# slowfifo.py FIFO OUT: read FIFO 16 KiB every 2 ms into OUT.
cat >"$T/slowfifo.py" <<'EOF'
import sys, time
with open(sys.argv[1], "rb", buffering=0) as f, open(sys.argv[2], "wb") as o:
    while True:
        time.sleep(0.002)
        b = f.read(16384)
        if not b:
            break
        o.write(b)
EOF

# Redirections for the command go through bash -c, run by tl_run (so that
# a process left behind fails the test): sh_run INPUT SCRIPT ARGS..., where
# SCRIPT runs "$@", the dlpool command and ARGS.
sh_run() {
    local in=$1 script=$2
    shift 2
    tl_run "$in" bash -c "$script" bash "$DLPOOL" run "$@"
}

# closed_run INPUT SCRIPT ARGS...: sh_run with the program itself, past
# the libtool wrapper of the build tree: the wrapper is a shell script,
# and the shell opens it on the lowest free descriptor, where it would
# stand in for the closed one.
"$DLPOOL" --version >/dev/null 2>&1
BIN=$DLPOOL
for b in "$top_builddir/.libs/lt-dlpool" "$top_builddir/.libs/dlpool"; do
    if [ -x "$b" ]; then
        BIN=$b
        break
    fi
done
closed_run() {
    local in=$1 script=$2
    shift 2
    tl_run "$in" env \
        LD_LIBRARY_PATH="$top_builddir/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
        bash -c "$script" bash "$BIN" run "$@"
}

# one_message NAME TEXT: standard error of the last run holds exactly the
# line TEXT.
one_message() {
    printf '%s\n' "$2" >"$T/one.expected"
    check_files "$1" "$T/one.expected" "$TL_ERR"
}

# is_prefix NAME GOT EXPECTED: GOT holds whole lines, the first lines of
# EXPECTED (a write that failed lost lines, and changed none).
is_prefix() {
    local n
    n=$(wc -l <"$2")
    if [ -s "$2" ] && [ "$(tail -c 1 "$2" | od -An -c | tr -d ' ')" != '\n' ]; then
        tl_fail "$1" "expected whole lines, got a last line with no newline"
        tl_show "got (end)" <(tail -n 3 "$2")
    elif head -n "$n" "$3" | cmp -s - "$2"; then
        tl_pass "$1"
    else
        tl_fail "$1" "expected the first $n lines of $3"
        head -n "$n" "$3" | diff - "$2" | head -n 10 | sed 's/^/      /'
    fi
}

# files_whole NAME CK JL TR: the checkpoint starts with its header record,
# the job log with its header row, the trace with its JSON opening, and
# none holds a message.
files_whole() {
    local name=$1 ck=$2 jl=$3 tr=$4
    check_eq "$name: the checkpoint starts with its header" "H " \
        "$(head -c 2 "$ck")"
    check_eq "$name: the job log starts with its header" \
        "$(printf 'Index\tWorker')" "$(head -n 1 "$jl" | cut -f 1-2)"
    check_eq "$name: the trace is JSON" "ok" \
        "$(python3 -c 'import json,sys; json.load(open(sys.argv[1])); print("ok")' "$tr" 2>&1 | tail -n 1)"
    check_no_grep "$name: no message in the checkpoint, job log or trace" \
        '^dlpool: ' <(cat "$ck" "$jl" "$tr")
}

# ---- a small file system that fills up ------------------------------------

MNT=$T/mnt
mkdir "$MNT"
if mount -t tmpfs -o size=64k dlpool-streams "$MNT" 2>/dev/null; then
    HAVE_MNT=yes
    trap 'umount "$MNT" 2>/dev/null; tl_cleanup' EXIT
else
    HAVE_MNT=no
    echo "SKIP: full file system rows: cannot mount a 64 KiB tmpfs here (not root, or no mount permission)"
fi

# full_fs_reset: the small file system emptied again.
full_fs_reset() {
    rm -rf "${MNT:?}"/*
}

# ==== standard output =======================================================

# Closed: with the run's files opened next, the first free descriptor is
# 1; the results must not go into the checkpoint.
closed_run "$T/add.in" 'exec "$@" >&-' --checkpoint "$T/c.ck" \
    --joblog "$T/c.jl" --trace "$T/c.tr" "$EX:add"
check_status "stdout closed: exit status" 2
one_message "stdout closed: one message naming the output and the error" \
    "dlpool: writing results to standard output: Bad file descriptor"
files_whole "stdout closed" "$T/c.ck" "$T/c.jl" "$T/c.tr"
run "$T/add.in" run --checkpoint "$T/c.ck" "$EX:add"
check_status "stdout closed: a rerun with its checkpoint: exit status" 0
check_files "stdout closed: the rerun writes every result" \
    "$T/add.expected" "$TL_OUT"

sh_run "$T/add.in" 'exec "$@" >/dev/full' "$EX:add"
check_status "stdout /dev/full: exit status" 2
one_message "stdout /dev/full: one message naming the output and the error" \
    "dlpool: writing results to standard output: No space left on device"

if [ "$HAVE_MNT" = yes ]; then
    full_fs_reset
    sh_run "$T/add.in" "exec \"\$@\" >'$MNT/out'" --joblog "$T/f.jl" "$EX:add"
    check_status "stdout on a full file system: exit status" 2
    one_message "stdout on a full file system: one message" \
        "dlpool: writing results to standard output: No space left on device"
    n=$(wc -c <"$MNT/out")
    if head -c "$n" "$T/add.expected" | cmp -s - "$MNT/out"; then
        tl_pass "stdout on a full file system: what fitted, as it was"
    else
        tl_fail "stdout on a full file system: what fitted, as it was" \
            "expected the first $n bytes of the results"
        tl_show "got (end)" <(tail -n 3 "$MNT/out")
    fi
    check_no_grep "stdout on a full file system: no message in the job log" \
        '^dlpool: ' "$T/f.jl"
fi

sh_run "$T/add.in" '"$@" | head -n 1; exit "${PIPESTATUS[0]}"' "$EX:add"
check_status "stdout reader gone (EPIPE): exit status 141" 141
check_empty "stdout reader gone (EPIPE): no message" "$TL_ERR"
check_eq "stdout reader gone (EPIPE): the reader got the first line" 2 \
    "$(cat "$TL_OUT")"

# Two outputs fail: each is said.  A file of the run that cannot be
# written is an error even when the reader went away (not 141).
sh_run "$T/add.in" '"$@" | head -n 1; exit "${PIPESTATUS[0]}"' \
    --joblog /dev/full "$EX:add"
check_status "stdout reader gone, --joblog /dev/full: exit status" 2
one_message "stdout reader gone, --joblog /dev/full: the job log's message" \
    "dlpool: writing --joblog /dev/full: No space left on device"
sh_run "$T/add.in" 'exec "$@" >/dev/full' --trace /dev/full "$EX:add"
check_status "stdout and --trace /dev/full: exit status" 2
printf '%s\n' \
    "dlpool: writing results to standard output: No space left on device" \
    "dlpool: writing --trace /dev/full: No space left on device" \
    >"$T/two.expected"
check_files "stdout and --trace /dev/full: a message for each" \
    "$T/two.expected" "$TL_ERR"

tl_run "$T/big.in" python3 "$T/slow.py" 1 "$DLPOOL" run "$EX:add"
check_status "stdout non-blocking, slow reader: exit status" 0
check_files "stdout non-blocking, slow reader: all $N lines, in order" \
    "$T/big.expected" "$TL_OUT"
check_empty "stdout non-blocking, slow reader: no message" "$TL_ERR"

# The same when the trace fails first, while the run waits for a slow
# task (its files are flushed then), and standard output after it.
printf '[300,1]\n[0,2]\n' >"$T/sleepy.in"
sh_run "$T/sleepy.in" 'exec "$@" >/dev/full' -j 1 --trace /dev/full \
    "$TP:sleepy"
check_status "--trace, then stdout /dev/full: exit status" 2
check_files "--trace, then stdout /dev/full: a message for each" \
    "$T/two.expected" "$TL_ERR"

# The other commands that write to standard output say so too.
tl_run /dev/null bash -c 'exec "$@" >/dev/full' bash "$DLPOOL" --version
check_status "--version >/dev/full: exit status" 2
one_message "--version >/dev/full: one message" \
    "dlpool: writing to standard output: No space left on device"
tl_run /dev/null bash -c 'exec "$@" >/dev/full' bash "$DLPOOL" inspect "$EX"
check_status "inspect >/dev/full: exit status" 2
one_message "inspect >/dev/full: one message" \
    "dlpool: writing to standard output: No space left on device"

# ==== standard error ========================================================

# Closed: the job log, opened next, would take descriptor 2.
closed_run "$T/div.in" 'exec "$@" 2>&-' -j 2 --joblog "$T/e.jl" "$EX:divide"
check_status "stderr closed: exit status as with it" 1
check_files "stderr closed: every result line, nothing else" \
    "$T/div.out" "$TL_OUT"
check_empty "stderr closed: the messages vanish" "$TL_ERR"
check_no_grep "stderr closed: no message in the job log" '^dlpool: ' "$T/e.jl"
check_eq "stderr closed: a job log row per task" 5001 "$(wc -l <"$T/e.jl")"

sh_run "$T/div.in" 'exec "$@" 2>/dev/full' -j 2 "$EX:divide"
check_status "stderr /dev/full: exit status as with it" 1
check_files "stderr /dev/full: every result line" "$T/div.out" "$TL_OUT"

if [ "$HAVE_MNT" = yes ]; then
    full_fs_reset
    sh_run "$T/div.in" "exec \"\$@\" 2>'$MNT/err'" -j 2 "$EX:divide"
    check_status "stderr on a full file system: exit status as with it" 1
    check_files "stderr on a full file system: every result line" \
        "$T/div.out" "$TL_OUT"
    n=$(wc -c <"$MNT/err")
    if head -c "$n" "$T/div.err" | cmp -s - "$MNT/err"; then
        tl_pass "stderr on a full file system: the messages that fit, as they are"
    else
        tl_fail "stderr on a full file system: the messages that fit, as they are" \
            "expected the first $n bytes of the reference run's messages"
        tl_show "got (start)" <(head -n 5 "$MNT/err")
    fi
fi

sh_run "$T/div.in" \
    'exec 3>&1; "$@" 2>&1 >&3 | head -n 1 >/dev/null; exit "${PIPESTATUS[0]}"' \
    -j 2 "$EX:divide"
check_status "stderr reader gone (EPIPE): exit status as with it" 1
check_files "stderr reader gone (EPIPE): every result line" \
    "$T/div.out" "$TL_OUT"

tl_run "$T/div.in" python3 "$T/slow.py" 2 "$DLPOOL" run -j 2 "$EX:divide"
check_status "stderr non-blocking, slow reader: exit status" 1
check_files "stderr non-blocking, slow reader: every result line" \
    "$T/div.out" "$TL_OUT"
check_files "stderr non-blocking, slow reader: every message, in order" \
    "$T/div.err" "$TL_ERR"

# ==== standard input ========================================================

# Closed: reading it is an error, as any read error is; the checkpoint,
# opened next, would otherwise be read as the input.
closed_run "$T/add.in" 'exec "$@" <&-' --checkpoint "$T/i.ck" "$EX:add"
check_status "stdin closed: exit status" 2
one_message "stdin closed: one message naming the input and the error" \
    "dlpool: reading standard input: Bad file descriptor"
check_empty "stdin closed: nothing on stdout" "$TL_OUT"
check_eq "stdin closed: the checkpoint starts with its header" "H " \
    "$(head -c 2 "$T/i.ck")"

# ==== --checkpoint ==========================================================

run "$T/add.in" run --checkpoint "$T/nodir/ck" "$EX:add"
check_setup_error "--checkpoint that cannot be opened" \
    "cannot open checkpoint $T/nodir/ck: No such file or directory"

run "$T/add.in" run --checkpoint /dev/full "$EX:add"
check_setup_error "--checkpoint /dev/full" \
    "checkpoint /dev/full is not a regular file"

if [ "$HAVE_MNT" = yes ]; then
    full_fs_reset
    run "$T/add.in" run --checkpoint "$MNT/ck" "$EX:add"
    check_status "--checkpoint on a full file system: exit status" 2
    one_message "--checkpoint on a full file system: one message naming it" \
        "dlpool: writing checkpoint $MNT/ck: No space left on device"
    is_prefix "--checkpoint on a full file system: stdout is whole lines, in order" \
        "$TL_OUT" "$T/add.expected"
    cp "$MNT/ck" "$T/moved.ck"
    run "$T/add.in" run --checkpoint "$T/moved.ck" "$EX:add"
    check_status "--checkpoint on a full file system: a rerun elsewhere resumes it" 0
    check_files "--checkpoint on a full file system: the rerun writes every result" \
        "$T/add.expected" "$TL_OUT"
fi

# A FIFO (a reader that goes away, a slow reader) is no checkpoint: it
# is read back by a rerun.  Refused, without waiting for a reader.
mkfifo "$T/ck.fifo"
run -t 10 "$T/add.in" run --checkpoint "$T/ck.fifo" "$EX:add"
check_setup_error "--checkpoint on a FIFO" \
    "checkpoint $T/ck.fifo is not a regular file"

# ==== --joblog and --trace ==================================================

for opt in joblog trace; do
    run "$T/add.in" run "--$opt" "$T/nodir/f" "$EX:add"
    check_setup_error "--$opt that cannot be opened" \
        "cannot open --$opt $T/nodir/f: No such file or directory"

    run "$T/add.in" run "--$opt" /dev/full "$EX:add"
    check_status "--$opt /dev/full: exit status" 2
    one_message "--$opt /dev/full: one message naming it" \
        "dlpool: writing --$opt /dev/full: No space left on device"
    is_prefix "--$opt /dev/full: stdout is whole lines, in order" \
        "$TL_OUT" "$T/add.expected"

    if [ "$HAVE_MNT" = yes ]; then
        full_fs_reset
        run "$T/add.in" run "--$opt" "$MNT/f" "$EX:add"
        check_status "--$opt on a full file system: exit status" 2
        one_message "--$opt on a full file system: one message naming it" \
            "dlpool: writing --$opt $MNT/f: No space left on device"
        is_prefix "--$opt on a full file system: stdout is whole lines, in order" \
            "$TL_OUT" "$T/add.expected"
    fi

    # A FIFO whose reader goes away after 100 bytes.
    rm -f "$T/f.fifo"
    mkfifo "$T/f.fifo"
    head -c 100 <"$T/f.fifo" >/dev/null &
    reader=$!
    run "$T/add.in" run "--$opt" "$T/f.fifo" "$EX:add"
    wait "$reader"
    check_status "--$opt reader gone (EPIPE): exit status" 2
    one_message "--$opt reader gone (EPIPE): one message naming it" \
        "dlpool: writing --$opt $T/f.fifo: Broken pipe"
    is_prefix "--$opt reader gone (EPIPE): stdout is whole lines, in order" \
        "$TL_OUT" "$T/add.expected"

    # A FIFO read slowly: every row or event arrives.
    rm -f "$T/f.fifo"
    mkfifo "$T/f.fifo"
    python3 "$T/slowfifo.py" "$T/f.fifo" "$T/slow.$opt" &
    reader=$!
    run "$T/add.in" run "--$opt" "$T/f.fifo" "$EX:add"
    wait "$reader"
    check_status "--$opt slow reader: exit status" 0
    check_files "--$opt slow reader: every result on stdout" \
        "$T/add.expected" "$TL_OUT"
    check_empty "--$opt slow reader: no message" "$TL_ERR"
    if [ "$opt" = joblog ]; then
        n=$(wc -l <"$T/slow.$opt")
    else
        n=$(python3 -c 'import json,sys
print(sum(e.get("ph") == "X" for e in json.load(open(sys.argv[1]))["traceEvents"]))' \
            "$T/slow.$opt" 2>&1)
        n=$((n + 1))
    fi
    check_eq "--$opt slow reader: a row or span per task (and the header)" \
        $((M + 1)) "$n"
done

# ==== signals ===============================================================

# SIGTERM while standard output is blocked by a reader that does not read:
# the blocked write ends, and so does the run, with 143 (without the fix
# the write restarts, and the run waits for the reader for good).
mkfifo "$T/out.fifo"
sleep 60 <"$T/out.fifo" &
holder=$!
tl_start -t 20 "$T/big.in" bash -c 'exec "$@" >"$0"' "$T/out.fifo" \
    "$DLPOOL" run "$EX:add"
if ! tl_wait_exe "$TL_PID" dlpool lt-dlpool; then
    tl_fail "blocked output: the command started" "it did not run dlpool"
fi
# Blocked: the pipe (64 KiB) is full and no line more goes out.
for _ in $(seq 1 200); do
    case $(cat "/proc/$TL_PID/wchan" 2>/dev/null) in
    *pipe_write*) break ;;
    esac
    sleep 0.025
done
t0=$(date +%s%N)
kill -TERM "$TL_PID"
tl_wait
t1=$(date +%s%N)
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
check_status "SIGTERM while stdout is blocked: exit status 143" 143
ms=$(((t1 - t0) / 1000000))
# The reader is given 2 s to make room (so that lines stay whole).
if [ "$ms" -lt 5000 ]; then
    tl_pass "SIGTERM while stdout is blocked: the run ends within 5 s (${ms} ms)"
else
    tl_fail "SIGTERM while stdout is blocked: the run ends within 5 s" \
        "expected under 5000 ms, got $ms ms"
fi
check_grep "SIGTERM while stdout is blocked: the usual message" \
    '^dlpool: terminated by SIGTERM: [0-9]+ tasks read but not finished or not written' \
    "$TL_ERR"

# The same, but the reader goes away too, while the command still writes
# what it can after the signal (Ctrl-C ends a whole pipeline): the signal
# is why the run stopped, so its status and message win over 141.
sleep 60 <"$T/out.fifo" &
holder=$!
tl_start -t 20 "$T/big.in" bash -c 'exec "$@" >"$0"' "$T/out.fifo" \
    "$DLPOOL" run "$EX:add"
tl_wait_exe "$TL_PID" dlpool lt-dlpool ||
    tl_fail "blocked output, reader gone: the command started"
for _ in $(seq 1 200); do
    case $(cat "/proc/$TL_PID/wchan" 2>/dev/null) in
    *pipe_write*) break ;;
    esac
    sleep 0.025
done
kill -TERM "$TL_PID"
sleep 0.3
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
tl_wait
check_status "SIGTERM, then the reader gone: exit status 143" 143
check_grep "SIGTERM, then the reader gone: the usual message" \
    '^dlpool: terminated by SIGTERM: [0-9]+ tasks read but not finished or not written' \
    "$TL_ERR"

# SIGINT or SIGTERM while the plugin is loading (its constructor sleeps).
for sig in INT TERM; do
    tl_start -t 20 /dev/null "$DLPOOL" run "$SLOW:same" ::: 1 2 3
    tl_wait_exe "$TL_PID" dlpool lt-dlpool
    # A worker is loading the plugin once the command has a child.
    tl_wait_children "$TL_PID" 1 >/dev/null
    sleep 0.3
    kill -"$sig" "$TL_PID"
    tl_wait
    if [ "$sig" = INT ]; then
        want=130 says="interrupted by SIGINT"
    else
        want=143 says="terminated by SIGTERM"
    fi
    check_status "SIG$sig while the plugin loads: exit status $want" "$want"
    check_grep "SIG$sig while the plugin loads: the message says so" \
        "^dlpool: $says: .*slowload" "$TL_ERR"
    check_empty "SIG$sig while the plugin loads: nothing on stdout" "$TL_OUT"
done

tl_finish
