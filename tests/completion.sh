#!/usr/bin/env bash
# completion.sh - the bash completion of dlpool (completion/dlpool.bash):
# its function, called as bash calls it (COMP_WORDS, COMP_CWORD and, when
# bash splits PLUGIN:FUNCTION at the colon, COMP_LINE), offers the commands,
# the options dlpool run --help lists, the functions of a plugin's manifest
# and file names where files go; and, when tmux is here, the Tab key of an
# interactive bash completes the same.
set -u
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
tl_init completion
tl_need_runner

DLPOOL=$top_builddir/dlpool
SCRIPT=$top_srcdir/completion/dlpool.bash
tl_need_file "$DLPOOL" "the dlpool command"
tl_need_file "$DLPOOL_EXAMPLES/examples.so" "the example plugin"
tl_need_file "$SCRIPT" "completion/dlpool.bash"

T=$TL_TMP
mkdir -p "$T/files"
touch "$T/files/tasks.jsonl" "$T/files/run.ckpt"

# comp_line LINE WORD...: the replies of _dlpool, one per line in $TL_OUT,
# with COMP_WORDS set to the words and the cursor at the end of the last
# one.  LINE is COMP_LINE (bash sets it; "" leaves it unset).  It runs in
# a bash of its own, in $T/files, with dlpool on the PATH and the example
# plugin on the plugin path, through tl_run: a dlpool inspect it starts
# must leave no process behind.
comp_line() {
    local line=$1
    shift
    # shellcheck disable=SC2016 # the inner shell expands these.
    tl_run /dev/null env PATH="$top_builddir:$PATH" \
        DLPOOL_PLUGIN_PATH="$DLPOOL_EXAMPLES" COMP_TEST_LINE="$line" \
        bash -c '
            cd "$1" || exit 99
            . "$0" || exit 98
            shift
            COMP_WORDS=("$@")
            COMP_CWORD=$(($# - 1))
            if [ -n "$COMP_TEST_LINE" ]; then
                COMP_LINE=$COMP_TEST_LINE
                COMP_POINT=${#COMP_LINE}
            fi
            _dlpool
            if [ "${#COMPREPLY[@]}" -gt 0 ]; then
                printf "%s\n" "${COMPREPLY[@]}"
            fi' "$SCRIPT" "$T/files" "$@"
}

comp() {
    comp_line "" "$@"
}

# replies NAME WANT...: the replies are exactly WANT (in any order: file
# names come in the directory's order), and the completion said nothing on
# stderr.
replies() {
    local name=$1
    shift
    if [ "$#" -gt 0 ]; then
        printf '%s\n' "$@" | sort >"$T/replies.want"
    else
        : >"$T/replies.want"
    fi
    sort "$TL_OUT" >"$T/replies.got"
    check_files "$name" "$T/replies.want" "$T/replies.got"
    check_empty "$name: nothing on stderr" "$TL_ERR"
}

# ---- commands and options ------------------------------------------------

comp dlpool ""
check_grep "dlpool <Tab>: run" '^run$' "$TL_OUT"
check_grep "dlpool <Tab>: inspect" '^inspect$' "$TL_OUT"
comp dlpool ins
replies "dlpool ins<Tab>" inspect

comp dlpool run --ti
replies "dlpool run --ti<Tab>" --timeout
comp dlpool run --pro
replies "dlpool run --pro<Tab>" --progress
comp dlpool run --no-p
replies "dlpool run --no-p<Tab>" --no-progress

# Every option run --help names is offered, and nothing else.
"$DLPOOL" run --help | grep -oE -- '--[a-z][a-z0-9-]*' | grep -vx -- --json |
    sort -u >"$T/options.want"
comp dlpool run --
sort "$TL_OUT" >"$T/options.got"
check_files "dlpool run --<Tab>: the options of run --help" "$T/options.want" "$T/options.got"

comp dlpool inspect --j
replies "dlpool inspect --j<Tab>" --json

# The word being completed names the dlpool to ask, also off the PATH.
# shellcheck disable=SC2016 # the inner shell expands these.
tl_run /dev/null env DLPOOL_PLUGIN_PATH="$DLPOOL_EXAMPLES" bash -c '
    . "$0" || exit 98
    COMP_WORDS=("$1" run --ti)
    COMP_CWORD=2
    _dlpool
    printf "%s\n" "${COMPREPLY[@]}"' "$SCRIPT" "$DLPOOL"
replies "$DLPOOL run --ti<Tab> (dlpool not on the PATH)" --timeout

# ---- PLUGIN:FUNCTION -----------------------------------------------------

# The functions dlpool inspect lists, but for a process function
# (i32(chan)), which run refuses.
"$DLPOOL" inspect "$DLPOOL_EXAMPLES/examples.so" | tail -n +2 |
    awk -F '\t' '$2 != "i32(chan)" { print "examples:" $1 }' >"$T/fns.want"
if [ "$(wc -l <"$T/fns.want")" -lt 5 ]; then
    tl_fail "dlpool inspect lists the example plugin's functions" \
        "expected 5 or more functions, got $(wc -l <"$T/fns.want")"
fi
comp dlpool run examples:
check_files "dlpool run examples:<Tab>: its functions" "$T/fns.want" "$TL_OUT"
check_no_grep "dlpool run examples:<Tab>: no process function" 'calculator' "$TL_OUT"
comp dlpool run examples:a
replies "dlpool run examples:a<Tab>" examples:add
comp dlpool run -j 2 --timeout 5 examples:sh
replies "dlpool run -j 2 --timeout 5 examples:sh<Tab>" examples:shout

# As bash calls it: COMP_WORDBREAKS has ':', so bash splits the word at
# the colon and replaces only what follows it.
comp_line "dlpool run examples:ad" dlpool run examples : ad
replies "bash's words dlpool run examples : ad" add
comp_line "dlpool run examples:" dlpool run examples :
sed 's/^examples://' "$T/fns.want" >"$T/fns.bare"
check_files "bash's words dlpool run examples :" "$T/fns.bare" "$TL_OUT"

comp dlpool run exam
replies "dlpool run exam<Tab>: the plugin on the plugin path, then ':'" examples:
comp dlpool inspect exam
replies "dlpool inspect exam<Tab>" examples

comp dlpool run nosuchplugin:
replies "dlpool run nosuchplugin:<Tab>: nothing, quietly"

# ---- files and values ----------------------------------------------------

comp dlpool run examples:add ""
replies "dlpool run examples:add <Tab>: INPUT is a file" run.ckpt tasks.jsonl
comp dlpool run examples:add :::: ""
replies "dlpool run examples:add :::: <Tab>: files" run.ckpt tasks.jsonl
comp dlpool run examples:add ::: 1 ""
replies "dlpool run examples:add ::: 1 <Tab>: no files among arguments"
comp dlpool run examples:add :
replies "dlpool run examples:add :<Tab>" ::: ::::
for opt in --checkpoint --joblog --trace; do
    comp dlpool run "$opt" ""
    replies "dlpool run $opt <Tab>: files" run.ckpt tasks.jsonl
done
comp dlpool run -j 2 --progress examples:add t
replies "dlpool run -j 2 --progress examples:add t<Tab>" tasks.jsonl
comp dlpool run -j ""
replies "dlpool run -j <Tab>: a number, no file names"
comp dlpool run --halt ""
replies "dlpool run --halt <Tab>" never now,fail=1 soon,fail=1

# shellcheck disable=SC2016 # the inner shell expands $0.
tl_run /dev/null bash -c '. "$0" && complete -p dlpool' "$SCRIPT"
check_text "the script registers _dlpool for dlpool" "$TL_OUT" <<'EOF'
complete -F _dlpool dlpool
EOF

# ---- the Tab key, in an interactive bash ---------------------------------

if ! command -v tmux >/dev/null 2>&1; then
    tl_note "tmux is not installed: the Tab key in an interactive bash is not tried"
    tl_finish
fi
sock=dlpool-completion-$$
sess=comp
# tab KEYS... WANT: type KEYS, then Tab, then "#", and wait (at most 15 s)
# until the prompt's line reads WANT followed by "#": the "#" shows whether
# the completed word ended with a space.
tab() {
    local want="${*: -1}#" got=
    tmux -L "$sock" send-keys -t "$sess" C-u "${@:1:$#-1}" Tab
    tmux -L "$sock" send-keys -t "$sess" "#"
    for _ in $(seq 1 300); do
        got=$(tmux -L "$sock" capture-pane -p -t "$sess" | grep '^\$ ' | tail -n 1)
        [ "$got" = "\$ $want" ] && break
        sleep 0.05
    done
    check_eq "Tab in bash after '${*:1:$#-1}'" "\$ $want" "$got"
}
# A bash without start-up files, with only the completion sourced.
tmux -L "$sock" -f /dev/null new-session -d -s "$sess" -x 200 -y 20 \
    env -i HOME="$T" HISTFILE=/dev/null TERM=xterm PATH="$top_builddir:/usr/bin:/bin" \
    DLPOOL_PLUGIN_PATH="$DLPOOL_EXAMPLES" PS1='$ ' \
    bash --norc --noprofile
tmux -L "$sock" send-keys -t "$sess" ". '$SCRIPT'; cd '$T/files'; clear" Enter
# Wait for the prompt after the clear (a loaded machine starts bash
# slowly): keys typed before it could be cleared away with the screen.
for _ in $(seq 1 300); do
    [ "$(tmux -L "$sock" capture-pane -p -t "$sess" | grep -c '^\$ ')" = 1 ] &&
        [ "$(tmux -L "$sock" capture-pane -p -t "$sess" | grep -v '^\$ $' | grep -c .)" = 0 ] &&
        break
    sleep 0.05
done
tab "dlpool run --ti" "dlpool run --timeout "
tab "dlpool run exam" "dlpool run examples:"
tab "dlpool run examples:ad" "dlpool run examples:add "
tab "dlpool run examples:add ta" "dlpool run examples:add tasks.jsonl "
tmux -L "$sock" kill-server 2>/dev/null

tl_finish
