#!/usr/bin/env bash
# Build the conman-rs Debian package with dpkg-deb (no cargo-deb, no debhelper).
#
#   scripts/build-deb.sh            # cargo build --release, then target/debian/*.deb
#
# Environment:
#   CONMAN_BIN_DIR   reuse conmand/conman already built in this directory (tests use
#                    target/debug to stay fast); otherwise they are built here
#   CONMAN_PROFILE   release (default) or debug, when building
#   CONMAN_DEB_OUT   output directory (default target/debian)
#   CONMAN_DEB_NOSTRIP  keep the binaries' symbols (default: strip, as Debian does)
# Prints the path of the .deb on its last line.
set -euo pipefail
. "$(dirname "$0")/layout.sh"
src=$LAYOUT_SRC
out=${CONMAN_DEB_OUT:-$src/target/debian}
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' "$src/Cargo.toml")
debversion="$version-1"
arch=$(dpkg --print-architecture)
bins=$(layout_binaries)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
layout_install "$root" /usr /etc /lib/systemd/system "$bins"
install -d -m 0755 "$root/var/log/conman" "$root/var/lib/conman"
# Debian's ConMan 0.2.7 kept its scripts in /usr/lib/conman/exec: keep old paths working.
install -d -m 0755 "$root/usr/lib/conman"
ln -s ../../share/conman/exec "$root/usr/lib/conman/exec"

# Debian policy: ship stripped binaries (CONMAN_DEB_NOSTRIP=1 keeps the symbols).
if [ -z "${CONMAN_DEB_NOSTRIP:-}" ] && command -v strip >/dev/null; then
  strip --strip-unneeded "$root/usr/sbin/conmand" "$root/usr/bin/conman"
fi

# Lowest glibc symbol version the binaries need (what dpkg-shlibdeps would compute).
glibc=$(objdump -T "$root/usr/sbin/conmand" "$root/usr/bin/conman" 2>/dev/null |
  grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)
glibc=${glibc:-2.34}

install -d -m 0755 "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: conman-rs
Version: $debversion
Architecture: $arch
Maintainer: conman-rs developers <conman-rs@example.invalid>
Installed-Size: $size
Depends: libc6 (>= $glibc), libgcc-s1
Recommends: expect, logrotate, python3
Suggests: ipmitool, freeipmi-tools, openssh-client
Provides: conman
Conflicts: conman
Replaces: conman
Section: admin
Priority: optional
Homepage: https://example.invalid/conman-rs
Description: serial console manager (drop-in replacement for ConMan)
 conman-rs is a reimplementation of ConMan in Rust: the conmand daemon
 connects to serial lines, terminal servers (telnet), unix sockets, IPMI
 Serial-over-LAN and external programs, logs their output and lets several
 users share them with the conman client. It reads ConMan's conman.conf,
 speaks its client protocol and ships Expect scripts with the same names and
 arguments, so existing configurations keep working.
CONTROL
printf '/etc/conman.conf\n/etc/conman/alerts.rules\n/etc/logrotate.d/conman\n' > "$root/DEBIAN/conffiles"
for f in postinst prerm postrm; do
  install -m 0755 "$src/dist/debian/$f" "$root/DEBIAN/$f"
done
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
  xargs md5sum > DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control" "$root/DEBIAN/conffiles"

mkdir -p "$out"
deb="$out/conman-rs_${debversion}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
