#!/usr/bin/env bash
# records.sh - what dlpool run keeps of each task besides its output line:
# --records (each line says its index: {"index":i,"value":V} or
# {"index":i,"error":{...}}), --joblog FILE (a tab-separated row per task,
# as GNU parallel's --joblog) and --trace FILE (a Chrome Trace Event
# timeline: a row per worker, a span per task, a marker per crash).
# Start times and run times come from DLP_JOB_TIMES.
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init records
tl_need_runner
tl_need_cmd python3 "to parse the records, job logs and traces"

tl_need_dlpool

T=$TL_TMP

# no_pids FILE: worker pids in messages made constant, for comparing.
no_pids() {
    sed -E 's/worker [0-9]+/worker PID/g' "$1"
}

now() {
    date +%s.%N
}

# ---- --records ---------------------------------------------------------

printf '%s\n' 1 -1 2 -3 3 >"$T/crash.in"
run "$T/crash.in" run -j 2 --records "$TP:crash"
check_status "--records with crashes: exit status" 1
no_pids "$TL_OUT" >"$T/crash.ordered"
check_text "--records with crashes: a record per task, in order" "$T/crash.ordered" <<'EOF'
{"index":0,"value":1}
{"index":1,"error":{"kind":"signal","message":"worker PID killed by SIGSEGV","signal":11,"attempts":1}}
{"index":2,"value":2}
{"index":3,"error":{"kind":"exit","message":"worker PID exited with status 3","exit_status":3,"attempts":1}}
{"index":4,"value":3}
EOF
check_grep "--records with crashes: the message on stderr as without it" \
    '^dlpool: task 1 \(line 2\): worker [0-9]+ killed by SIGSEGV$' "$TL_ERR"
check_grep "--records with crashes: the count on stderr" \
    '^dlpool: 2 of 5 tasks failed ' "$TL_ERR"

# --unordered: the same records, each still naming its task.
run "$T/crash.in" run -j 2 --records --unordered "$TP:crash"
check_status "--records --unordered with crashes: exit status" 1
no_pids "$TL_OUT" | sort >"$T/crash.unordered"
sort "$T/crash.ordered" >"$T/crash.sorted"
check_files "--records --unordered with crashes: the same records" \
    "$T/crash.sorted" "$T/crash.unordered"

# Out of order for real: task 0 sleeps while the others finish (on the
# other worker, and behind it on its own if they shared a batch).
{
    echo '[400,0]'
    for i in $(seq 1 11); do echo "[0,$i]"; done
} >"$T/late.in"
run "$T/late.in" run -j 2 --records --unordered "$TP:sleepy"
check_status "--records --unordered, a late first task: exit status" 0
if [ "$(head -n 1 "$TL_OUT")" != '{"index":0,"value":0}' ]; then
    tl_pass "--records --unordered, a late first task: it does not come first"
else
    tl_fail "--records --unordered, a late first task: it does not come first"
    tl_show "stdout" "$TL_OUT"
fi
python3 -c '
import json, sys
got = sorted(json.loads(l)["index"] for l in open(sys.argv[1]))
ok = all(json.loads(l)["value"] == json.loads(l)["index"] for l in open(sys.argv[1]))
print(" ".join(map(str, got)), "values match" if ok else "values differ")
' "$TL_OUT" >"$T/late.got"
check_eq "--records --unordered, a late first task: every index once, with its value" \
    "$(seq 0 11 | paste -sd ' ') values match" "$(cat "$T/late.got")"

printf '%s\n' 1 2 3 >"$T/odd.in"
run "$T/odd.in" run --records "$TP:fail_odd"
check_text "--records, a plugin error" "$TL_OUT" <<'EOF'
{"index":0,"error":{"kind":"plugin","message":"odd value 1 refused","attempts":1}}
{"index":1,"value":2}
{"index":2,"error":{"kind":"plugin","message":"odd value 3 refused","attempts":1}}
EOF

# A bad line never ran: no attempts, and the message without "line N: ".
printf '%s\n' 7 '[1,2]' '"x"' >"$T/bad.in"
run "$T/bad.in" run --records "$TP:echo_i64"
check_text "--records, bad input" "$TL_OUT" <<'EOF'
{"index":0,"value":7}
{"index":1,"error":{"kind":"input","message":"expected 1 argument, got 2"}}
{"index":2,"error":{"kind":"input","message":"argument 1 (i64): expected an integer, got a string"}}
EOF

