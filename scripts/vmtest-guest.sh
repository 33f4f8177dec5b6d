#!/bin/sh
# The guest half of `make vmtest`, PID 1 on the overlay root: a minimal system (no kernel config
# file anywhere), then the integration tests against this kernel; the exit status goes back
# through the result share, then the guest powers off.
out=/vmtest-out
. $out/job
finish() {
	echo "$1" >$out/rc
	sync
	echo o >/proc/sysrq-trigger
	while :; do :; done # the power-off is under way; PID 1 must not exit before
}
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs -o mode=755 run /run
mount -t tmpfs -o mode=1777 tmp /tmp
mount -t tmpfs boot /boot # the host's may hold a config file: the guest must have none
mkdir -p /dev/pts /dev/shm /run/netns
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 shm /dev/shm
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
ip link set lo up
ulimit -n 65536 # as on the host: some tests hold many sockets
hostname vmtest
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
for f in /boot/config-$(uname -r) /proc/config.gz; do
	[ -e "$f" ] && echo "vmtest: $f exists in the guest" && finish 1
done
echo "vmtest: guest $(uname -r) up, $(nproc) CPUs"
# the kernel's BTF, for `make vmlinux ARCH=...` (the header of an architecture this host is not)
cp /sys/kernel/btf/vmlinux $out/btf
cd "$top" || finish 1
set --
while IFS= read -r a; do
	set -- "$@" "$a"
done <$out/args
case "$run" in
"") TWSCOPE_CHURN=$top/$churn TWSCOPE_TEST_SLOW=$slow python3 tests/integration/run.py \
	--binary "$binary" "$@" ;;
setup)
	# the packages' maintainer scripts, as arm64 binaries here (vmtest-rootfs-dpkg.sh)
	/debootstrap/debootstrap --second-stage
	rc=$?
	[ -e /proc/sysrq-trigger ] || mount -t proc proc /proc # debootstrap unmounts what it mounted
	[ "$rc" -eq 0 ] || tail -n 30 /debootstrap/debootstrap.log 2>/dev/null
	finish "$rc"
	;;
*) TWSCOPE_TEST_SLOW=$slow python3 "$run" "$@" ;;
esac
finish $?
