#!/bin/busybox sh
# initramfs /init of `make vmtest`: the host's root read-only (9p) under a tmpfs overlay, then
# the guest half of the job (scripts/vmtest-guest.sh) as the new root's first process.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules); do
	insmod /lib/modules/$m.ko || echo "vmtest-init: insmod $m failed"
done
die() {
	echo "vmtest-init: $*"
	poweroff -f
}
opts=trans=virtio,version=9p2000.L,msize=262144
mkdir -p /out
mount -t 9p -o $opts out /out || die "cannot mount the result share"
. /out/job
mount -t tmpfs -o mode=755 rw /rw
if [ -n "${rootdev:-}" ]; then
	# a disk image (vmtest-rootfs-dpkg.sh): qemu discards the writes unless it is the setup boot
	n=0
	while [ ! -b "$rootdev" ] && [ $n -lt 20 ]; do # the disk is probed after insmod returns
		sleep 1
		n=$((n + 1))
	done
	mount -t ext4 "$rootdev" /newroot || die "cannot mount $rootdev"
else
	mount -t 9p -o $opts,ro,cache=loose hostroot /lower || die "cannot mount the host root"
	mkdir -p /rw/upper /rw/work
	mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
		die "cannot mount the overlay"
fi
mkdir -p /newroot/vmtest-out
mount --move /out /newroot/vmtest-out || die "cannot move the result share"
# an arm64 guest's root is not this checkout's machine: the checkout comes as its own share
if mkdir -p /top && mount -t 9p -o $opts,ro,cache=loose top /top 2>/dev/null; then
	mkdir -p /rw/top-upper /rw/top-work /newroot$top
	mount -t overlay overlay -o lowerdir=/top,upperdir=/rw/top-upper,workdir=/rw/top-work \
		/newroot$top || die "cannot mount the checkout"
fi
mkdir -p /newroot/lib/modules/$kver
mount -t 9p -o $opts,ro kmods /newroot/lib/modules/$kver || die "cannot mount the modules"
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /bin/sh "$top/scripts/vmtest-guest.sh"
