#!/usr/bin/env bash
# Install @bitnami/readme-generator-for-helm (generates the chart README's
# parameter table from the @param comments in values.yaml) into the tool cache,
# never into the repo. Idempotent. usage: install-readme-generator.sh [PREFIX]
set -euo pipefail
version=2.7.2
prefix=${1:-${ZDK_CACHE:-$HOME/.cache/fastapi-zdk}/node}
bin=$prefix/node_modules/.bin/readme-generator

if [[ -x $bin ]] && grep -q "\"version\": \"$version\"" \
    "$prefix/node_modules/@bitnami/readme-generator-for-helm/package.json" 2>/dev/null; then
  exit 0
fi
echo "installing @bitnami/readme-generator-for-helm@$version into $prefix"
mkdir -p "$prefix"
npm install --silent --no-audit --no-fund --prefix "$prefix" "@bitnami/readme-generator-for-helm@$version" >/dev/null
test -x "$bin"