printf '%s\n' '[]' >"$T/utf8.in"
run "$T/utf8.in" run --records "$TP:bad_utf8"
check_text "--records, a result that cannot be written" "$TL_OUT" <<'EOF'
{"index":0,"error":{"kind":"result","message":"the result is not valid UTF-8 text","attempts":1}}
EOF

printf '%s\n' -1 5 >"$T/retry.in"
run "$T/retry.in" run -j 2 --retries 2 --records "$TP:crash"
no_pids "$TL_OUT" >"$T/retry.got"
check_text "--records, a task retried" "$T/retry.got" <<'EOF'
{"index":0,"error":{"kind":"signal","message":"worker PID killed by SIGSEGV (after 3 attempts)","signal":11,"attempts":3}}
{"index":1,"value":5}
EOF

printf '%s\n' '"a\tb"' '"\u00e9"' >"$T/str.in"
run "$T/str.in" run --records "$TP:echo_str"
check_text "--records, str values as JSON" "$TL_OUT" <<'EOF'
{"index":0,"value":"a\tb"}
{"index":1,"value":"é"}
EOF
printf '%s\n' 2 0.5 >"$T/f64.in"
run "$T/f64.in" run --records "$TP:echo_f64"
check_text "--records, f64 values as without it" "$TL_OUT" <<'EOF'
{"index":0,"value":2.0}
{"index":1,"value":0.5}
EOF

# ---- --joblog ----------------------------------------------------------

HEADER=$'Index\tWorker\tStarttime\tJobRuntime\tAttempts\tStatus\tError'

# joblog_rows FILE: the rows (no header) sorted by index.
joblog_rows() {
    tail -n +2 "$1" | sort -n
}

# A mix of successes, plugin errors and crashes, with times: task i
# sleeps 50 ms, then crash(-1) and crash(-3) kill their workers and
# fail_odd fails odd values.  Two functions, so two runs.
for i in $(seq 0 9); do echo "[50,$i]"; done >"$T/jl.sleepy.in"
t0=$(now)
run "$T/jl.sleepy.in" run -j 3 --joblog "$T/jl.sleepy" "$TP:sleepy"
t1=$(now)
check_status "--joblog: exit status" 0
check_eq "--joblog: the header" "$HEADER" "$(head -n 1 "$T/jl.sleepy")"
check_eq "--joblog: a row per task, every index once" "$(seq 0 9 | paste -sd ' ')" \
    "$(joblog_rows "$T/jl.sleepy" | cut -f1 | paste -sd ' ')"
check_eq "--joblog: seven fields in every row" 0 \
    "$(awk -F'\t' 'NF != 7' "$T/jl.sleepy" | wc -l)"
check_eq "--joblog: every task ok, one attempt, no error" \
    "$(printf '1\tok\t\n%.0s' $(seq 1 10))" \
    "$(joblog_rows "$T/jl.sleepy" | cut -f5-7)"
# Times (DLP_JOB_TIMES): each task started during the run and ran at
# least its 50 ms, at most the whole run.
awk -F'\t' -v t0="$t0" -v t1="$t1" 'NR > 1 {
    if ($3 !~ /^[0-9]+\.[0-9][0-9][0-9]$/ || $4 !~ /^[0-9]+\.[0-9][0-9][0-9]$/)
        print "task " $1 ": Starttime " $3 " or JobRuntime " $4 " is not seconds with 3 decimals"
    else if ($3 < t0 - 0.001 || $3 > t1)
        print "task " $1 ": Starttime " $3 " outside the run, " t0 " to " t1
    else if ($4 < 0.049 || $4 > t1 - t0)
        print "task " $1 ": JobRuntime " $4 " s: not between 50 ms and the run (" t1 - t0 " s)"
}' "$T/jl.sleepy" >"$T/jl.times"
check_empty "--joblog: start times in the run, run times at least the task's sleep" "$T/jl.times"

# Worker pids are those of the workers: worker_pid returns its own.
printf '[]\n%.0s' $(seq 1 12) >"$T/pid.in"
run "$T/pid.in" run -j 3 --joblog "$T/jl.pid" "$TP:worker_pid"
check_status "--joblog, worker pids: exit status" 0
cp "$TL_OUT" "$T/pid.out"
joblog_rows "$T/jl.pid" | cut -f2 >"$T/pid.jl"
check_files "--joblog: the Worker of each task is the pid that ran it" \
    "$T/pid.out" "$T/pid.jl"

