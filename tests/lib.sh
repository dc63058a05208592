# lib.sh - helpers shared by the shell tests (sourced, not run).
#
# A test script sources this file, calls tl_init, makes its checks with
# the check_* functions and ends with tl_finish, which prints the plain
# summary line "N passed, M failed" and exits 0 or 1.  A script that
# cannot run here calls tl_skip with a reason and exits 77.
#
# Every command that may start worker processes goes through tl_run, which
# runs it in a session of its own and then fails the test if any process
# of that session is left: the pool must have reaped all of its workers by
# the time the command exits.

# The environment make check gives us; sensible defaults let a script also
# run by hand from the build directory.
: "${top_builddir:=.}"
: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${DLPOOL_TEST_PLUGINS:=$top_builddir/tests/plugins/.libs}"
: "${DLPOOL_EXAMPLES:=$top_builddir/plugins/.libs}"
top_builddir=$(cd "$top_builddir" && pwd)
export top_builddir top_srcdir DLPOOL_TEST_PLUGINS DLPOOL_EXAMPLES

# A plugin path set by the user would change where bare names are found.
unset DLPOOL_PLUGIN_PATH
export LC_ALL=C

TL_PASSED=0
TL_FAILED=0
TL_TMP=
# The most seconds one command may take before it counts as hung.
TL_TIMEOUT=${TL_TIMEOUT:-60}

tl_cleanup() {
    if [ -n "$TL_TMP" ] && [ -d "$TL_TMP" ]; then
        rm -rf "$TL_TMP"
    fi
}

# tl_init NAME: a private temporary directory in $TL_TMP, removed on exit.
tl_init() {
    TL_NAME=$1
    TL_TMP=$(mktemp -d "${TMPDIR:-/tmp}/dlpool-$1.XXXXXX") || {
        echo "$1: cannot create a temporary directory" >&2
        exit 1
    }
    trap tl_cleanup EXIT
    trap 'exit 1' INT TERM HUP
}

# tl_need_runner: tl_run needs setsid and timeout; skip without them.
tl_need_runner() {
    if ! command -v setsid >/dev/null 2>&1; then
        tl_skip "setsid (util-linux) is needed to tell whether a command leaves processes behind"
    fi
    if ! command -v timeout >/dev/null 2>&1; then
        tl_skip "timeout (coreutils) is needed so that a hung command cannot hang the test"
    fi
}

tl_skip() {
    echo "SKIP: $TL_NAME: $*"
    exit 77
}

tl_pass() {
    TL_PASSED=$((TL_PASSED + 1))
    echo "ok - $1"
}

# tl_fail NAME [DETAIL...]: a failed check; each detail is one line.
tl_fail() {
    local name=$1
    shift
    TL_FAILED=$((TL_FAILED + 1))
    echo "FAIL - $name"
    local d
    for d in "$@"; do
        printf '    %s\n' "$d"
    done
}

# tl_note TEXT: something the reader should know that is not a check.
tl_note() {
    echo "note: $*"
}

tl_finish() {
    echo "$TL_PASSED passed, $TL_FAILED failed"
    if [ "$TL_FAILED" -gt 0 ]; then
        exit 1
    fi
    exit 0
}

# Show a file indented, for failure details (at most 40 lines).
tl_show() {
    local label=$1 file=$2 n
    n=$(wc -l <"$file")
    echo "    $label ($n lines):"
    head -n 40 "$file" | sed 's/^/      | /'
    if [ "$n" -gt 40 ]; then
        echo "      | ..."
    fi
}

# check_eq NAME EXPECTED GOT: two strings must be equal.
check_eq() {
    if [ "$2" == "$3" ]; then
        tl_pass "$1"
    else
        tl_fail "$1" "expected: $2" "got:      $3"
    fi
}

# check_files NAME EXPECTED_FILE GOT_FILE: equal contents, else a diff.
check_files() {
    if cmp -s "$2" "$3"; then
        tl_pass "$1"
    else
        tl_fail "$1" "expected (-) and got (+):"
        diff -u "$2" "$3" | tail -n +3 | head -n 60 | sed 's/^/      /'
    fi
}

