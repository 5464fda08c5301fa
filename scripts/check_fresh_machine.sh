#!/usr/bin/env bash
# Runs the README's two commands (`make demo`, then `make test`) on a bare Debian 12:
# a minbase root made with debootstrap, entered with chroot, holding a clean clone of
# this checkout's HEAD. Only `make` is installed into the root before the commands run
# (the README's commands are make targets); everything else must come from
# scripts/setup.sh. Whatever this machine happens to have installed does not help.
#
#   scripts/check_fresh_machine.sh [--root DIR] [--reuse-root] [--ccache DIR] [--only demo|test]
#
#   --root DIR     where the Debian root goes (default /var/tmp/tessel-fresh-root)
#   --reuse-root   keep an existing root from an earlier run (default: debootstrap anew)
#   --ccache DIR   bind-mount DIR as the root's ccache (faster reruns; not a cold build)
#   --only X       run only `make X`
# Needs root (debootstrap, mount, chroot) and Debian's mirror. Prints the time of each step.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
root=/var/tmp/tessel-fresh-root
reuse=0
ccache_dir=""
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    --reuse-root) reuse=1; shift ;;
    --ccache) ccache_dir="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "check_fresh_machine: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "check_fresh_machine: needs root (debootstrap, mount, chroot)" >&2; exit 2; }

step() { echo "[fresh] $(date +%T) $*"; }
mounts=()
cleanup() {
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() {  # bind SRC DST: mounts SRC on DST inside the root
  mkdir -p "$2"
  mount --bind "$1" "$2"
  mounts+=("$2")
}

if ! command -v debootstrap >/dev/null; then
  step "installing debootstrap on the host"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

if [ "$reuse" -eq 0 ] || [ ! -x "$root/bin/bash" ]; then
  # A root left mounted by a killed run must not be deleted through its mounts.
  if mount | grep -q " $root/"; then
    mount | awk -v r="$root/" 'index($3, r) == 1 {print $3}' | sort -r | xargs -r umount -l
  fi
  rm -rf "$root"
  step "debootstrap --variant=minbase bookworm $root"
  t0=$(date +%s)
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
  step "debootstrap took $(( $(date +%s) - t0 )) s"
fi

# The network settings a machine of this kind has from its image (not packages): DNS,
# the workplace's own certificate authorities (its egress proxy re-signs TLS) and
# pip's configuration. ca-certificates, once setup.sh installs it, picks the CAs up.
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$root/usr/local/share/ca-certificates"
cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
[ -f /etc/pip.conf ] && cp /etc/pip.conf "$root/etc/pip.conf"
passenv=()
for v in PIP_CERT PIP_DEFAULT_TIMEOUT PIP_INDEX_URL SSL_CERT_FILE SSL_CERT_DIR REQUESTS_CA_BUNDLE CURL_CA_BUNDLE \
         http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  [ -n "${!v:-}" ] && passenv+=("$v=${!v}")
done
bind /proc "$root/proc"
bind /sys "$root/sys"
bind /dev "$root/dev"
[ -d /dev/pts ] && bind /dev/pts "$root/dev/pts"
[ -n "$ccache_dir" ] && { mkdir -p "$ccache_dir"; bind "$ccache_dir" "$root/root/.cache/ccache"; }

step "cloning $(git -C "$repo" rev-parse --short HEAD) into the root"
rm -rf "$root/work/tessel"
mkdir -p "$root/work"
git clone -q "$repo" "$root/work/tessel"

in_root() { chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 TERM=dumb "${passenv[@]}" /bin/bash -c "$1"; }

step "installing make (the README's commands are make targets)"
in_root "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make >/dev/null"

status=0
for target in demo test; do
  [ -n "$only" ] && [ "$only" != "$target" ] && continue
  step "make $target"
  t0=$(date +%s)
  if in_root "cd /work/tessel && make $target"; then
    step "make $target passed in $(( $(date +%s) - t0 )) s"
  else
    status=$?
    step "make $target FAILED (exit $status) after $(( $(date +%s) - t0 )) s"
    break
  fi
done
exit "$status"
