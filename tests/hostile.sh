#!/usr/bin/env bash
# hostile.sh - plugin code that misbehaves: output it never flushes (in a
# task, in a fini hook, libc's puts), descriptor mistakes that could reach
# the worker's channel (closing low descriptors, garbage written into them,
# every descriptor closed), a standard error whose reader is gone, writes
# to and reads from a terminal under `stty tostop`, and a plugin whose
# constructor never returns or that is a FIFO, under `dlpool inspect`.
# Nothing may be lost, hang, or be left behind.
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init hostile
tl_need_runner
tl_need_cmd python3 "to run the command on a terminal (a pty)"

tl_need_dlpool
H=$DLPOOL_TEST_PLUGINS/hostile.so
HC=$DLPOOL_TEST_PLUGINS/hangctor.so
tl_need_file "$H" "the hostile test plugin"
tl_need_file "$HC" "the hangctor test plugin"
T=$TL_TMP

# seq_lines N: the lines 1..N, one task each.
seq_lines() {
    seq 1 "$1" >"$T/in.$1"
    echo "$T/in.$1"
}

# check_count NAME EXPECTED FILE: the file has EXPECTED lines matching ERE.
check_count() {
    local n
    n=$(grep -Ec -- "$3" "$4")
    check_eq "$1" "$2" "$n"
}

# ---- output that is never flushed -------------------------------------

run "$(seq_lines 3)" run -j 1 "$H:print_noflush"
check_status "print_noflush: exit status" 0
check_count "print_noflush: each task's printf reaches stderr" 3 \
    '^hostile-task [123]$' "$TL_ERR"
check_count "print_noflush: the fini hook's printf reaches stderr" 1 \
    '^hostile-fini$' "$TL_ERR"

run "$(seq_lines 4)" run -j 2 --max-tasks-per-worker 1 "$H:print_noflush"
check_status "retired workers: exit status" 0
check_count "retired workers: each task's printf reaches stderr" 4 \
    '^hostile-task [1-4]$' "$TL_ERR"
n=$(grep -c '^hostile-fini$' "$TL_ERR")
if [ "$n" -ge 4 ]; then
    tl_pass "retired workers: each retired worker's fini hook prints"
else
    tl_fail "retired workers: each retired worker's fini hook prints" \
        "expected 4 lines 'hostile-fini' at least (4 workers retired), got $n"
fi

printf '"puts-one"\n"puts-two"\n' >"$T/puts.in"
run "$T/puts.in" run -j 1 --sig 'i32(str)' libc.so.6:puts
check_status "libc puts: exit status" 0
check_count "libc puts: its lines reach stderr" 2 '^puts-(one|two)$' \
    "$TL_ERR"

# ---- descriptor mistakes ------------------------------------------------

seq 1 1000 >"$T/want.1000"
run "$(seq_lines 1000)" run -j 2 "$H:close_low"
check_status "close_low: exit status" 0
check_files "close_low: every result, in order" "$T/want.1000" "$TL_OUT"
check_no_grep "close_low: no message" '^dlpool:' "$TL_ERR"

run "$(seq_lines 1000)" run -j 2 "$H:garbage_low"
check_status "garbage_low: exit status" 0
check_files "garbage_low: every result, in order" "$T/want.1000" "$TL_OUT"
check_no_grep "garbage_low: no task blamed for a malformed frame" \
    'malformed|dlpool:' "$TL_ERR"

# Closing every descriptor reaches the channel wherever it is: each task
# that does fails on its own, its retries counted, and the run goes on.
run "$(seq_lines 30)" run -j 2 --retries 2 "$H:close_all"
check_status "close_all: exit status" 1
check_count "close_all: one error line per task" 30 \
    '^\{"error":".*closed or replaced its channel.*","index":[0-9]+' \
    "$TL_OUT"
check_grep "close_all: the summary counts every task" \
    '30 of 30 tasks failed' "$TL_ERR"
check_no_grep "close_all: never the restart intensity" \
    'restart intensity|every worker' "$TL_ERR"

# ---- a standard error nobody reads -------------------------------------

# Standard error is a pipe whose reader has left: printing fails the
# writes, never the tasks.
tl_run "$(seq_lines 200)" bash -c \
    '"$@" 2>&1 >"$0" | true; exit "${PIPESTATUS[0]}"' "$T/spam.out" \
    "$DLPOOL" run -j 2 "$H:spam"
check_status "dead stderr: exit status" 0
seq 1 200 >"$T/want.200"
check_files "dead stderr: every result, in order" "$T/want.200" \
    "$T/spam.out"

# ---- inspect --------------------------------------------------------------

# A constructor that never returns: inspect hangs until it is told to go,
# and then leaves nothing behind (tl_run checks), on SIGTERM as on SIGINT.
# Its worker leaves as soon as it sees the command gone: a moment's grace
# for that.
TL_GRACE=2 tl_run -t 30 /dev/null timeout --preserve-status 1 "$DLPOOL" \
    inspect "$HC"
