#!/usr/bin/env bash
# Exit 0 when the local cluster is up and answering (its API server is ready), 1 if not.
set -u
state_dir=${ZDK_STATE_DIR:-/var/lib/fastapi-zdk}
[[ -x $state_dir/kubectl && -f $state_dir/kubeconfig ]] || exit 1
"$state_dir/kubectl" --kubeconfig "$state_dir/kubeconfig" --request-timeout 5s get --raw /readyz >/dev/null 2>&1
