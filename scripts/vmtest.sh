#!/bin/sh
# Boots one of Debian's kernel packages under qemu (TCG) with this machine's root read-only over
# 9p plus a tmpfs overlay, and runs the integration tests against that kernel.
#
#   vmtest.sh CACHE KERNEL [run.py arguments...]    KERNEL: 6.1 or 6.12
#
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

case "$kernel" in
6.1) pattern='^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' ;;
6.12) pattern='^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' ;;
*)
	echo "vmtest: unknown kernel '$kernel': expected 6.1 or 6.12" >&2
	exit 2
	;;
esac

dir=$cache/$kernel
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
if [ ! -f "$initrd" ] || [ "$0" -nt "$initrd" ]; then
	ir=$dir/initrd
	rm -rf "$ir"
	mkdir -p "$ir/bin" "$ir/lib/modules" "$ir/proc" "$ir/sys" "$ir/dev" "$ir/lower" "$ir/rw" \
		"$ir/newroot"
	cp /bin/busybox "$ir/bin/busybox"
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
	for m in virtio_pci 9pnet_virtio 9p overlay; do
		add "$m"
	done
	cp "$top/scripts/vmtest-init.sh" "$ir/init"
	chmod 755 "$ir/init"
	(cd "$ir" && find . | cpio -o -H newc --quiet | gzip -1) >"$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
	rm -rf "$ir"
fi

# The job the guest runs, passed through the writable share.
out=$dir/out
rm -rf "$out"
mkdir -p "$out"
printf 'top=%s\nkver=%s\n' "$top" "$kver" >"$out/job"
: >"$out/args"
[ $# -eq 0 ] || printf '%s\n' "$@" >"$out/args"

echo "vmtest: booting $kver (TCG $tcg, 2 vCPUs, ${mem} MiB)"
start=$(date +%s)
rc=0
timeout --foreground -k 10 "$limit" qemu-system-x86_64 \
	-nodefaults -no-reboot -display none -serial stdio \
	-cpu max -accel "tcg,$tcg" -smp 2 -m "$mem" \
	-kernel "$vmlinuz" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 quiet loglevel=3 rw" \
	-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
	-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
	-fsdev local,id=kmods,path="$mods",security_model=none,readonly=on \
	-device virtio-9p-pci,fsdev=kmods,mount_tag=kmods \
	-fsdev local,id=out,path="$out",security_model=none \
	-device virtio-9p-pci,fsdev=out,mount_tag=out \
	</dev/null 2>&1 | tee "$dir/console.log" | tr -d '\r' || rc=$?
end=$(date +%s)
if [ -f "$out/rc" ]; then
	rc=$(cat "$out/rc")
else
	echo "vmtest: the $kver guest ended without a result (console: $dir/console.log)"
	rc=1
fi
echo "vmtest: $kver finished in $((end - start)) s, exit $rc"
exit "$rc"