# check_text NAME GOT_FILE <<EOF ... : the file must hold exactly the text.
check_text() {
    cat >"$TL_TMP/expected.txt"
    check_files "$1" "$TL_TMP/expected.txt" "$2"
}

# check_status NAME EXPECTED: the status of the last tl_run.
check_status() {
    if [ "$TL_RC" -eq "$2" ]; then
        tl_pass "$1"
    else
        tl_fail "$1" "expected exit status $2, got $TL_RC ($(tl_describe_rc "$TL_RC"))"
        tl_show "stderr" "$TL_ERR"
    fi
}

tl_describe_rc() {
    case $1 in
    124) echo "timed out after ${TL_LIMIT}s" ;;
    12[5-7]) echo "could not run the command" ;;
    13[0-9] | 1[4-9][0-9]) echo "killed by signal $(($1 - 128))" ;;
    *) echo "exit" ;;
    esac
}

# check_grep NAME ERE FILE: some line of FILE matches the extended regex.
check_grep() {
    if grep -Eq -- "$2" "$3"; then
        tl_pass "$1"
    else
        tl_fail "$1" "expected a line matching: $2"
        tl_show "got" "$3"
    fi
}

# check_no_grep NAME ERE FILE: no line of FILE matches.
check_no_grep() {
    if grep -Eq -- "$2" "$3"; then
        tl_fail "$1" "expected no line matching: $2"
        grep -En -- "$2" "$3" | head -n 20 | sed 's/^/      | /'
    else
        tl_pass "$1"
    fi
}

# check_empty NAME FILE
check_empty() {
    if [ -s "$2" ]; then
        tl_fail "$1" "expected nothing"
        tl_show "got" "$2"
    else
        tl_pass "$1"
    fi
}

# check_setup_error NAME FRAGMENT: exit status 2, nothing on stdout, and
# one message on stderr (plus the hint to --help) that contains FRAGMENT.
check_setup_error() {
    local name=$1 frag=$2 n
    check_status "$name: exit status" 2
    check_empty "$name: nothing on stdout" "$TL_OUT"
    n=$(grep -cv "^Try 'dlpool --help'\.$" "$TL_ERR")
    if [ "$n" -eq 1 ] && grep -q '^dlpool: ' "$TL_ERR" &&
        grep -Fq -- "$frag" "$TL_ERR"; then
        tl_pass "$name: one message naming '$frag'"
    else
        tl_fail "$name: one message naming '$frag'" \
            "expected one line 'dlpool: ...$frag...' (and at most the --help hint)"
        tl_show "got" "$TL_ERR"
    fi
}

