#!/usr/bin/env bash
# Builds, once per machine, the Debian trixie chroot that holds Ironic 29 for the end-to-end
# tests (see /work/shared/ironic-test-recipe.md, "A modern Ironic beside it"). Idempotent: an
# existing chroot with ironic and ironic-dbsync is reused as is.
#
#   tests/harness/trixie_chroot.sh [ROOT]      # default /var/cache/agent-test/trixie-build
#
# The build happens in ROOT.partial and is renamed to ROOT only when complete, so a build killed
# half-way is never mistaken for a chroot; a lock file serialises concurrent callers. Nothing is
# mounted here: tests mount /proc, /sys, /dev in a private mount namespace of their own.
set -euo pipefail

root=${1:-${IRONIC29_CHROOT:-/var/cache/agent-test/trixie-build}}
mirror=${TRIXIE_MIRROR:-http://deb.debian.org/debian}
packages=(ironic-common python3-ironicclient)

complete() { [ -x "$1/usr/bin/ironic" ] && [ -x "$1/usr/bin/ironic-dbsync" ]; }

if complete "$root"; then exit 0; fi

mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
# Another caller may be building it: wait for it (bounded) rather than build twice.
flock -w 1800 9
if complete "$root"; then exit 0; fi

if ! command -v debootstrap >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
fi

partial="$root.partial"
# A previous partial build may still have mounts if its machine crashed mid-way; never rm -rf
# through a mount point.
if [ -e "$partial" ]; then
  if grep -q " $partial/" /proc/self/mountinfo; then
    echo "Cannot rebuild $partial: something is still mounted below it" >&2
    exit 1
  fi
  rm -rf --one-file-system "$partial"
fi

echo "Building the Ironic 29 chroot in $partial (about 6 minutes)" >&2
timeout 1200 debootstrap --variant=minbase trixie "$partial" "$mirror" >"$root.debootstrap.log" 2>&1 || {
  echo "debootstrap failed; see $root.debootstrap.log" >&2
  exit 1
}
# Daemons must not start inside the chroot (they would run on this machine's loopback).
printf '#!/bin/sh\nexit 101\n' >"$partial/usr/sbin/policy-rc.d"
chmod 755 "$partial/usr/sbin/policy-rc.d"
# apt inside a minbase chroot needs /proc only for a few maintainer scripts; run it in a private
# mount namespace so nothing stays mounted whatever happens.
timeout 1800 unshare --mount --propagation private -- sh -c '
  set -e
  mount -t proc proc "$1/proc"
  exec chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $2"
' sh "$partial" "${packages[*]}" >"$root.apt.log" 2>&1 || {
  echo "installing ${packages[*]} in the chroot failed; see $root.apt.log" >&2
  exit 1
}
if ! complete "$partial"; then
  echo "the chroot in $partial has no ironic after the install" >&2
  exit 1
fi
mv "$partial" "$root"
echo "Ironic 29 chroot ready in $root" >&2
