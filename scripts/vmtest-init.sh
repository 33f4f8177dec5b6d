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
mount -t 9p -o $opts,ro,cache=loose hostroot /lower || die "cannot mount the host root"
mount -t tmpfs -o mode=755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
	die "cannot mount the overlay"
mkdir -p /newroot/vmtest-out
mount -t 9p -o $opts out /newroot/vmtest-out || die "cannot mount the result share"
. /newroot/vmtest-out/job
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
