#!/usr/bin/env bash
# Builds a small Linux-like root filesystem that can run the host's GRUB in a chroot, as an
# ext4 partition image: busybox-static as /bin/sh (+ applet links), grub-install, grub-mkconfig,
# grub-probe, grub-mkimage, ... with their shared libraries (found with ldd), the GRUB platform
# modules (i386-pc, x86_64-efi), /etc/grub.d, /etc/default/grub talking on the serial console,
# a dummy kernel in /boot (so grub-mkconfig writes a menu entry) and an /etc/fstab.
#
#   tests/harness/grub_image.sh <out.img> <fs-uuid> <size-MiB> [--efi]
#
# With --efi, the image also carries /boot/efi/EFI/debian/grubx64.efi and EFI/BOOT/BOOTX64.EFI
# (grub-mkimage for x86_64-efi, prefix /EFI/debian) and EFI/debian/grub.cfg, which finds the
# root filesystem by UUID and loads its /boot/grub/grub.cfg: what a distribution's image ships
# for the agent to copy onto the new ESP (spec 08 §10.5 step 3).
#
# Host packages: busybox-static grub2-common grub-common grub-pc-bin grub-efi-amd64-bin udev
# e2fsprogs. Nothing here touches a block device: mkfs.ext4 writes the image file.
set -euo pipefail
out=${1:?usage: grub_image.sh <out.img> <fs-uuid> <size-MiB> [--efi]}
uuid=${2:?fs uuid}
size=${3:?size in MiB}
efi=${4:-}
die() { echo "grub_image.sh: error: $*" >&2; exit 1; }

busybox=$(command -v busybox) || die "busybox missing (apt-get install busybox-static)"
ldd "$busybox" >/dev/null 2>&1 && die "$busybox is not static (apt-get install busybox-static)"
# udevadm: grub-probe asks `udevadm info` for a partition's sysfs path (its start sector).
tools=(grub-install grub-mkconfig grub-probe grub-mkimage grub-editenv grub-mkrelpath
  grub-script-check grub-file udevadm)
for t in "${tools[@]}"; do
  command -v "$t" >/dev/null || die "missing $t (apt-get install grub2-common grub-common udev)"
done
for d in /usr/lib/grub/i386-pc /usr/lib/grub/x86_64-efi /etc/grub.d /usr/share/grub; do
  [ -d "$d" ] || die "missing $d (apt-get install grub-pc-bin grub-efi-amd64-bin)"
done

stage=$(mktemp -d "${TMPDIR:-/tmp}/grub-image-XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,usr/lib,usr/share/locale,lib64,etc/default,boot/grub,dev,proc,sys,run,tmp,root,var/tmp}
chmod 1777 "$stage/tmp" "$stage/var/tmp"

# busybox as /bin/sh and every applet the GRUB scripts use (sed, grep, sort, find, ...), in
# /bin so the tools' /usr/bin lookups still find the real GRUB programs first.
cp "$busybox" "$stage/bin/busybox"
for applet in $("$busybox" --list); do
  [ -e "$stage/bin/$applet" ] || ln -s busybox "$stage/bin/$applet"
done

copy_with_libs() { # copies binary $1 to the same path in the stage, with its libraries
  local src=$1 lib
  mkdir -p "$stage$(dirname "$src")"
  cp -L "$src" "$stage$src"
  while read -r lib; do
    [ -e "$stage$lib" ] && continue
    mkdir -p "$stage$(dirname "$lib")"
    cp -L "$lib" "$stage$lib"
  done < <(ldd "$src" 2>/dev/null | awk '/=> \// {print $3} /^\t\/lib64\// {print $1}')
}
for t in "${tools[@]}"; do copy_with_libs "$(command -v "$t")"; done
cp -L /lib64/ld-linux-x86-64.so.2 "$stage/lib64/"
mkdir -p "$stage/usr/lib/grub" "$stage/usr/share/grub" "$stage/etc/grub.d"
cp -a /usr/lib/grub/i386-pc /usr/lib/grub/x86_64-efi "$stage/usr/lib/grub/"
cp -a /usr/share/grub/grub-mkconfig_lib "$stage/usr/share/grub/"
cp -a /etc/grub.d/00_header /etc/grub.d/10_linux /etc/grub.d/40_custom "$stage/etc/grub.d/"

cat >"$stage/etc/default/grub" <<'EOF'
GRUB_DEFAULT=0
GRUB_TIMEOUT=30
GRUB_DISTRIBUTOR=GrubTest
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
EOF
cat >"$stage/etc/fstab" <<EOF
UUID=$uuid	/	ext4	errors=remount-ro	0	1
EOF
echo "grub-test" >"$stage/etc/hostname"
echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
echo "root:x:0:" >"$stage/etc/group"
# A dummy kernel: grub-mkconfig only needs the file to exist to write a menu entry.
printf 'not a kernel\n' >"$stage/boot/vmlinuz-6.1.0-grubtest"

if [ "$efi" = "--efi" ]; then
  esp="$stage/boot/efi/EFI"
  mkdir -p "$esp/debian" "$esp/BOOT"
  grub-mkimage -O x86_64-efi -p /EFI/debian -o "$esp/debian/grubx64.efi" \
    part_gpt part_msdos fat ext2 normal configfile search search_fs_uuid serial terminal \
    echo test ls cat linux gzio
  cp "$esp/debian/grubx64.efi" "$esp/BOOT/BOOTX64.EFI"
  cat >"$esp/debian/grub.cfg" <<EOF
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
search --no-floppy --fs-uuid --set=root $uuid
set prefix=(\$root)/boot/grub
configfile \$prefix/grub.cfg
EOF
fi

rm -f "$out"
mkfs.ext4 -q -F -U "$uuid" -L root -d "$stage" "$out" "${size}M" >/dev/null
