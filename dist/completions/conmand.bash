# bash completion for conmand (conman-rs)
_conmand() {
    local cur prev words cword
    _init_completion || return
    case $prev in
        -c|-P|--pswd) _filedir; return ;;
        -p) return ;;
        --pswd-set|--node|--advertise|--cluster) return ;;
    esac
    COMPREPLY=($(compgen -W '-c -F -h --help -k -L -p -P -q -r -v -V --version -z -t --test-config --json --pswd --pswd-set --reopen-logs --node --advertise --cluster --cluster-status' -- "$cur"))
}
complete -F _conmand conmand
