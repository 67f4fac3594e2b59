#!/usr/bin/env bash
# Fill APP_DIR/wheelhouse/ with binary wheels of APP_DIR/requirements.txt for the image's
# Python, and the wheel of lib/fastapi-zdk when the app requires it, so that
# `podman build APP_DIR` needs no network. Idempotent (pip skips what is there; the
# fastapi-zdk wheel is rebuilt only when stale).
#   scripts/build-wheelhouse.sh [PYTHON_VERSION [APP_DIR]]
#     PYTHON_VERSION: default 3.11 (the local bookworm base); 3.12 for python:3.12-slim
#     APP_DIR: default app (relative to the repository root, or absolute)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-${WHEELHOUSE_PYTHON:-3.11}}
APP_DIR=${2:-app}
[[ $PY =~ ^3\.[0-9]+$ ]] || { echo "build-wheelhouse: python version like 3.11, got '$PY'" >&2; exit 1; }
[[ -f $APP_DIR/requirements.txt ]] || { echo "build-wheelhouse: $APP_DIR/requirements.txt not found" >&2; exit 1; }
ZDK_CACHE=${ZDK_CACHE:-$HOME/.cache/fastapi-zdk}
PIP=${PIP:-.venv/bin/pip}
[[ -x $PIP ]] || PIP="python3 -m pip"
out=$APP_DIR/wheelhouse
mkdir -p "$out"
platforms=()
# glibc 2.36 (bookworm): every manylinux tag up to 2_36.
for tag in manylinux2014_x86_64 manylinux_2_17_x86_64 manylinux_2_28_x86_64 manylinux_2_34_x86_64 \
  manylinux_2_36_x86_64; do
  platforms+=(--platform "$tag")
done
# fastapi-zdk is the kit's own package (lib/fastapi-zdk), never downloaded: a package of
# that name on an index must not stand in for it. Its wheel is built below.
requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT
zdk_pattern='^[[:space:]]*fastapi-zdk([[:space:]=<>~!;[]|$)'
grep -viE "$zdk_pattern" "$APP_DIR/requirements.txt" > "$requirements" || true
# shellcheck disable=SC2086
PIP_CACHE_DIR=$ZDK_CACHE/pip $PIP download --quiet --disable-pip-version-check \
  --only-binary=:all: --python-version "$PY" --implementation cp --abi "cp${PY/./}" \
  "${platforms[@]}" -d "$out" -r "$requirements"

# The fastapi-zdk wheel (pure Python, any interpreter): rebuilt whenever a file of the
# package is newer than it, so that the image never gets a stale copy.
pkg=lib/fastapi-zdk
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$pkg/src/fastapi_zdk/__init__.py")
[[ -n $version ]] || { echo "build-wheelhouse: no __version__ in $pkg/src/fastapi_zdk/__init__.py" >&2; exit 1; }
wheel=$out/fastapi_zdk-$version-py3-none-any.whl
newer() {  # the package's files newer than the wheel (build and test leftovers aside)
  find "$pkg" \( -name build -o -name dist -o -name '*.egg-info' -o -name __pycache__ \
    -o -name tests \) -prune -o -type f -newer "$wheel" -print -quit
}
if grep -qiE "$zdk_pattern" "$APP_DIR/requirements.txt" && [[ ! -f $wheel || -n $(newer) ]]; then
  rm -f "$out"/fastapi_zdk-*.whl
  # From a clean copy: setuptools would leave build/ in the tree, and a stale build/lib
  # would leak deleted modules into the next wheel.
  src=$(mktemp -d)
  trap 'rm -f "$requirements"; rm -rf "$src"' EXIT
  cp -r "$pkg/pyproject.toml" "$pkg/README.md" "$pkg/src" "$src/"
  find "$src" \( -name '*.egg-info' -o -name __pycache__ \) -prune -exec rm -rf {} +
  PIP_CACHE_DIR=$ZDK_CACHE/pip $PIP wheel --quiet --disable-pip-version-check --no-deps \
    -w "$out" "$src"
  [[ -f $wheel ]] || { echo "build-wheelhouse: $wheel was not built" >&2; exit 1; }
  echo "built $wheel"
fi
printf '%s\n' "$PY" > "$out/PYTHON_VERSION"
echo "wheelhouse $out for Python $PY: $(find "$out" -name '*.whl' | wc -l) wheels, $(du -sh "$out" | cut -f1)"