printf '%s\n' 1 2 3 4 >"$T/jl.odd.in"
run "$T/jl.odd.in" run -j 2 --joblog "$T/jl.odd" "$TP:fail_odd"
check_status "--joblog, plugin errors: exit status" 1
joblog_rows "$T/jl.odd" | cut -f1,5-7 >"$T/jl.odd.got"
check_text "--joblog, plugin errors: status and error per task" "$T/jl.odd.got" <<EOF
0	1	plugin	odd value 1 refused
1	1	ok	
2	1	plugin	odd value 3 refused
3	1	ok	
EOF

run "$T/crash.in" run -j 2 --joblog "$T/jl.crash" "$TP:crash"
check_status "--joblog, crashes: exit status" 1
joblog_rows "$T/jl.crash" | cut -f1,5-7 | no_pids /dev/stdin >"$T/jl.crash.got"
check_text "--joblog, crashes: status and error per task" "$T/jl.crash.got" <<EOF
0	1	ok	
1	1	signal	worker PID killed by SIGSEGV
2	1	ok	
3	1	exit	worker PID exited with status 3
4	1	ok	
EOF
check_eq "--joblog, crashes: the Worker of a crashed task is the worker that died" \
    "$(grep -oE 'worker [0-9]+ (killed|exited)' "$TL_OUT" | cut -d' ' -f2 | paste -sd ' ')" \
    "$(joblog_rows "$T/jl.crash" | awk -F'\t' '$6 != "ok" { print $2 }' | paste -sd ' ')"

# A bad line never ran: no worker, no times, no attempts; tabs, newlines
# and backslashes in the error text are escaped (jansson quotes the line).
printf '%s\n' '"\x"' '"ok"' >"$T/esc.in"
run "$T/esc.in" run --joblog "$T/jl.esc" "$TP:echo_str"
check_eq "--joblog, bad input: the row, its error escaped" \
    $'0\t0\t0.000\t0.000\t0\tinput\tbad JSON at column 3: invalid escape near \'"\\\\x\'' \
    "$(joblog_rows "$T/jl.esc" | head -n 1)"

# Rows come as results are written: in input order for an ordered run
# (the job's window bounds what is held), as tasks finish with
# --unordered (the late first task is not the first row).
run "$T/late.in" run -j 2 --joblog "$T/jl.late" "$TP:sleepy"
seq 0 11 >"$T/late.want"
check_files "--joblog: the output in input order" "$T/late.want" "$TL_OUT"
check_eq "--joblog, ordered: rows in input order" "$(seq 0 11 | paste -sd ' ')" \
    "$(tail -n +2 "$T/jl.late" | cut -f1 | paste -sd ' ')"
run "$T/late.in" run -j 2 --unordered --joblog "$T/jl.late2" "$TP:sleepy"
if [ "$(sed -n 2p "$T/jl.late2" | cut -f1)" != 0 ]; then
    tl_pass "--joblog --unordered: rows in the order tasks finish (the late first task is not the first row)"
else
    tl_fail "--joblog --unordered: rows in the order tasks finish (the late first task is not the first row)"
    tl_show "the job log" "$T/jl.late2"
fi

# ---- --trace -----------------------------------------------------------

