#!/usr/bin/env bash
# Makes a small Debian bookworm root filesystem for modelship-standin/debian:bookworm.
# Usage: build-rootfs.sh ROOTFS_DIR MIRROR SECURITY_MIRROR
# Called by scripts/images.sh, which imports the result with `docker import`. Needs root and
# debootstrap. The slimming follows what Debian's official "slim" images do: no docs, man pages or
# translations, no apt caches or package lists left behind, no recommends.
set -euo pipefail
rootfs="$1" mirror="$2" security="$3"
suite=bookworm

debootstrap --variant=minbase --include=ca-certificates,busybox --components=main \
  "$suite" "$rootfs" "$mirror" >&2

cat > "$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
SOURCES

# apt: no recommends, no caches kept, gzipped lists, no translations.
cat > "$rootfs/etc/apt/apt.conf.d/90modelship-standin" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
Acquire::CompressionTypes::Order:: "gz";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT

# dpkg: leave out docs, man pages and translations from every later install too.
cat > "$rootfs/etc/dpkg/dpkg.cfg.d/90modelship-standin" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
DPKG

# Maintainer scripts must not start daemons during `docker build` (no init system there).
printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
chmod 755 "$rootfs/usr/sbin/policy-rc.d"

# busybox wget, as in the official alpine/busybox images, for container health checks.
ln -sf /bin/busybox "$rootfs/usr/bin/wget"

# Drop what the excludes above would have kept out, and everything cached.
find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$rootfs"/usr/share/{man,info,groff,lintian,linda}/* \
  "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/debconf/*-old \
  "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/var/tmp/*
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
: > "$rootfs/etc/machine-id"
printf 'modelship-standin\n' > "$rootfs/etc/hostname"
