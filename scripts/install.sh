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
# Never overwrite an operator's edited configuration.
keep_conf=""
if [ -e "$DESTDIR$SYSCONFDIR/conman.conf" ]; then
  keep_conf=$(mktemp)
  cp -p "$DESTDIR$SYSCONFDIR/conman.conf" "$keep_conf"
fi
layout_install "$DESTDIR" "$PREFIX" "$SYSCONFDIR" "$UNITDIR" "$bins"
if [ -n "$keep_conf" ]; then
  cp -p "$DESTDIR$SYSCONFDIR/conman.conf" "$DESTDIR$SYSCONFDIR/conman.conf.new"
  mv "$keep_conf" "$DESTDIR$SYSCONFDIR/conman.conf"
  echo "install: kept $SYSCONFDIR/conman.conf; the shipped one is $SYSCONFDIR/conman.conf.new"
fi
install -d -m 0755 "$DESTDIR/var/log/conman" "$DESTDIR/var/lib/conman"
echo "install: conman-rs installed below ${DESTDIR:-/}$PREFIX"
if [ -z "$DESTDIR" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