# trace_facts FILE [INPUT]: what the trace holds, one fact a line (see the
# keys below).  INPUT, lines [ms,v], gives each task's least duration.
trace_facts() {
    python3 - "$@" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except Exception as e:
    print("json=bad: %s" % e)
    sys.exit(0)
print("json=ok")
ev = d.get("traceEvents", [])
print("unit=%s" % d.get("displayTimeUnit"))
X = [e for e in ev if e.get("ph") == "X"]
inst = [e for e in ev if e.get("ph") == "i"]
meta = [e for e in ev if e.get("ph") == "M"]
print("spans=%d" % len(X))
print("indexes=%s" % " ".join(str(i) for i in sorted(e["args"]["index"] for e in X)))
print("span_names=%s" % ("ok" if all(e["name"] == "task %d" % e["args"]["index"] for e in X) else "bad"))
print("one_pid=%s" % ("yes" if len({e["pid"] for e in ev}) == 1 else "no"))
rows = {}
for e in X:
    rows.setdefault(e["tid"], []).append((e["ts"], e["ts"] + e["dur"], e["args"]["index"]))
bad = []
for tid, spans in sorted(rows.items()):
    spans.sort()
    for a, b in zip(spans, spans[1:]):
        # Times are doubles of seconds since the Epoch, a quarter of a
        # microsecond apart: spans that touch may seem to overlap by that.
        if b[0] < a[1] - 1.0:
            bad.append("row %d: task %d [%.3f, %.3f] and task %d [%.3f, %.3f]" % (tid, a[2], a[0], a[1], b[2], b[0], b[1]))
print("overlaps=%s" % ("; ".join(bad) if bad else "none"))
named = {e["tid"]: e["args"]["name"] for e in meta if e["name"] == "thread_name"}
print("rows_named=%s" % ("yes" if all(named.get(t) == "worker %d" % t for t in rows) else "no: %r" % named))
print("rows=%d" % len(rows))
print("negative=%s" % ("none" if all(e["ts"] >= 0 and e["dur"] >= 0 for e in X) else "some"))
fails = [e for e in inst if e.get("cat") == "failure"]
print("failures=%s" % " ".join("%d:%s" % (e["args"]["index"], e["args"]["status"]) for e in fails))
span_of = {e["args"]["index"]: e for e in X}
restart = []
for f in fails:
    s = span_of.get(f["args"]["index"])
    at_end = s is not None and s["tid"] == f["tid"] and abs(s["ts"] + s["dur"] - f["ts"]) < 0.01
    after_on_row = [e for e in X if e["tid"] == f["tid"] and e["ts"] > f["ts"]]
    new_rows = [t for t, sp in rows.items() if t != f["tid"] and min(sp)[0] >= f["ts"]]
    restart.append("%s,%s,%s" % ("end" if at_end else "not-at-end",
                                 "row-ends" if not after_on_row else "row-goes-on",
                                 "new-row" if new_rows else "no-new-row"))
print("markers=%s" % " ".join(restart))
print("input_markers=%s" % " ".join(str(e["args"]["index"]) for e in inst if e.get("cat") == "input"))
if len(sys.argv) > 2:
    short = []
    for i, line in enumerate(open(sys.argv[2])):
        ms = json.loads(line)[0]
        s = span_of.get(i)
        if s is not None and s["dur"] < ms * 1000 - 1000:
            short.append("task %d: %.3f us for %d ms" % (i, s["dur"], ms))
    print("short=%s" % ("; ".join(short) if short else "none"))
EOF
}

# fact NAME FILE: the value of fact NAME.
fact() {
    sed -n "s/^$1=//p" "$2"
}

# One worker that crashes at the third task: its replacement is a new row
# whose tasks follow the marker.
printf '%s\n' 1 2 -1 3 4 >"$T/crash1.in"
run "$T/crash1.in" run -j 1 --trace "$T/crash.trace" "$TP:crash"
check_status "--trace, a crash: exit status" 1
trace_facts "$T/crash.trace" >"$T/crash.facts"
check_eq "--trace: the file is valid JSON" ok "$(fact json "$T/crash.facts")"
if python3 -m json.tool "$T/crash.trace" >/dev/null 2>&1; then
    tl_pass "--trace: python3 -m json.tool reads it"
else
    tl_fail "--trace: python3 -m json.tool reads it"
    tl_show "the trace" "$T/crash.trace"
fi
check_eq "--trace: displayTimeUnit" ms "$(fact unit "$T/crash.facts")"
check_eq "--trace, a crash: a span per task" 5 "$(fact spans "$T/crash.facts")"
check_eq "--trace, a crash: each index once" "0 1 2 3 4" "$(fact indexes "$T/crash.facts")"
check_eq "--trace, a crash: spans are named by their task" ok "$(fact span_names "$T/crash.facts")"
check_eq "--trace, a crash: one process" yes "$(fact one_pid "$T/crash.facts")"
check_eq "--trace, a crash: spans on a row do not overlap" none "$(fact overlaps "$T/crash.facts")"
check_eq "--trace, a crash: a marker for the crash" "2:signal" "$(fact failures "$T/crash.facts")"
check_eq "--trace, a crash: the marker ends its span, its row ends, a new row follows" \
    "end,row-ends,new-row" "$(fact markers "$T/crash.facts")"
check_eq "--trace, a crash: two rows (the worker and its replacement)" 2 "$(fact rows "$T/crash.facts")"
check_eq "--trace, a crash: each row named after its worker" yes "$(fact rows_named "$T/crash.facts")"

