#!/bin/sh
# The root file system of an arm64 guest of `make vmtest ARCH=arm64`: Debian 12's packages for
# arm64, unpacked by mmdebstrap without running any of their scripts (no arm64 emulation on the
# host), plus the few files those scripts would have made. Cached: rebuilt when this file changes.
#
#   vmtest-rootfs.sh DIR ARCH
set -eu

dir=$1
arch=$2
# what the integration tests run besides the agent (readelf for the hardening test, C.UTF-8 and
# terminfo for tmux); the agent's own libraries
pkgs="dash bash coreutils util-linux mount sed grep findutils gawk procps iproute2 kmod
python3 tmux bpftool prometheus libbpf1 libelf1 zlib1g libmicrohttpd12 libseccomp2 binutils libc-bin
ncurses-base base-files base-passwd netbase hostname"
stamp=$dir.ok
if [ -f "$stamp" ] && [ "$stamp" -nt "$0" ]; then
	exit 0
fi
echo "vmtest: building the $arch root file system (mmdebstrap)"
rm -rf "$dir" "$stamp"
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mmdebstrap --quiet --mode=root --variant=extract --architectures="$arch" \
	--include="$(echo $pkgs | tr ' ' ',')" \
	--customize-hook='ln -sf dash "$1/bin/sh"' \
	--customize-hook='cp "$1/usr/share/base-passwd/passwd.master" "$1/etc/passwd"' \
	--customize-hook='cp "$1/usr/share/base-passwd/group.master" "$1/etc/group"' \
	bookworm "$dir" "${mirror:-http://deb.debian.org/debian}" >&2
touch "$stamp"
