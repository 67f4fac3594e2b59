#!/usr/bin/env bash
# Fill app/wheelhouse/ with binary wheels of app/requirements.txt for the image's Python,
# so that `podman build app/` needs no network. Idempotent (pip skips what is there).
#   scripts/build-wheelhouse.sh [PYTHON_VERSION]   default 3.11 (the local bookworm base);
#                                                  3.12 for python:3.12-slim
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-${WHEELHOUSE_PYTHON:-3.11}}
[[ $PY =~ ^3\.[0-9]+$ ]] || { echo "build-wheelhouse: python version like 3.11, got '$PY'" >&2; exit 1; }
ZDK_CACHE=${ZDK_CACHE:-$HOME/.cache/fastapi-zdk}
PIP=${PIP:-.venv/bin/pip}
[[ -x $PIP ]] || PIP="python3 -m pip"
out=app/wheelhouse
mkdir -p "$out"
platforms=()
# glibc 2.36 (bookworm): every manylinux tag up to 2_36.
for tag in manylinux2014_x86_64 manylinux_2_17_x86_64 manylinux_2_28_x86_64 manylinux_2_34_x86_64 \
  manylinux_2_36_x86_64; do
  platforms+=(--platform "$tag")
done
# shellcheck disable=SC2086
PIP_CACHE_DIR=$ZDK_CACHE/pip $PIP download --quiet --disable-pip-version-check \
  --only-binary=:all: --python-version "$PY" --implementation cp --abi "cp${PY/./}" \
  "${platforms[@]}" -d "$out" -r app/requirements.txt
printf '%s\n' "$PY" > "$out/PYTHON_VERSION"
echo "wheelhouse $out for Python $PY: $(find "$out" -name '*.whl' | wc -l) wheels, $(du -sh "$out" | cut -f1)"
