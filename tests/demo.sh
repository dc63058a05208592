#!/usr/bin/env bash
# demo.sh - the C example program (examples/pool_demo.c) runs, checks its
# own results, and leaves no process behind.
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init demo
tl_need_runner

DEMO=$top_builddir/examples/pool_demo
tl_need_file "$DEMO" "the example program"

tl_run /dev/null "$DEMO" "$DLPOOL_EXAMPLES"
check_status "pool_demo exits 0: its own checks pass" 0
check_grep "apply_async's callback saw add(2, 40)" \
    '^add\(2, 40\) = 42 \(from the callback\)$' "$TL_OUT"
check_grep "imap summed the squares of 0..99999 in order" \
    '^sum of squares below 100000 = 333328333350000$' "$TL_OUT"
check_grep "the workers' counts, read back by broadcast, sum to the calls" \
    '^calls counted by the workers = 100000 of 100000$' "$TL_OUT"
check_empty "nothing on standard error" "$TL_ERR"
tl_finish
