#!/usr/bin/env bash
# Install checkov (policy scanner for the chart) into its own venv, outside the
# repo: its pins clash with ansible's, so it never shares the project venv.
# Idempotent. usage: install-checkov.sh [VENV_DIR]
set -euo pipefail
checkov_version=3.3.30
venv=${1:-${ZDK_CACHE:-$HOME/.cache/fastapi-zdk}/checkov-venv}

if [[ -x $venv/bin/checkov ]] && "$venv/bin/pip" show checkov 2>/dev/null | grep -qx "Version: $checkov_version"; then
  exit 0
fi
echo "installing checkov $checkov_version into $venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q "checkov==$checkov_version"
"$venv/bin/checkov" --version
