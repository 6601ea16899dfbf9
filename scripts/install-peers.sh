#!/usr/bin/env bash
# Install the real third-party peers the test-suite talks to (Debian packages).
# Used by .ci/run; safe to run again. Needs root (or sudo) and Debian's apt.
set -euo pipefail
# man-db/groff: man-page rendering test; systemd: systemd-analyze verify;
# bash-completion, zsh, fish, python3, logrotate: completion, conman-shard and
# logrotate tests (issue 8); tcpd: tcpdmatch for the TCP-wrappers differential test (issue 12);
# python3-prometheus-client: parses /metrics, curl: a real HTTP client for the API (issue 14);
# openssh-client: ssh and ssh-keygen drive the SSH front end (issue 15);
# etcd-server, etcd-client: the cluster's store and etcdctl (issue 16).
PKGS=(conman openipmi ipmitool freeipmi-tools ser2net socat expect telnet man-db groff systemd bash-completion zsh fish python3 logrotate tcpd python3-prometheus-client curl openssh-client etcd-server etcd-client)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-peers: all peers present (${PKGS[*]})"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-peers: installing ${missing[*]}"
$SUDO apt-get update -qq
# Installing conman/ser2net must not start their services (policy-rc.d may deny it anyway).
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
