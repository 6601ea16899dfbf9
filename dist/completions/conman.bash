# bash completion for conman (conman-rs)
# Console names come from the daemon: `conman -q` (with the -d given on the
# command line, if any).
_conman() {
    local cur prev words cword
    _init_completion || return
    case $prev in
        -d) _known_hosts_real -- "$cur"; return ;;
        -e) return ;;
        -F|-l) _filedir; return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '-b -d -e -f -F -h -j -l -L -m -q -Q -r -v -V' -- "$cur"))
        return
    fi
    local i dest=()
    for ((i = 1; i < cword; i++)); do
        if [[ ${words[i]} == -d ]]; then
            dest=(-d "${words[i + 1]}")
        elif [[ ${words[i]} == -d?* ]]; then
            dest=("${words[i]}")
        fi
    done
    local names
    names=$(conman "${dest[@]}" -q 2>/dev/null) || return
    COMPREPLY=($(compgen -W "$names" -- "$cur"))
}
complete -F _conman conman
