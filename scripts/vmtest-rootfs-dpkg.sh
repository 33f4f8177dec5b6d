#!/bin/sh
# The root of `make deb-vmtest ARCH=arm64`: a Debian 12 minbase for ARCH with a real dpkg
# database, so that the package installs there as on a real machine. The first stage (debootstrap
# --foreign: download and unpack) runs here and lands in an ext4 image (mke2fs -d, no mount); the
# second (the packages' maintainer scripts, ARCH binaries) runs inside the guest on a copy of it
# (vmtest.sh, job "setup"), so the host needs no qemu-user binfmt handler. Cached: DIR.img is
# configured once DIR.ok exists; both stages start over when this file changes.
#
#   vmtest-rootfs-dpkg.sh DIR ARCH     exit 0: DIR.img is configured; 3: the second stage is due
#                                      (on a copy of DIR.stage1.img)
set -eu

[ $# -eq 2 ] || {
	echo "usage: vmtest-rootfs-dpkg.sh DIR ARCH" >&2
	exit 2
}
dir=$1
arch=$2
# the agent's libraries (the guest has no network, so apt finds them installed), python3 for the
# quick start's traffic, iproute2 for the guest's loopback
pkgs="libbpf1 libelf1 libmicrohttpd12 libseccomp2 python3 iproute2"
if [ -f "$dir.ok" ] && [ "$dir.ok" -nt "$0" ]; then
	exit 0
fi
if [ -f "$dir.stage1.img" ] && [ "$dir.stage1.img" -nt "$0" ]; then
	exit 3
fi
echo "vmtest: debootstrap --foreign of the $arch root with a dpkg database"
rm -rf "$dir" "$dir.img" "$dir.ok" "$dir.stage1.img"
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
start=$(date +%s)
debootstrap --foreign --arch="$arch" --variant=minbase --include="$(echo $pkgs | tr ' ' ',')" \
	bookworm "$dir" "${mirror:-http://deb.debian.org/debian}" >"$dir.log" 2>&1 || {
	tail -n 20 "$dir.log" >&2
	echo "vmtest-rootfs-dpkg: debootstrap --foreign failed (log: $dir.log)" >&2
	exit 1
}
# in a container debootstrap links proc to the host's /proc; the guest mounts its own there
if [ -L "$dir/proc" ]; then
	rm "$dir/proc"
	mkdir "$dir/proc"
fi
mke2fs -q -F -t ext4 -L vmtest-root -d "$dir" "$dir.stage1.img.tmp" 2G >/dev/null
mv "$dir.stage1.img.tmp" "$dir.stage1.img"
rm -rf "$dir"
echo "vmtest: first stage took $(($(date +%s) - start)) s"
exit 3
