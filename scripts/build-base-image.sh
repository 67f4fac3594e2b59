#!/usr/bin/env bash
# Build the local base image localhost/fastapi-zdk/python-base:bookworm:
# `debootstrap --variant=minbase bookworm` + python3 (3.11) + python3-venv, imported
# into the project's private podman storage with `podman import`.
# Idempotent and cached: does nothing when the image already exists (FORCE=1 rebuilds).
# The Debian mirror is the one apt uses on this machine (/etc/apt/sources.list*).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/podman-env.sh
source scripts/podman-env.sh

IMAGE=${BASE_IMAGE:-localhost/fastapi-zdk/python-base:bookworm}
SUITE=bookworm
PACKAGES=python3,python3-venv,passwd
ZDK_CACHE=${ZDK_CACHE:-$HOME/.cache/fastapi-zdk}

if [[ ${FORCE:-0} != 1 ]] && podman image exists "$IMAGE"; then
  echo "base image $IMAGE exists (cached; FORCE=1 to rebuild)"
  exit 0
fi
[[ $(id -u) -eq 0 ]] || { echo "build-base-image: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "build-base-image: debootstrap missing (make apt-packages)" >&2; exit 1; }

# The first archive URI apt uses for the Debian main suite (deb822 *.sources or one-line *.list).
apt_mirror() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -e $f ]] || continue
    awk -v suite="$SUITE" '
      /^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri=""; ok=0; next }
      /^URIs:/ { uri=$2 }
      /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok=1 }
      END { if (uri != "" && ok) print uri }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -e $f ]] || continue
    awk -v suite="$SUITE" '$1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == suite) print $i }' "$f"
  done
}
MIRROR=$(apt_mirror | head -n1)
[[ -n $MIRROR ]] || { echo "build-base-image: no apt source for $SUITE found in /etc/apt" >&2; exit 1; }

mkdir -p "$ZDK_CACHE"
ROOTFS=$(mktemp -d "$ZDK_CACHE/base-rootfs.XXXXXX")
cleanup() {
  # debootstrap mounts proc/sys inside the target; never delete through a mount.
  local m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
    awk -v r="$ROOTFS" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r)
  rm -rf --one-file-system "$ROOTFS"
}
trap cleanup EXIT

start=$(date +%s)
echo "debootstrap --variant=minbase $SUITE from $MIRROR (+ $PACKAGES)"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" \
  > "$ZDK_CACHE/debootstrap.log" 2>&1 || {
  tail -n 20 "$ZDK_CACHE/debootstrap.log" >&2
  exit 1
}
# Slim the root filesystem: package caches and lists, docs, man pages, logs.
rm -rf "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/* \
  "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
  "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/*
find "$ROOTFS"/usr/lib/python3* -name __pycache__ -prune -exec rm -rf {} +

tar --numeric-owner -C "$ROOTFS" -c . | podman import \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' \
  --message "debootstrap --variant=minbase $SUITE + $PACKAGES" \
  - "$IMAGE" >/dev/null
echo "built $IMAGE in $(($(date +%s) - start)) s; size: $(podman image inspect --format '{{.Size}}' "$IMAGE") bytes"
podman run --rm --network none "$IMAGE" python3 --version
