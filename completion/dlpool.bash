# bash completion for dlpool(1).
#
# Completes the commands, the options of "dlpool run" (read from the
# command's own --help, so the list is always the command's), PLUGIN:FUNCTION
# (the functions come from "dlpool inspect --json PLUGIN"), and file names
# for INPUT, ":::: FILE" and the options that take a file.  It needs
# nothing from the bash-completion package, and uses it when it is loaded.

# The dlpool being completed: the word typed, when it runs.
_dlpool_cmd() {
    local c=${COMP_WORDS[0]:-dlpool}
    c=${c/#\~/$HOME}
    if [[ $c == */* && -x $c ]] || command -v "$c" >/dev/null 2>&1; then
        printf '%s\n' "$c"
    else
        printf 'dlpool\n'
    fi
}

# The options of run, one per line; with -v only those that take a value
# (in --help an option that takes one is followed by its NAME in capitals:
# "--timeout S").  Falls back to a built-in list when dlpool cannot run.
_dlpool_run_options() {
    local help
    help=$("$(_dlpool_cmd)" run --help 2>/dev/null)
    if [[ -z $help ]]; then
        if [[ ${1-} == -v ]]; then
            printf '%s\n' -j --jobs --sig --timeout --retries --halt \
                --max-tasks-per-worker --memory-limit --restarts \
                --checkpoint --joblog --trace --max-line-length
        else
            printf '%s\n' --jobs --progress --no-progress --unordered \
                --timeout --retries --halt --sig --max-tasks-per-worker \
                --memory-limit --restarts --checkpoint --records \
                --joblog --trace --max-line-length --help
        fi
        return
    fi
    if [[ ${1-} == -v ]]; then
        # The short forms that take a value: "-j, --jobs N".
        grep -oE -- '(^|[ ,])-[a-zA-Z], --[a-z][a-z0-9-]* [A-Z]' <<<"$help" |
            grep -oE -- '(^|[ ,])-[a-zA-Z],' | tr -d ' ,'
        grep -oE -- '--[a-z][a-z0-9-]* [A-Z][A-Z/]*' <<<"$help" |
            cut -d' ' -f1
    else
        grep -oE -- '--[a-z][a-z0-9-]*' <<<"$help" | grep -vx -- '--json'
    fi | sort -u
}

# Plugin names: the *.so files of DLPOOL_PLUGIN_PATH and of the installed
# plugin directory (which dlpool --help names), without ".so".
_dlpool_plugin_names() {
    local dir dirs f
    IFS=: read -ra dirs <<<"${DLPOOL_PLUGIN_PATH-}"
    dir=$("$(_dlpool_cmd)" --help 2>/dev/null |
        grep -oE '/[^ ,]*/plugins' | head -n 1)
    [[ -n $dir ]] && dirs+=("$dir")
    for dir in "${dirs[@]}"; do
        [[ -n $dir && -d $dir ]] || continue
        for f in "$dir"/*.so; do
            [[ -f $f ]] || continue
            f=${f##*/}
            printf '%s\n' "${f%.so}"
        done
    done
}

# PLUGIN:FUNCTION for each function of the plugin's manifest that run can
# call (a process function, "i32(chan)", it cannot).
_dlpool_functions() {
    local plugin=$1 json
    json=$("$(_dlpool_cmd)" inspect --json "$plugin" 2>/dev/null) || return
    json=${json#*'"functions":'}
    grep -oE '\{"name":"[^"]*","signature":"[^"]*"\}' <<<"$json" |
        grep -v '"signature":"i32(chan)"' |
        sed -e 's/^{"name":"//' -e 's/",.*//' -e "s|^|$plugin:|"
}

# COMPREPLY: the lines a command prints.  (Not "mapfile < <(...)": bash
# does not wait for a process substitution.)
_dlpool_reply() {
    local out
    out=$("$@")
    COMPREPLY=()
    if [[ -n $out ]]; then
        mapfile -t COMPREPLY <<<"$out"
    fi
}

# Plugin names on the plugin path, then files: a name gets its ':' and a
# directory its '/'.
_dlpool_plugins() {
    local f
    compgen -W "$(_dlpool_plugin_names)" -S : -- "$1"
    compgen -f -- "$1" | while IFS= read -r f; do
        if [[ -d $f ]]; then printf '%s/\n' "$f"; else printf '%s:\n' "$f"; fi
    done
}

_dlpool() {
    local line cur w i cmd fnref="" src="" value_opts
    local -a words
    COMPREPLY=()
    # The words up to the cursor, split at blanks only: bash splits
    # PLUGIN:FUNCTION at the colon (COMP_WORDBREAKS), which is put back
    # here and taken off the replies at the end.
    if [[ -n ${COMP_LINE-} ]]; then
        line=${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}}
    else
        line="${COMP_WORDS[*]:0:$((COMP_CWORD + 1))}"
    fi
    read -ra words <<<"$line"
    if [[ $line =~ [[:space:]]$ || ${#words[@]} -eq 0 ]]; then
        words+=("")
    fi
    cur=${words[${#words[@]} - 1]}
    local cword=$((${#words[@]} - 1))
    local prev=${words[cword - 1]-}

    if ((cword == 1)); then
        _dlpool_reply compgen -W 'run inspect help --help --version' -- "$cur"
        return 0
    fi
    cmd=${words[1]}
    case $cmd in
    inspect)
        if [[ $cur == -* ]]; then
            _dlpool_reply compgen -W '--json --help' -- "$cur"
        else
            _dlpool_reply compgen -W "$(_dlpool_plugin_names)" -f -- "$cur"
            compopt -o filenames 2>/dev/null
        fi
        return 0
        ;;
    run) ;;
    *) return 0 ;;
    esac

    # Where the cursor is in "run [OPTIONS] PLUGIN:FUNCTION [INPUT | :::
    # ARG... | :::: FILE...]".
    value_opts=" $(_dlpool_run_options -v | tr '\n' ' ') --checkpoint --joblog --trace "
    for ((i = 2; i < cword; i++)); do
        w=${words[i]}
        if [[ -z $fnref ]]; then
            if [[ $w == -*=* ]]; then
                continue
            elif [[ $w == -* ]]; then
                [[ $value_opts == *" $w "* ]] && ((i++))
            else
                fnref=$w
            fi
        elif [[ $w == ::: || $w == :::: ]]; then
            src=$w
        fi
    done

    if [[ -z $fnref && $value_opts == *" $prev "* ]]; then
        case $prev in
        --checkpoint | --joblog | --trace)
            _dlpool_reply compgen -f -- "$cur"
            compopt -o filenames 2>/dev/null
            ;;
        --halt)
            _dlpool_reply compgen -W 'never now,fail=1 soon,fail=1' -- "$cur"
            ;;
        esac
    elif [[ -z $fnref && $cur == -* ]]; then
        _dlpool_reply compgen -W "$(_dlpool_run_options)" -- "$cur"
    elif [[ -z $fnref && $cur == *:* ]]; then
        _dlpool_reply compgen -W "$(_dlpool_functions "${cur%%:*}")" -- "$cur"
    elif [[ -z $fnref ]]; then
        # A plugin: a name on the plugin path, or a file; then ':'.
        _dlpool_reply _dlpool_plugins "$cur"
        compopt -o nospace 2>/dev/null
    elif [[ $cur == :* ]]; then
        _dlpool_reply compgen -W '::: ::::' -- "$cur"
    elif [[ $src == :::: || (-z $src && $prev == "$fnref") ]]; then
        _dlpool_reply compgen -f -- "$cur"
        compopt -o filenames 2>/dev/null
    fi

    # Bash replaces only the part of the word after its last colon.
    if [[ $cur == *:* && ${COMP_WORDS[COMP_CWORD]-} != "$cur" &&
        ${COMP_WORDBREAKS-} == *:* ]]; then
        local pre=${cur%"${cur##*:}"}
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]=${COMPREPLY[i]#"$pre"}
        done
    fi
    return 0
}

complete -F _dlpool dlpool
