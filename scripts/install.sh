#!/usr/bin/env bash
# `make install` for conman-rs on non-Debian systems.
#
#   scripts/install.sh                      # PREFIX=/usr/local, into /
#   DESTDIR=/tmp/stage PREFIX=/usr scripts/install.sh
#
# Environment: DESTDIR (staging root, default empty), PREFIX (default /usr/local),
# SYSCONFDIR (default /etc: conmand's built-in default is /etc/conman.conf),
# UNITDIR (default /etc/systemd/system for /usr/local, /lib/systemd/system for /usr),
# CONMAN_BIN_DIR (use binaries already built there), CONMAN_PROFILE (release|debug).
# The layout is the Debian package's (scripts/layout.sh), below PREFIX. Man pages
# and unit files get their paths rewritten for PREFIX.
set -euo pipefail
. "$(dirname "$0")/layout.sh"
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
if [ -z "${UNITDIR:-}" ]; then
  if [ "$PREFIX" = /usr ]; then UNITDIR=/lib/systemd/system; else UNITDIR=/etc/systemd/system; fi
fi
bins=$(layout_binaries)
# Never overwrite an operator's edited configuration (conman.conf, the alert rules).
kept=()
for f in conman.conf conman/alerts.rules; do
  if [ -e "$DESTDIR$SYSCONFDIR/$f" ]; then
    tmp=$(mktemp)
    cp -p "$DESTDIR$SYSCONFDIR/$f" "$tmp"
    kept+=("$f:$tmp")
  fi
done
layout_install "$DESTDIR" "$PREFIX" "$SYSCONFDIR" "$UNITDIR" "$bins"
for k in "${kept[@]}"; do
  f=${k%%:*} tmp=${k#*:}
  cp -p "$DESTDIR$SYSCONFDIR/$f" "$DESTDIR$SYSCONFDIR/$f.new"
  mv "$tmp" "$DESTDIR$SYSCONFDIR/$f"
  echo "install: kept $SYSCONFDIR/$f; the shipped one is $SYSCONFDIR/$f.new"
done
install -d -m 0755 "$DESTDIR/var/log/conman" "$DESTDIR/var/lib/conman"
echo "install: conman-rs installed below ${DESTDIR:-/}$PREFIX"
if [ -z "$DESTDIR" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
