#!/bin/sh
# Boots one of Debian's kernel packages under qemu (TCG) with this machine's root read-only over
# 9p plus a tmpfs overlay, and runs the integration tests against that kernel. With
# VMTEST_ARCH=arm64 the kernel is Debian's arm64 one, under qemu-system-aarch64, and the root is
# an arm64 Debian unpacked into CACHE (vmtest-rootfs.sh), with this checkout over it at its path.
#
#   vmtest.sh CACHE KERNEL [run.py arguments...]    KERNEL: 6.1 or 6.12
#
# VMTEST_BINARY and VMTEST_CHURN: the agent and the churn helper the guest runs (paths in the
# checkout; ./twscope and build/churn by default). VMTEST_ROOTFS=dpkg (arm64): the root is a
# debootstrapped Debian with a dpkg database in a disk image (vmtest-rootfs-dpkg.sh; its second
# stage runs in a first boot), and VMTEST_RUN, a Python script of the checkout, runs instead of
# run.py with the same arguments.
# CACHE keeps the downloaded package, its extracted tree and the initramfs; each run writes the
# guest's console to CACHE/KERNEL/console.log. Exit status: the tests' (1 when the guest died).
set -eu

cache=$1
kernel=$2
shift 2
top=$(cd "$(dirname "$0")/.." && pwd)
mem=${VMTEST_MEM:-2560}
# multi-threaded TCG let 6.12 guests die of "Oops: int3" in call_timer_fn when a tracepoint's
# jump label was patched (2 of 2 full runs): both vCPUs on one host thread keep code coherent
tcg=${VMTEST_TCG:-thread=single}
# a whole run in the guest is bounded: a hung guest must not hang CI
limit=${VMTEST_TIMEOUT:-1800}

arch=${VMTEST_ARCH:-x86}
binary=${VMTEST_BINARY:-./twscope}
churn=${VMTEST_CHURN:-build/churn}
case "$arch" in
x86) flavour=amd64 qemu=qemu-system-x86_64 machine="-cpu max" console=ttyS0 sub=$kernel slow=1 ;;
# the generic flavour (the cloud one has no 9p); emulated arm64 loads the programs in about a
# minute, so the tests' waits are stretched 4 times
arm64)
	# the kernel signs its return addresses: QEMU's own pointer-authentication hash costs far
	# less under TCG than the architected QARMA one
	flavour=arm64 qemu=qemu-system-aarch64 machine="-M virt -cpu max,pauth-impdef=on"
	console=ttyAMA0
	sub=arm64-$kernel slow=4
	;;
*)
	echo "vmtest: unknown architecture '$arch': expected x86 or arm64" >&2
	exit 2
	;;
esac
case "$kernel" in
6.1) pattern="^linux-image-6\.1\.0-[0-9]+-$flavour-unsigned\$" ;;
6.12) pattern="^linux-image-6\.12\.[0-9]+\+deb12-$flavour-unsigned\$" ;;
*)
	echo "vmtest: unknown kernel '$kernel': expected 6.1 or 6.12" >&2
	exit 2
	;;
esac

dir=$cache/$sub
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# The newest package of the line the index knows; the index may be older than the mirror.
pkg=$(apt-cache search --names-only "$pattern" | cut -d' ' -f1 | sort -V | tail -n 1)
if [ -z "$pkg" ]; then
	apt-get update -qq >/dev/null
	pkg=$(apt-cache search --names-only "$pattern" | cut -d' ' -f1 | sort -V | tail -n 1)
fi
[ -n "$pkg" ] || {
	echo "vmtest: no package matches $pattern" >&2
	exit 1
}

