#!/bin/sh
# Installs, with apt-get, only the Debian packages twscope needs that are missing.
# Quiet when nothing is missing. `--test` adds what the tests use, `--bench` what the bench uses,
# `--vmtest` what `make vmtest` boots Debian's kernels with,
# `--deb` what `make deb` and `make deb-test` build and check the package with,
# `--k8s` node and npm for `make k8s-validate` (Debian's, unless a node and npm are already there);
# `--cross arm64` the cross compiler and the arm64 libraries (multiarch) `make ARCH=arm64` builds
# with, and with `--vmtest` what an arm64 guest needs.
set -eu

build="clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev pkg-config libmicrohttpd-dev libseccomp-dev make gcc"
runtime="iproute2"
test="libcmocka-dev python3 tmux prometheus procps systemd groff-base man-db util-linux"
bench="libbpf-tools linux-perf"
vmtest="qemu-system-x86 busybox-static cpio kmod xz-utils zstd coreutils"
deb="build-essential debhelper dpkg-dev fakeroot lintian man-db groff-base systemd util-linux"

want="$build $runtime"
cross=
vm=
while [ $# -gt 0 ]; do
	case "$1" in
	--test) want="$want $test" ;;
	--bench) want="$want $test $bench" ;;
	--vmtest) want="$want $test $vmtest" vm=1 ;;
	--deb) want="$want $test $deb" ;;
	--k8s) command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 ||
		want="$want nodejs npm" ;;
	--cross)
		[ "${2:-}" = arm64 ] || { echo "deps.sh: --cross takes arm64" >&2; exit 2; }
		cross=$2
		shift
		;;
	*) echo "deps.sh: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
if [ -n "$cross" ]; then
	want="$want gcc-aarch64-linux-gnu"
	for p in libbpf-dev libelf-dev zlib1g-dev libmicrohttpd-dev libseccomp-dev; do
		want="$want $p:$cross"
	done
	[ -z "$vm" ] || want="$want qemu-system-arm mmdebstrap debootstrap"
fi

missing=""
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages:$missing; run as root (sudo make ...) to install them" >&2
	exit 1
fi
if [ -n "$cross" ] && ! dpkg --print-foreign-architectures | grep -qx "$cross"; then
	dpkg --add-architecture "$cross"
	apt-get update -qq >/dev/null
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# an old or empty package index cannot resolve the names: refresh it once
if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