# The processes of session SID, one "pid command" per line.  Read from
# /proc so that no other tool is needed: the session is the 6th field of
# /proc/PID/stat, the 4th after the command name in parentheses.
tl_session_procs() {
    local sid=$1 d stat rest pid
    for d in /proc/[0-9]*; do
        read -r stat 2>/dev/null <"$d/stat" || continue
        rest=${stat##*) }
        # shellcheck disable=SC2086
        set -- $rest
        if [ "${4:-}" = "$sid" ]; then
            pid=${d#/proc/}
            echo "$pid $(tr '\0' ' ' 2>/dev/null <"$d/cmdline")"
        fi
    done
}

# tl_run [-t SECONDS] INPUT CMD [ARGS...]: run CMD with standard input from
# the file INPUT (or /dev/null), in a new session, under a time limit.
# Sets TL_RC, and TL_OUT and TL_ERR to files with its output.  Then checks
# that no process of the session remains, and kills any that do.
TL_RUNS=0
TL_LIMIT=$TL_TIMEOUT
tl_run() {
    TL_LIMIT=$TL_TIMEOUT
    if [ "$1" = "-t" ]; then
        TL_LIMIT=$2
        shift 2
    fi
    local input=$1
    shift
    TL_RUNS=$((TL_RUNS + 1))
    TL_OUT=$TL_TMP/run$TL_RUNS.out
    TL_ERR=$TL_TMP/run$TL_RUNS.err
    local sidfile=$TL_TMP/run$TL_RUNS.sid
    # setsid execs the shell (or, when it must fork, waits for it with
    # -w); the shell records its pid, which is now the session id, and
    # execs the command in its place.
    # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell.
    timeout -k 5 "$TL_LIMIT" setsid -w sh -c 'echo $$ >"$0"; exec "$@"' \
        "$sidfile" "$@" <"$input" >"$TL_OUT" 2>"$TL_ERR"
    TL_RC=$?
    tl_check_session "$sidfile" "$*"
}

# run [-t SECONDS] INPUT ARGS...: the dlpool command ($DLPOOL, which the
# script sets) with ARGS and INPUT on standard input, through tl_run.
run() {
    local limit=$TL_TIMEOUT
    if [ "$1" = "-t" ]; then
        limit=$2
        shift 2
    fi
    local in=$1
    shift
    tl_run -t "$limit" "$in" "$DLPOOL" "$@"
}

# tl_check_session SIDFILE WHAT: no process may remain in the session.
# With TL_GRACE=SECONDS, processes may take that long to finish leaving
# (orphans a launcher such as mpirun leaves to init to reap).
tl_check_session() {
    local sidfile=$1 what=$2 sid left tries
    sid=$(cat "$sidfile" 2>/dev/null)
    if [ -z "$sid" ]; then
        tl_fail "started: $what" "the command did not start (status $TL_RC)"
        return
    fi
    left=$(tl_session_procs "$sid")
    tries=$((${TL_GRACE:-0} * 10))
    while [ -n "$left" ] && [ "$tries" -gt 0 ]; do
        sleep 0.1
        tries=$((tries - 1))
        left=$(tl_session_procs "$sid")
    done
    if [ -n "$left" ] && [ "$TL_RC" -eq 124 ]; then
        # The time limit killed the command, and its status already fails
        # the test; its workers are on their way out: make sure of it.
        kill -KILL -- "-$sid" 2>/dev/null
        sleep 0.2
    elif [ -n "$left" ]; then
        local IFS=$'\n'
        # shellcheck disable=SC2086
        tl_fail "no process left behind by: $what" \
            "expected no process in session $sid once the command exited, got:" \
            $left
        kill -KILL -- "-$sid" 2>/dev/null
        sleep 0.2
    fi
}

# tl_need_file PATH WHAT: stop with a failure when a build product is missing.
tl_need_file() {
    if [ ! -e "$1" ]; then
        tl_fail "$2 exists" "expected $1 (run make check, which builds it)"
        tl_finish
    fi
}

# tl_need_dlpool: DLPOOL, the dlpool command, TP, the test plugin, and EX,
# the example plugin, set and checked to exist.
tl_need_dlpool() {
    DLPOOL=$top_builddir/dlpool
    TP=$DLPOOL_TEST_PLUGINS/testplug.so
    EX=$DLPOOL_EXAMPLES/examples.so
    tl_need_file "$DLPOOL" "the dlpool command"
    tl_need_file "$TP" "the test plugin"
    tl_need_file "$EX" "the example plugin"
}

# tl_need_cmd CMD WHY: skip the script when CMD is not installed.
tl_need_cmd() {
    command -v "$1" >/dev/null 2>&1 || tl_skip "$1 is needed $2"
}

# ---- commands acted on while they run ----------------------------------

# tl_state PID: the state letter of process PID (R, S, Z, ...), or nothing
# when there is no such process.
tl_state() {
    local stat
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 0
    stat=${stat##*) }
    echo "${stat%% *}"
}

# tl_live PID...: those of the processes that still run (not zombies).  A
# process whose parent died is reaped by init, which in some containers
# never happens; its zombie holds nothing and is no worker left running.
tl_live() {
    local pid s
    for pid in "$@"; do
        s=$(tl_state "$pid")
        if [ -n "$s" ] && [ "$s" != Z ]; then
            echo "$pid"
        fi
    done
}

# tl_children PID: the pids of the children of PID, on one line.  Every
# thread of PID has its own list of the children it forked.
tl_children() {
    cat /proc/"$1"/task/*/children 2>/dev/null | tr -s ' \n' '  ' |
        sed 's/^ *//;s/ *$//'
}

# tl_start [-t SECONDS] INPUT CMD [ARGS...]: tl_run in the background, for
# a test that acts on the command while it runs.  Returns once the command
# has started; TL_PID is its pid (the session leader: the runner execs the
# command in its place), TL_OUT and TL_ERR its output files.  Finish with
# tl_wait.
tl_start() {
    TL_LIMIT=$TL_TIMEOUT
    if [ "$1" = "-t" ]; then
        TL_LIMIT=$2
        shift 2
    fi
    local input=$1
    shift
    TL_RUNS=$((TL_RUNS + 1))
    TL_OUT=$TL_TMP/run$TL_RUNS.out
    TL_ERR=$TL_TMP/run$TL_RUNS.err
    TL_SIDFILE=$TL_TMP/run$TL_RUNS.sid
    TL_WHAT="$*"
    # The status goes through a file: the shell would otherwise report a
    # job killed by a signal on its standard error, and the status says it.
    {
        # shellcheck disable=SC2016 # $$ and $@ belong to the inner shell.
        timeout -k 5 "$TL_LIMIT" setsid -w sh -c 'echo $$ >"$0"; exec "$@"' \
            "$TL_SIDFILE" "$@" <"$input" >"$TL_OUT" 2>"$TL_ERR"
        echo $? >"$TL_SIDFILE.rc"
    } 2>/dev/null &
    TL_BG=$!
    TL_PID=
    for _ in $(seq 1 200); do
        TL_PID=$(cat "$TL_SIDFILE" 2>/dev/null)
        [ -n "$TL_PID" ] && break
        sleep 0.025
    done
}

# tl_wait_exe PID NAME...: wait (at most 5 s) until process PID runs one of
# the programs NAME (the last part of its executable's path), past any
# wrapper script that execs the program.  Returns 1 if it never did.
tl_wait_exe() {
    local pid=$1 exe n
    shift
    for _ in $(seq 1 200); do
        exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
        for n in "$@"; do
            [ "${exe##*/}" = "$n" ] && return 0
        done
        sleep 0.025
    done
    return 1
}

# tl_wait_children PID N: wait (at most 10 s) until PID has at least N
# children; prints them.  Returns 1 if it never had.
tl_wait_children() {
    local kids arr
    for _ in $(seq 1 400); do
        kids=$(tl_children "$1")
        read -r -a arr <<<"$kids"
        if [ "${#arr[@]}" -ge "$2" ]; then
            echo "$kids"
            return 0
        fi
        sleep 0.025
    done
    echo "$kids"
    return 1
}

# tl_wait [-o]: wait for the command tl_start started; sets TL_RC and, like
# tl_run, fails the test if a process of its session remains.  With -o the
# command was killed before it could reap its workers, so their zombies
# (left to init) do not count; a worker still running does.
tl_wait() {
    local orphans=no sid left pid
    if [ "${1:-}" = "-o" ]; then
        orphans=yes
    fi
    wait "$TL_BG"
    TL_RC=$(cat "$TL_SIDFILE.rc" 2>/dev/null)
    TL_RC=${TL_RC:-125}
    if [ "$orphans" = no ]; then
        tl_check_session "$TL_SIDFILE" "$TL_WHAT"
        return
    fi
    sid=$(cat "$TL_SIDFILE" 2>/dev/null)
    [ -n "$sid" ] || return 0
    left=$(tl_session_procs "$sid" | while read -r pid _; do
        if [ -n "$(tl_live "$pid")" ]; then
            echo "$pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
        fi
    done)
    if [ -n "$left" ]; then
        local IFS=$'\n'
        # shellcheck disable=SC2086
        tl_fail "no process left running by: $TL_WHAT" \
            "expected no running process in session $sid once the command died, got:" \
            $left
        # Workers have process groups of their own: kill each one.
        for pid in $(echo "$left" | cut -d' ' -f1); do
            kill -KILL "$pid" 2>/dev/null
        done
        sleep 0.2
    fi
}