if [ ! -f "$dir/$pkg.ok" ]; then
	echo "vmtest: fetching $pkg"
	rm -rf "$dir/pkg" "$dir"/*.deb "$dir"/*.ok
	(cd "$dir" && apt-get download -qq "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
	deb=$(ls "$dir"/"${pkg}"_*.deb 2>/dev/null | head -n 1)
	[ -n "$deb" ] || {
		echo "vmtest: apt-get download $pkg failed" >&2
		exit 1
	}
	dpkg-deb -x "$deb" "$dir/pkg"
	rm -f "$deb"
	kver=$(ls "$dir/pkg/lib/modules")
	# the guest loads further modules on demand (inet_diag for ss) with the host's modprobe
	depmod -b "$dir/pkg" "$kver"
	touch "$dir/$pkg.ok"
fi
kver=$(ls "$dir/pkg/lib/modules")
vmlinuz=$dir/pkg/boot/vmlinuz-$kver
mods=$dir/pkg/lib/modules/$kver

# initramfs: busybox and the modules that mount the host's root (built-in ones are skipped).
initrd=$dir/initrd-$kver.cpio.gz
if [ ! -f "$initrd" ] || [ "$0" -nt "$initrd" ] || [ "$top/scripts/vmtest-init.sh" -nt "$initrd" ]; then
	ir=$dir/initrd
	rm -rf "$ir"
	mkdir -p "$ir/bin" "$ir/lib/modules" "$ir/proc" "$ir/sys" "$ir/dev" "$ir/lower" "$ir/rw" \
		"$ir/newroot"
	if [ "$arch" = x86 ]; then
		cp /bin/busybox "$ir/bin/busybox"
	else
		# the guest's own busybox, from Debian's package for its architecture
		bb=$dir/busybox
		rm -rf "$bb"
		mkdir -p "$bb"
		(cd "$bb" && apt-get download -qq "busybox-static:$arch" 2>&1 |
			grep -v '^W: Download is performed unsandboxed' >&2 || true)
		dpkg-deb -x "$bb"/busybox-static_*.deb "$bb/x"
		cp "$bb/x/bin/busybox" "$ir/bin/busybox"
		rm -rf "$bb"
	fi
	: >"$ir/modules"
	# each module after its dependencies (modules.dep lists them, the first one last)
	add() {
		local f d m
		f=$(grep -E "(^|/)$1\.ko(\.[a-z]+)?:" "$mods/modules.dep" || true)
		[ -n "$f" ] || return 0 # built in
		for d in $(echo "${f#*:}" | tr ' ' '\n' | tac); do
			add "$(basename "$d" | sed 's/\.ko.*//')"
		done
		m=$1
		grep -qx "$m" "$ir/modules" && return 0
		f=${f%%:*}
		case "$f" in
		*.xz) xz -dc "$mods/$f" >"$ir/lib/modules/$m.ko" ;;
		*.zst) zstd -qdc "$mods/$f" >"$ir/lib/modules/$m.ko" ;;
		*) cp "$mods/$f" "$ir/lib/modules/$m.ko" ;;
		esac
		echo "$m" >>"$ir/modules"
	}
	# and the disk of a root image (VMTEST_ROOTFS=dpkg)
	for m in virtio_pci 9pnet_virtio 9p overlay virtio_blk crc32c_generic ext4; do
		add "$m"
	done
	cp "$top/scripts/vmtest-init.sh" "$ir/init"
	chmod 755 "$ir/init"
	(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) >"$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
	rm -rf "$ir"
fi

# The guest's root: this machine's, or an unpacked Debian of the guest's architecture with this
# checkout shared at its path.
root=/
topshare=
setup=
image=
case "${VMTEST_ROOTFS:-extract}" in
extract) [ "$arch" = x86 ] || root=$cache/rootfs-$arch ;;
dpkg)
	[ "$arch" = arm64 ] || {
		echo "vmtest: VMTEST_ROOTFS=dpkg is for arm64 guests (x86's package: make deb-test)" >&2
		exit 2
	}
	root=$cache/rootfs-$arch-dpkg image=$cache/rootfs-$arch-dpkg.img
	;;
*)
	echo "vmtest: unknown VMTEST_ROOTFS '$VMTEST_ROOTFS': expected extract or dpkg" >&2
	exit 2
	;;
