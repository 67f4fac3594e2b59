#!/usr/bin/env bash
# Print the interpreter the project's venv is built with: the real path of the newest
# Python 3.12 or 3.13 found (python3.13 / python3.12 on PATH, pyenv's versions), else of
# python3. $ZDK_PYTHON, when set, is taken as it is (e.g. ZDK_PYTHON=python3.11).
# requirements-dev.txt pins per Python (markers): 3.12+ gets current Ansible (ansible-core
# 2.21, which needs 3.12 on the controller), 3.11 the 12.x line. 3.14+ is not picked until
# the pins are tried on it.
#
# usage: venv-python.sh   (prints one absolute path; exit 1 if no python3 either)
set -euo pipefail

# A candidate that runs (a pyenv shim of a version not selected exits 127) and can make a
# venv prints "MAJOR.MINOR.MICRO PATH"; anything else prints nothing.
probe() {
  "$1" -c 'import ensurepip, os, sys, venv
print("%d.%d.%d" % sys.version_info[:3], os.path.realpath(sys.executable))' 2>/dev/null || true
}

if [[ -n ${ZDK_PYTHON:-} ]]; then
  found=$(probe "$ZDK_PYTHON")
  [[ -n $found ]] || { echo "venv-python: ZDK_PYTHON=$ZDK_PYTHON does not run (or has no venv module)" >&2; exit 1; }
  echo "${found#* }"
  exit 0
fi

pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
best=
for candidate in python3.13 python3.12 "$pyenv_root"/versions/3.1[23].*/bin/python; do
  [[ $candidate == */* && ! -x $candidate ]] && continue
  command -v "$candidate" >/dev/null 2>&1 || continue
  found=$(probe "$candidate")
  case $found in 3.12.* | 3.13.*) ;; *) continue ;; esac
  # Newest version wins (sort -V on "X.Y.Z path" lines).
  best=$(printf '%s\n%s\n' "$best" "$found" | sed '/^$/d' | sort -V | tail -n 1)
done

if [[ -z $best ]]; then
  best=$(probe python3)
  [[ -n $best ]] || { echo "venv-python: no python3 that can make a venv" >&2; exit 1; }
fi
echo "${best#* }"
