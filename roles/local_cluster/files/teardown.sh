#!/usr/bin/env bash
# Remove everything the local cluster created and restore the sysctls it
# changed. Safe on a half-made or already removed cluster; prints one line per
# thing it removed (nothing when there was nothing to do).
#
# usage: teardown.sh STATE_DIR RUN_DIR CONTAINERD_SOCKET PG_BIN DAEMON_SCRIPT
set -uo pipefail
state=$1 run=$2 socket=$3 pg_bin=$4 daemon=$5
say() { echo "removed: $*"; }

# 1. Stop the node first so nothing restarts containers, then the control plane.
if [[ -d $state/pids ]]; then
  for name in kube-proxy kubelet kube-scheduler kube-controller-manager kube-apiserver etcd; do
    [[ $("$daemon" "$state/pids" stop "$name" 20) == stopped ]] && say "process $name"
  done
fi

# 2. Kill every container process (they live in the kubepods cgroups), then the
#    shims of our containerd, then containerd itself.
shopt -s globstar nullglob
mapfile -t pids < <(cat /sys/fs/cgroup/*/kubepods/**/cgroup.procs 2>/dev/null | sort -u)
if ((${#pids[@]})); then kill -KILL "${pids[@]}" 2>/dev/null; say "${#pids[@]} container processes"; fi
shim_pids=$(pgrep -f "containerd-shim.*-address $socket" || true)
if [[ -n $shim_pids ]]; then kill -KILL $shim_pids 2>/dev/null; say "containerd shims"; fi
if [[ -d $state/pids ]]; then
  for name in containerd registry; do
    [[ $("$daemon" "$state/pids" stop "$name" 20) == stopped ]] && say "process $name"
  done
fi
if [[ -f $state/postgresql/data/postmaster.pid ]]; then
  runuser -u postgres -- "$pg_bin/pg_ctl" stop --pgdata="$state/postgresql/data" -m fast -w >/dev/null 2>&1 && say "process postgresql"
fi
sleep 0.5

# 3. Unmount what kubelet and containerd mounted (deepest first), delete the pod
#    network namespaces, the bridge, and kube-proxy's and CNI's iptables chains.
mapfile -t mounts < <(awk '{print $2}' /proc/self/mounts | grep -E "^($state|$run|/run/containerd|/run/netns/cni-)" | sort -r)
for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null && say "mount $m"; done
for ns in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do ip netns delete "$ns" && say "netns $ns"; done
if ip link show cni0 >/dev/null 2>&1; then ip link delete cni0 && say "bridge cni0"; fi
for table in filter nat mangle raw; do
  rules=$(iptables-save -t "$table" 2>/dev/null) || continue
  if grep -qE -- '(KUBE-|CNI-)' <<<"$rules"; then
    grep -vE -- '(KUBE-|CNI-)' <<<"$rules" | iptables-restore -T "$table" && say "iptables $table KUBE-*/CNI-* chains and rules"
  fi
done
conntrack -D -s 10.244.0.0/16 >/dev/null 2>&1 || true

# 4. Empty cgroups left by pods.
for d in $(find /sys/fs/cgroup/*/kubepods* -depth -type d 2>/dev/null); do rmdir "$d" 2>/dev/null; done

# 5. Restore the sysctls found before the first up, then remove the state.
if [[ -f $state/sysctl-before.conf ]]; then
  sysctl -q -p "$state/sysctl-before.conf" && say "sysctls restored"
fi
for d in "$state" "$run" /run/containerd /var/lib/cni; do
  if [[ -e $d ]]; then rm -rf "$d" && say "directory $d"; fi
done
exit 0