# Many tasks on three workers (times from DLP_JOB_TIMES).
for i in $(seq 0 29); do echo "[$((i % 4 * 10)),$i]"; done >"$T/tr.in"
run "$T/tr.in" run -j 3 --trace "$T/many.trace" "$TP:sleepy"
check_status "--trace, 30 tasks: exit status" 0
trace_facts "$T/many.trace" "$T/tr.in" >"$T/many.facts"
check_eq "--trace, 30 tasks: valid JSON" ok "$(fact json "$T/many.facts")"
check_eq "--trace, 30 tasks: a span per task" 30 "$(fact spans "$T/many.facts")"
check_eq "--trace, 30 tasks: each index once" "$(seq 0 29 | paste -sd ' ')" \
    "$(fact indexes "$T/many.facts")"
check_eq "--trace, 30 tasks: spans on a row do not overlap" none "$(fact overlaps "$T/many.facts")"
check_eq "--trace, 30 tasks: three rows" 3 "$(fact rows "$T/many.facts")"
check_eq "--trace, 30 tasks: no time before the run" none "$(fact negative "$T/many.facts")"
check_eq "--trace, 30 tasks: each span lasts at least its task's sleep" none \
    "$(fact short "$T/many.facts")"
check_eq "--trace, 30 tasks: no failure markers" "" "$(fact failures "$T/many.facts")"

printf '%s\n' '[2000,1]' '[0,2]' >"$T/to.in"
run "$T/to.in" run -j 2 --timeout 0.2 --trace "$T/to.trace" "$TP:sleepy"
check_status "--trace, a timeout: exit status" 1
trace_facts "$T/to.trace" >"$T/to.facts"
check_eq "--trace, a timeout: a marker for it" "0:timeout" "$(fact failures "$T/to.facts")"

run "$T/bad.in" run --trace "$T/bad.trace" "$TP:echo_i64"
trace_facts "$T/bad.trace" >"$T/bad.facts"
check_eq "--trace, bad input: only the task that ran has a span" "0" \
    "$(fact indexes "$T/bad.facts")"
check_eq "--trace, bad input: a marker per bad line" "1 2" \
    "$(fact input_markers "$T/bad.facts")"

# ---- interrupted: files written as results arrive, closed on SIGINT ----

for i in $(seq 0 59); do echo "[100,$i]"; done >"$T/slow.in"
name="SIGINT with --joblog and --trace"
tl_start "$T/slow.in" "$DLPOOL" run -j 2 --joblog "$T/int.jl" --trace "$T/int.trace" \
    "$TP:sleepy"
rows=0
for _ in $(seq 1 800); do
    if [ -f "$T/int.jl" ]; then
        rows=$(($(wc -l <"$T/int.jl") - 1))
    fi
    [ "$rows" -ge 4 ] && break
    sleep 0.025
done
if [ "$rows" -ge 4 ]; then
    tl_pass "$name: the job log has rows while the run goes on"
else
    tl_fail "$name: the job log has rows while the run goes on" \
        "expected 4 rows within 20 s, got $rows"
fi
kill -INT "$TL_PID"
tl_wait
check_status "$name: exit status" 130
trace_facts "$T/int.trace" >"$T/int.facts"
check_eq "$name: the trace is closed as valid JSON" ok "$(fact json "$T/int.facts")"
n=$(($(wc -l <"$T/int.jl") - 1))
check_eq "$name: a span per row of the job log" "$n" "$(fact spans "$T/int.facts")"
if [ "$n" -gt 0 ] && [ "$n" -lt 60 ]; then
    tl_pass "$name: stopped mid-run ($n of 60 tasks)"
else
    tl_fail "$name: stopped mid-run" "expected some but not all of 60 rows, got $n"
fi
check_eq "$name: every row whole" 0 "$(awk -F'\t' 'NF != 7' "$T/int.jl" | wc -l)"

# ---- set-up errors -----------------------------------------------------

run "$T/odd.in" run --joblog "$T/no/such/dir/jl" "$TP:fail_odd"
check_setup_error "--joblog in a missing directory" "$T/no/such/dir/jl"
run "$T/odd.in" run --trace "$T/no/such/dir/tr" "$TP:fail_odd"
check_setup_error "--trace in a missing directory" "$T/no/such/dir/tr"

tl_finish
