#!/usr/bin/env bash
# The install layout of conman-rs, shared by scripts/build-deb.sh and
# scripts/install.sh (sourced, not run). One function:
#
#   layout_install ROOT PREFIX SYSCONFDIR UNITDIR BINDIR_OF_BUILT_BINARIES
#
# copies every shipped file below ROOT (a staging directory or DESTDIR):
#   PREFIX/sbin/conmand, PREFIX/bin/conman, PREFIX/sbin/conman-shard
#   SYSCONFDIR/conman.conf, SYSCONFDIR/logrotate.d/conman
#   PREFIX/share/conman/exec/*.exp
#   PREFIX/share/man/man{1,5,8}/*.gz
#   UNITDIR/conmand.service, UNITDIR/conmand@.service
#   PREFIX/share/bash-completion/completions/{conman,conmand}
#   PREFIX/share/zsh/vendor-completions/{_conman,_conmand}
#   PREFIX/share/fish/vendor_completions.d/{conman,conmand}.fish
#   PREFIX/share/doc/conman-rs/{copyright,README.md,operations.md,alerts.md,http.md,security.md}
#   PREFIX/share/doc/conman-rs/examples/conmand-nonroot.conf (a systemd drop-in)
# Paths inside the shipped files that name /usr/sbin, /usr/share/conman or /etc
# are rewritten when PREFIX / SYSCONFDIR differ from /usr and /etc.

# The source tree this file belongs to.
LAYOUT_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Rewrite the Debian paths in a text file for another PREFIX/SYSCONFDIR.
_layout_fix_paths() {
  local file=$1 prefix=$2 sysconfdir=$3
  [ "$prefix" = /usr ] && [ "$sysconfdir" = /etc ] && return 0
  sed -i \
    -e "s#/usr/sbin/#${prefix}/sbin/#g" \
    -e "s#/usr/bin/conman#${prefix}/bin/conman#g" \
    -e "s#/usr/share/conman/#${prefix}/share/conman/#g" \
    -e "s#/etc/conman\\([./]\\)#${sysconfdir}/conman\\1#g" \
    "$file"
}

layout_install() {
  local root=$1 prefix=$2 sysconfdir=$3 unitdir=$4 bins=$5
  local src=$LAYOUT_SRC f sec
  for f in conmand conman; do
    [ -x "$bins/$f" ] || { echo "layout: no built binary $bins/$f" >&2; return 1; }
  done
  install -d -m 0755 "$root$prefix/sbin" "$root$prefix/bin" "$root$sysconfdir/logrotate.d" \
    "$root$prefix/share/conman/exec" "$root$unitdir" \
    "$root$prefix/share/man/man1" "$root$prefix/share/man/man5" "$root$prefix/share/man/man8" \
    "$root$prefix/share/bash-completion/completions" \
    "$root$prefix/share/zsh/vendor-completions" \
    "$root$prefix/share/fish/vendor_completions.d" \
    "$root$prefix/share/doc/conman-rs"
  install -m 0755 "$bins/conmand" "$root$prefix/sbin/conmand"
  install -m 0755 "$bins/conman" "$root$prefix/bin/conman"
  install -m 0755 "$src/scripts/conman-shard" "$root$prefix/sbin/conman-shard"
  install -m 0644 "$src/etc/conman.conf" "$root$sysconfdir/conman.conf"
  install -d -m 0755 "$root$sysconfdir/conman"
  install -m 0644 "$src/etc/alerts.rules" "$root$sysconfdir/conman/alerts.rules"
  install -m 0644 "$src/dist/logrotate/conman" "$root$sysconfdir/logrotate.d/conman"
  for f in "$src"/scripts/exec/*.exp; do
    install -m 0755 "$f" "$root$prefix/share/conman/exec/$(basename "$f")"
  done
  for f in "$src"/man/*.[0-9]; do
    sec=${f##*.}
    install -m 0644 "$f" "$root$prefix/share/man/man$sec/$(basename "$f")"
    _layout_fix_paths "$root$prefix/share/man/man$sec/$(basename "$f")" "$prefix" "$sysconfdir"
    gzip -9nf "$root$prefix/share/man/man$sec/$(basename "$f")"
  done
  for f in conmand.service conmand@.service; do
    install -m 0644 "$src/dist/systemd/$f" "$root$unitdir/$f"
  done
  install -m 0644 "$src/dist/completions/conman.bash" \
    "$root$prefix/share/bash-completion/completions/conman"
  install -m 0644 "$src/dist/completions/conmand.bash" \
    "$root$prefix/share/bash-completion/completions/conmand"
  install -m 0644 "$src/dist/completions/_conman" "$root$prefix/share/zsh/vendor-completions/_conman"
  install -m 0644 "$src/dist/completions/_conmand" "$root$prefix/share/zsh/vendor-completions/_conmand"
  install -m 0644 "$src/dist/completions/conman.fish" \
    "$root$prefix/share/fish/vendor_completions.d/conman.fish"
  install -m 0644 "$src/dist/completions/conmand.fish" \
    "$root$prefix/share/fish/vendor_completions.d/conmand.fish"
  install -m 0644 "$src/dist/debian/copyright" "$root$prefix/share/doc/conman-rs/copyright"
  install -m 0644 "$src/README.md" "$root$prefix/share/doc/conman-rs/README.md"
  install -m 0644 "$src/docs/operations.md" "$root$prefix/share/doc/conman-rs/operations.md"
  install -m 0644 "$src/docs/alerts.md" "$root$prefix/share/doc/conman-rs/alerts.md"
  install -m 0644 "$src/docs/http.md" "$root$prefix/share/doc/conman-rs/http.md"
  install -m 0644 "$src/docs/security.md" "$root$prefix/share/doc/conman-rs/security.md"
  install -d "$root$prefix/share/doc/conman-rs/examples"
  install -m 0644 "$src/dist/systemd/nonroot.conf" \
    "$root$prefix/share/doc/conman-rs/examples/conmand-nonroot.conf"
  for f in "$root$unitdir/conmand.service" "$root$unitdir/conmand@.service" \
    "$root$sysconfdir/conman.conf" "$root$sysconfdir/logrotate.d/conman" \
    "$root$prefix/sbin/conman-shard"; do
    _layout_fix_paths "$f" "$prefix" "$sysconfdir"
  done
}

# Build the two binaries (release unless CONMAN_PROFILE=debug) unless
# CONMAN_BIN_DIR names a directory holding already-built ones; prints that directory.
layout_binaries() {
  if [ -n "${CONMAN_BIN_DIR:-}" ]; then
    echo "$CONMAN_BIN_DIR"
    return 0
  fi
  local profile=${CONMAN_PROFILE:-release} flag=--release
  [ "$profile" = debug ] && flag=
  (cd "$LAYOUT_SRC" && cargo build $flag --locked -p conmand -p conman --bins >&2)
  echo "${CARGO_TARGET_DIR:-$LAYOUT_SRC/target}/$profile"
}