esac
if [ "$root" != / ]; then
	if [ "${VMTEST_ROOTFS:-extract}" = dpkg ]; then
		"$top/scripts/vmtest-rootfs-dpkg.sh" "$root" "$arch" || {
			rc=$?
			[ "$rc" -eq 3 ] || exit "$rc"
			setup=1
		}
	else
		"$top/scripts/vmtest-rootfs.sh" "$root" "$arch"
	fi
	topshare="-fsdev local,id=top,path=$top,security_model=none,readonly=on,multidevs=remap
		-device virtio-9p-pci,fsdev=top,mount_tag=top"
fi

# boot RUN [ARGS...]: one guest that runs RUN (empty: run.py; "setup": the second stage of
# debootstrap, whose writes to the image are kept); rc is its exit status.
boot() {
	run=$1
	shift
	log=$dir/console.log snap=,snapshot=on tcgrun=$tcg
	# no programs are loaded by the second stage: both vCPUs on host threads of their own
	[ "$run" != setup ] || log=$dir/console-setup.log snap= tcgrun=thread=multi
	rootargs="-fsdev local,id=hostroot,path=$root,security_model=none,readonly=on,multidevs=remap
		-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot" rootdev=
	if [ -n "$image" ]; then
		# the image's changes are thrown away (snapshot) but by the second stage's boot
		rootargs="-drive file=$image,format=raw,if=none,id=root$snap
			-device virtio-blk-pci,drive=root" rootdev=/dev/vda
	fi
	# The job the guest runs, passed through the writable share.
	out=$dir/out
	rm -rf "$out"
	mkdir -p "$out"
	printf 'top=%s\nkver=%s\nbinary=%s\nchurn=%s\nslow=%s\nrun=%s\nrootdev=%s\n' "$top" "$kver" \
		"$binary" "$churn" "${VMTEST_SLOW:-$slow}" "$run" "$rootdev" >"$out/job"
	: >"$out/args"
	[ $# -eq 0 ] || printf '%s\n' "$@" >"$out/args"

	echo "vmtest: booting $kver ($arch, TCG $tcgrun, 2 vCPUs, ${mem} MiB)${run:+, $run}"
	start=$(date +%s)
	rc=0
	# shellcheck disable=SC2086 # $machine, $rootargs and $topshare are lists of arguments
	timeout --foreground -k 10 "$limit" "$qemu" \
		-nodefaults -no-reboot -display none -serial stdio \
		$machine -accel "tcg,$tcgrun" -smp 2 -m "$mem" \
		-kernel "$vmlinuz" -initrd "$initrd" \
		-append "console=$console panic=-1 quiet loglevel=3 rw" \
		$rootargs \
		-fsdev local,id=kmods,path="$mods",security_model=none,readonly=on \
		-device virtio-9p-pci,fsdev=kmods,mount_tag=kmods \
		-fsdev local,id=out,path="$out",security_model=none \
		-device virtio-9p-pci,fsdev=out,mount_tag=out $topshare \
		</dev/null 2>&1 | tee "$log" | tr -d '\r' || rc=$?
	end=$(date +%s)
	if [ -f "$out/rc" ]; then
		rc=$(cat "$out/rc")
	else
		echo "vmtest: the $kver guest ended without a result (console: $log)"
		rc=1
	fi
	echo "vmtest: $kver finished in $((end - start)) s, exit $rc"
}

if [ -n "$setup" ]; then
	# on a copy: a second stage that failed starts over from the first stage's image
	cp --sparse=always "$root.stage1.img" "$image.tmp"
	final=$image image=$image.tmp
	boot setup
	[ "$rc" -eq 0 ] || {
		echo "vmtest: the second stage of $final failed (exit $rc)" >&2
		exit 1
	}
	mv "$image" "$final"
	image=$final
	rm -f "$root.stage1.img"
	touch "$root.ok"
fi
boot "${VMTEST_RUN:-}" "$@"
exit "$rc"
