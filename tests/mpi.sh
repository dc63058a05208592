#!/usr/bin/env bash
# mpi.sh - dlpool run under mpirun: rank 0 reads and writes, the other
# ranks run the tasks with pools of their own.  Three ranks on this one
# machine stand for a collector and two machines.  The output is the
# local run's, byte for byte (ordered) or line for line (unordered); a
# crashing task fails alone; the job limits hold on the agents; TCP, the
# path between machines, gives the same; an agent whose pool cannot be
# made says why (the C API).  Skipped when dlpool was built without MPI
# or mpirun is missing.
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init mpi
tl_need_runner

tl_need_dlpool

if ! grep -q '^#define HAVE_MPI 1' "$top_builddir/config.h" 2>/dev/null; then
    tl_skip "dlpool was built without MPI (configure found no MPI)"
fi
MPIRUN=$(command -v mpirun 2>/dev/null) ||
    tl_skip "mpirun is not installed (apt-get install openmpi-bin)"

# Open MPI refuses to run as root without these, and three ranks on fewer
# cores need oversubscription (which also makes idle ranks yield).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# When rank 0 exits with status 1 (a task failed), mpirun stops the other
# ranks at once; the agents' workers and fork servers then see their
# channels close and leave by themselves, reaped by init: give them a
# moment.
TL_GRACE=5
# Open MPI keeps what MPI_Init allocates to the end of the process, and its
# components are unloaded before LeakSanitizer looks, so their stacks read
# as leaks of unknown modules.  Under the sanitizers, look for leaks
# elsewhere: check_link runs the same agents and links without MPI.
if [ -n "${SAN_CFLAGS:-}" ]; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
fi
T=$TL_TMP

# mpi N [MPIRUN OPTIONS --] DLPOOL ARGS...: dlpool under mpirun -n N,
# input from the file $IN.
mpi() {
    local n=$1 opts=()
    shift
    if [ "${1:-}" = "--mca" ]; then
        opts=("$1" "$2" "$3")
        shift 3
        [ "${1:-}" = "--" ] && shift
    fi
    tl_run -t 120 "$IN" "$MPIRUN" -n "$n" "${opts[@]}" "$DLPOOL" "$@"
}

# The same tasks locally, for the reference output.
local_run() {
    run -t 120 "$IN" "$@"
    cp "$TL_OUT" "$T/local.out"
    cp "$TL_ERR" "$T/local.err"
    LOCAL_RC=$TL_RC
}

# ---- the same output ------------------------------------------------------

IN=$T/pairs.in
# 20,000 tasks and one bad line in the middle: enough for many batches to
# each agent, and an input error reported by rank 0.
awk 'BEGIN { for (i = 0; i < 20000; i++) {
    if (i == 777) print "[1,\"x\"]"; else print "[" i "," 2 * i "]" } }' >"$IN"

local_run run -j 2 "$EX:add"
mpi 3 run -j 1 "$EX:add"
check_status "3 ranks, ordered: exit status" "$LOCAL_RC"
if cmp -s "$TL_OUT" "$T/local.out"; then
    tl_pass "3 ranks, ordered: the output is the local run's, byte for byte"
else
    tl_fail "3 ranks, ordered: the output is the local run's, byte for byte" \
        "expected $(wc -l <"$T/local.out") lines as the local run, got $(wc -l <"$TL_OUT"); first difference:" \
        "$(cmp "$TL_OUT" "$T/local.out" 2>&1 | head -n 1)"
fi
# mpirun adds a notice of its own when rank 0's status is not 0.
check_eq "3 ranks, ordered: dlpool's messages on standard error" \
    "$(cat "$T/local.err")" "$(grep '^dlpool: ' "$TL_ERR")"

mpi 3 run -j 1 --unordered "$EX:add"
check_status "3 ranks, unordered: exit status" "$LOCAL_RC"
check_eq "3 ranks, unordered: the same lines" \
    "$(sort "$T/local.out" | md5sum)" "$(sort "$TL_OUT" | md5sum)"

mpi 3 --mca btl self,tcp -- run -j 1 "$EX:add"
check_status "3 ranks over TCP: exit status" "$LOCAL_RC"
check_eq "3 ranks over TCP: the output is the local run's" \
    "$(md5sum <"$T/local.out")" "$(md5sum <"$TL_OUT")"

# ---- failures, as on a local pool -------------------------------------------

IN=$T/crash.in
printf '%s\n' 1 -1 2 -2 3 >"$IN"
mpi 3 run -j 1 "$TP:crash"
check_status "a crashing task: exit status" 1
check_eq "a crashing task: its neighbours' results" "1 2 3" \
    "$(sed -n '1p;3p;5p' "$TL_OUT" | tr '\n' ' ' | sed 's/ $//')"
check_grep "a crashing task: SIGSEGV fails task 1 alone" \
    '^\{"error":"worker [0-9]+ killed by SIGSEGV","index":1\}$' "$TL_OUT"
check_grep "a crashing task: abort fails task 3 alone" \
    '^\{"error":"worker [0-9]+ killed by SIGABRT","index":3\}$' "$TL_OUT"
check_grep "a crashing task: the summary" \
    '^dlpool: 2 of 5 tasks failed' "$TL_ERR"

# A crashed worker's replacement on an agent rank is not forked by the
# rank's process, which has called MPI_Init: its parent is the fork server.
IN=$T/ppid.in
printf '%s\n' 0 -1 0 >"$IN"
mpi 2 run -j 1 "$TP:crash_or_ppid"
check_status "a replacement on an agent rank: exit status" 1
first=$(sed -n 1p "$TL_OUT")
again=$(sed -n 3p "$TL_OUT")
check_grep "a replacement on an agent rank: the crash" \
    '^\{"error":"worker [0-9]+ killed by SIGSEGV","index":1\}$' "$TL_OUT"
name="a replacement on an agent rank: its parent is not the first worker's"
if [[ $first =~ ^[0-9]+$ && $again =~ ^[0-9]+$ && $first != "$again" ]]; then
    tl_pass "$name"
else
    tl_fail "$name" "expected two different parent pids" \
        "got:      '$first' (first worker), '$again' (replacement)"
fi

# sleepy(ms, v): 3 s against a 0.3 s timeout with one retry, on an agent.
IN=$T/slow.in
printf '%s\n' '[3000,1]' '[10,2]' >"$IN"
mpi 3 run -j 1 --timeout 0.3 --retries 1 "$TP:sleepy"
check_status "a timeout on an agent: exit status" 1
check_grep "a timeout on an agent: the task timed out twice" \
    '^\{"error":"timed out after 0\.3 s \(worker [0-9]+ killed\) \(after 2 attempts\)","index":0\}$' \
    "$TL_OUT"
check_eq "a timeout on an agent: the other task" 2 "$(sed -n 2p "$TL_OUT")"

# ---- errors -----------------------------------------------------------------

IN=$T/pairs.in
mpi 3 run -j 1 "$EX:no_such_function"
check_status "an unknown symbol: exit status" 2
check_grep "an unknown symbol: the message names it" 'no_such_function' "$TL_ERR"

# An agent whose own pool cannot be made (the C API, tests/mpi_api.c: its
# initializer does not exist) answers rank 0 with why; every rank ends.
tl_run -t 120 /dev/null "$MPIRUN" -n 2 "$top_builddir/tests/mpi_api" "$EX"
check_status "an agent without a pool: exit status" 0
check_grep "an agent without a pool: rank 0 is told why" \
    'the agent could not start its workers: initializer: .*no_such_init' \
    "$TL_OUT"

tl_finish
