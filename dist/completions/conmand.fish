# fish completion for conmand (conman-rs)
complete -c conmand -f
complete -c conmand -s c -r -F -d 'Configuration file'
complete -c conmand -s F -d 'Run in the foreground'
complete -c conmand -s h -l help -d 'Display help'
complete -c conmand -s k -d 'Kill the running daemon'
complete -c conmand -s L -d 'Display license information'
complete -c conmand -s p -x -d 'TCP port'
complete -c conmand -s P -r -F -d 'PID file'
complete -c conmand -s q -d 'Query the daemon pid'
complete -c conmand -s r -d 'Re-read the configuration and reopen logs'
complete -c conmand -l reopen-logs -d 'Reopen the logs only (logrotate)'
complete -c conmand -s v -d 'Be verbose'
complete -c conmand -s V -l version -d 'Display version information'
complete -c conmand -s z -d 'Zero log files'
complete -c conmand -s t -l test-config -d 'Check the configuration and exit'
complete -c conmand -l json -d 'With -t: print the configuration as JSON'
complete -c conmand -l pswd -r -F -d 'Password database (checked by -t, edited by --pswd-set)'
complete -c conmand -l pswd-set -x -d 'Set a password in the database (HOST-REGEX USER)'
complete -c conmand -l node -x -d "Cluster: this node's name"
complete -c conmand -l advertise -x -d 'Cluster: where other nodes reach this one'
complete -c conmand -l cluster -x -d 'Cluster: etcd endpoints, comma-separated'
complete -c conmand -l cluster-status -d "Cluster: print the nodes and every console's owner"
