#!/usr/bin/env bash
# Build one of the cluster's own images FROM scratch and push it to the local
# registry: the pause image (a static C binary), CoreDNS or Traefik (compiled binaries).
#
# usage: build-image.sh IMAGE_REF WORK_DIR ROLE_FILES_DIR COREDNS_BIN_DIR TRAEFIK_BIN_DIR
set -euo pipefail
ref=$1 work=$2 files=$3 coredns_bin=$4 traefik_bin=$5
ctx=$work/${ref##*/}
rm -rf "$ctx" && mkdir -p "$ctx"
case $ref in
  */pause:*)
    gcc -static -Os -o "$ctx/pause" "$files/pause.c"
    strip "$ctx/pause"
    printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$ctx/Containerfile"
    ;;
  */coredns:*)
    cp "$coredns_bin/coredns" "$ctx/coredns"
    printf 'FROM scratch\nCOPY coredns /coredns\nEXPOSE 53 53/udp\nENTRYPOINT ["/coredns"]\n' >"$ctx/Containerfile"
    ;;
  */traefik:*)
    cp "$traefik_bin/traefik" "$ctx/traefik"
    printf 'FROM scratch\nCOPY traefik /traefik\nUSER 65532:65532\nEXPOSE 8000 8080\nENTRYPOINT ["/traefik"]\n' >"$ctx/Containerfile"
    ;;
  *) echo "error: no recipe for image $ref" >&2; exit 2 ;;
esac
podman build --quiet -f "$ctx/Containerfile" -t "$ref" "$ctx"
podman push --quiet --tls-verify=false "$ref"
rm -rf "$ctx"
echo "pushed $ref"