check_status "inspect, hung constructor, SIGTERM" 143
TL_GRACE=2 tl_run -t 30 /dev/null timeout --preserve-status -s INT 1 \
    "$DLPOOL" inspect "$HC"
check_status "inspect, hung constructor, SIGINT" 130

mkfifo "$T/fifo.so"
tl_run -t 30 /dev/null timeout 10 "$DLPOOL" inspect "$T/fifo.so"
check_setup_error "inspect, a FIFO" "$T/fifo.so': it is a FIFO"
# run, too, refuses it before a worker is asked to load it (a worker would
# wait in dlopen for a writer), as it does a device.
tl_run -t 30 /dev/null timeout 10 "$DLPOOL" run "$T/fifo.so:f"
check_setup_error "run, a FIFO" "$T/fifo.so': it is a FIFO"
tl_run -t 30 /dev/null timeout 10 "$DLPOOL" run /dev/zero:f
check_setup_error "run, a device" "/dev/zero': it is a character device"

# ---- the terminal ---------------------------------------------------------

# onpty OUT SECONDS CMD...: CMD on a new pty with `stty tostop`, its
# output in OUT; with ONPTY_INTR=S, a Ctrl-C is typed S seconds after the
# first output.  Prints the exit status (or "hung" once SECONDS have
# passed: then everything of its session is killed) and, after it, any
# process of the pty's session left behind.
cat >"$T/onpty.py" <<'EOF'
import os, pty, select, signal, sys, time
out, limit, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
intr = float(os.environ.get("ONPTY_INTR", "-1"))
pid, fd = pty.fork()
if pid == 0:
    os.execvp("sh", ["sh", "-c", 'stty tostop && exec "$@"', "sh"] + cmd)
def session(sid):
    left = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == pid:
            continue
        try:
            stat = open("/proc/%s/stat" % d).read()
            cmdline = open("/proc/%s/cmdline" % d).read().replace("\0", " ")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            left.append("%s %s %s" % (d, fields[0], cmdline))
    return left
data, start, first, status = b"", time.time(), None, None
while status is None:
    if time.time() - start > limit:
        for p in session(pid):
            os.kill(int(p.split()[0]), signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        print("hung")
        break
    if first is not None and intr >= 0 and time.time() - first >= intr:
        os.write(fd, b"\x03")
        intr = -1
    r, _, _ = select.select([fd], [], [], 0.05)
    if r:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            chunk = b""
        if chunk and first is None:
            first = time.time()
        data += chunk
    w, st = os.waitpid(pid, os.WNOHANG)
    if w == pid:
        status = os.waitstatus_to_exitcode(st)
        print(status if status >= 0 else 128 - status)
time.sleep(0.3)
for p in session(pid):
    print("left behind: " + p)
open(out, "wb").write(data)
EOF

# check_pty NAME EXPECTED_STATUS: the last onpty's status and leftovers.
check_pty() {
    local got
    got=$(head -n 1 "$T/pty.status")
    check_eq "$1: exit status" "$2" "$got"
    if grep -q '^left behind' "$T/pty.status"; then
        tl_fail "$1: no process left behind" \
            "expected no process of the terminal's session once the command exited, got:" \
            "$(grep '^left behind' "$T/pty.status")"
    else
        tl_pass "$1: no process left behind"
    fi
}

if ! python3 -c 'import os, pty
pid, fd = pty.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)' >/dev/null 2>&1; then
    tl_note "no pty can be made here (python3's pty.fork failed):" \
        "the terminal's checks are not run"
    tl_finish
fi

tl_run -t 40 /dev/null python3 "$T/onpty.py" "$T/pty.out" 20 \
    "$DLPOOL" run -j 2 "$H:tty_write" ::: 1 2 3 4 5 6
cp "$TL_OUT" "$T/pty.status"
check_pty "tostop, a task writes to the terminal" 0
check_count "tostop: every task's line reaches the terminal" 6 \
    '^hostile-tty [1-6]' "$T/pty.out"

tl_run -t 40 /dev/null python3 "$T/onpty.py" "$T/pty.out" 20 \
    "$DLPOOL" run -j 2 "$H:tty_read" ::: 1 2 3
cp "$TL_OUT" "$T/pty.status"
check_pty "tostop, a task reads the terminal" 0
check_count "tostop: the read fails with EIO (-5)" 3 '^-5' "$T/pty.out"

# Ctrl-C reaches the command (130), which ends its workers: none of them
# is stopped or left running.
seq 1 200 >"$T/slow.in"
ONPTY_INTR=0.5 tl_run -t 40 /dev/null python3 "$T/onpty.py" "$T/pty.out" \
    20 sh -c 'exec "$0" run -j 2 "$1" <"$2"' "$DLPOOL" "$H:tty_slow" \
    "$T/slow.in"
cp "$TL_OUT" "$T/pty.status"
check_pty "tostop, Ctrl-C" 130

tl_finish
