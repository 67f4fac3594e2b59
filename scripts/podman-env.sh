# shellcheck shell=bash
# Source this file to give podman/buildah a private configuration under the
# project cache: own storage, no registry search list, cgroupfs (no systemd),
# file event logger and explicit ulimits (the default rlimits fail here).
#   source scripts/podman-env.sh
_zdk_podman_dir=${ZDK_CACHE:-$HOME/.cache/fastapi-zdk}/podman
mkdir -p "$_zdk_podman_dir/storage" "$_zdk_podman_dir/run"
cat > "$_zdk_podman_dir/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$_zdk_podman_dir/storage"
runroot = "$_zdk_podman_dir/run"
CONF
cat > "$_zdk_podman_dir/registries.conf" <<'CONF'
unqualified-search-registries = []

[[registry]]
location = "127.0.0.1:5000"
insecure = true
CONF
cat > "$_zdk_podman_dir/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_STORAGE_CONF=$_zdk_podman_dir/storage.conf
export CONTAINERS_REGISTRIES_CONF=$_zdk_podman_dir/registries.conf
export CONTAINERS_CONF=$_zdk_podman_dir/containers.conf
unset _zdk_podman_dir
