#!/usr/bin/env bash
# Compile the pinned upstream cluster binaries from the Go module proxy into a
# cache directory keyed by version. A warm cache compiles nothing.
#
# usage: build-binaries.sh CACHE_DIR KUBERNETES_VERSION ETCD_VERSION COREDNS_VERSION \
#                          TRAEFIK_VERSION GATEWAY_API_VERSION
set -euo pipefail

cache_dir=$1 k8s_version=$2 etcd_version=$3 coredns_version=$4 traefik_version=$5 gateway_api_version=$6

for v in "$k8s_version" "$etcd_version" "$coredns_version" "$traefik_version" "$gateway_api_version"; do
  [[ $v =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "error: '$v' is not a version like v1.35.8" >&2; exit 2; }
done

k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
k8s_dir=$cache_dir/kubernetes-$k8s_version
etcd_dir=$cache_dir/etcd-$etcd_version
coredns_dir=$cache_dir/coredns-$coredns_version
traefik_dir=$cache_dir/traefik-$traefik_version
gateway_api_dir=$cache_dir/gateway-api-$gateway_api_version
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

started=$SECONDS
progress() { printf '[build-binaries %s +%ds] %s\n' "$(date +%T)" $((SECONDS - started)) "$*"; }

have_all() {
  local dir=$1; shift
  for b in "$@"; do [[ -x $dir/$b ]] || return 1; done
}

# Build inside a throw-away module that requires the target and, for Kubernetes,
# replaces every staging module (./staging/src/k8s.io/X) with its published tag.
build_module() {
  local workdir=$1 module=$2 version=$3 out=$4 ldflags=$5; shift 5
  rm -rf "$workdir" && mkdir -p "$workdir" "$out.partial"
  cd "$workdir"
  go mod init zdk.local/build >/dev/null 2>&1
  go mod edit -require="$module@$version"
  if [[ $module == k8s.io/kubernetes ]]; then
    local gomod staging_version=v0${version#v1}
    gomod=$(go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | while read -r m; do
      go mod edit -replace="$m=$m@$staging_version"
    done
  fi
  # tools.go keeps the main packages in the build list so `go mod tidy` resolves them.
  { echo '//go:build tools'; echo 'package tools'; echo 'import ('
    for p in "$@"; do echo "  _ \"$p\""; done; echo ')'; } > tools.go
  progress "resolving $module@$version"
  go mod tidy >/dev/null
  progress "compiling $* (this takes several minutes on a cold cache)"
  go build -trimpath -ldflags "$ldflags" -o "$out.partial/" "$@"
  rm -rf "$out" && mv "$out.partial" "$out"
}

if have_all "$k8s_dir" "${k8s_bins[@]}"; then
  progress "kubernetes $k8s_version cached in $k8s_dir"
else
  IFS=. read -r major minor _ <<<"${k8s_version#v}"
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  pkgs=(); for b in "${k8s_bins[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  build_module "$cache_dir/work-kubernetes" k8s.io/kubernetes "$k8s_version" "$k8s_dir" "$ldflags" "${pkgs[@]}"
fi

if have_all "$etcd_dir" etcd etcdctl; then
  progress "etcd $etcd_version cached in $etcd_dir"
else
  build_module "$cache_dir/work-etcd" go.etcd.io/etcd/server/v3 "$etcd_version" "$etcd_dir" "-s -w" go.etcd.io/etcd/server/v3
  mv "$etcd_dir/v3" "$etcd_dir/etcd" 2>/dev/null || mv "$etcd_dir/server" "$etcd_dir/etcd" 2>/dev/null || true
  build_module "$cache_dir/work-etcdctl" go.etcd.io/etcd/etcdctl/v3 "$etcd_version" "$etcd_dir.ctl" "-s -w" go.etcd.io/etcd/etcdctl/v3
  mv "$etcd_dir.ctl/"* "$etcd_dir/etcdctl" && rm -rf "$etcd_dir.ctl"
fi

if have_all "$coredns_dir" coredns; then
  progress "coredns $coredns_version cached in $coredns_dir"
else
  build_module "$cache_dir/work-coredns" github.com/coredns/coredns "$coredns_version" "$coredns_dir" "-s -w" github.com/coredns/coredns
fi
# Traefik's go.mod has replace lines (forks), which a requiring module would ignore:
# build inside a writable copy of the module zip instead.
if have_all "$traefik_dir" traefik; then
  progress "traefik $traefik_version cached in $traefik_dir"
else
  progress "downloading github.com/traefik/traefik/v3@$traefik_version"
  src=$(go mod download -json "github.com/traefik/traefik/v3@$traefik_version" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  rm -rf "$cache_dir/work-traefik" "$traefik_dir.partial" && mkdir -p "$traefik_dir.partial"
  cp -r "$src" "$cache_dir/work-traefik" && chmod -R u+w "$cache_dir/work-traefik"
  progress "compiling traefik (several minutes on a cold cache)"
  (cd "$cache_dir/work-traefik" && go build -trimpath \
    -ldflags "-s -w -X github.com/traefik/traefik/v3/pkg/version.Version=$traefik_version" \
    -o "$traefik_dir.partial/traefik" ./cmd/traefik)
  rm -rf "$traefik_dir" && mv "$traefik_dir.partial" "$traefik_dir"
fi

# The Gateway API CRDs (standard channel) ship in the module zip: no GitHub download.
if [[ -s $gateway_api_dir/standard-install.yaml ]]; then
  progress "gateway-api $gateway_api_version CRDs cached in $gateway_api_dir"
else
  src=$(go mod download -json "sigs.k8s.io/gateway-api@$gateway_api_version" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  mkdir -p "$gateway_api_dir"
  for crd in "$src"/config/crd/standard/gateway.networking.k8s.io_*.yaml; do
    echo '---'; cat "$crd"
  done >"$gateway_api_dir/standard-install.yaml.partial"
  mv "$gateway_api_dir/standard-install.yaml.partial" "$gateway_api_dir/standard-install.yaml"
  progress "gateway-api $gateway_api_version CRDs written to $gateway_api_dir"
fi
rm -rf "$cache_dir"/work-*
progress "all binaries ready"
