# fish completion for conman (conman-rs); console names come from `conman -q`.
function __conman_consoles
    set -l tokens (commandline -opc)
    set -l dest
    set -l i 2
    while test $i -le (count $tokens)
        if test "$tokens[$i]" = -d
            set dest -d $tokens[(math $i + 1)]
        else if string match -q -- '-d?*' $tokens[$i]
            set dest $tokens[$i]
        end
        set i (math $i + 1)
    end
    conman $dest -q 2>/dev/null
end
complete -c conman -f -a '(__conman_consoles)'
complete -c conman -s b -d 'Broadcast to multiple consoles (write-only)'
complete -c conman -s d -x -a '(__fish_print_hostnames)' -d 'Daemon host[:port]'
complete -c conman -s e -x -d 'Escape character'
complete -c conman -s f -d 'Force connection (console-stealing)'
complete -c conman -s F -r -F -d 'Read console names from file'
complete -c conman -s h -d 'Display help'
complete -c conman -s j -d 'Join connection (console-sharing)'
complete -c conman -s l -r -F -d 'Log connection output to file'
complete -c conman -s L -d 'Display license information'
complete -c conman -s m -d 'Monitor connection (read-only)'
complete -c conman -s q -d 'Query the daemon about consoles'
complete -c conman -s Q -d 'Suppress informational messages'
complete -c conman -s r -d 'Match console names with regular expressions'
complete -c conman -s v -d 'Be verbose'
complete -c conman -s V -d 'Display version information'
