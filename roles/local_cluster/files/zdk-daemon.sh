#!/usr/bin/env bash
# Supervise one background process with a pid file (there is no systemd here).
#
#   zdk-daemon.sh RUN_DIR start NAME LOG [--watch=FILE[,FILE]...] -- CMD [ARG]...
#   zdk-daemon.sh RUN_DIR stop NAME [TIMEOUT_SECONDS]
#   zdk-daemon.sh RUN_DIR status NAME
#
# start prints "running" (nothing to do), "started" or "restarted": a running
# process is restarted when its command line or a watched file has changed.
set -euo pipefail
run_dir=$1 action=$2 name=$3
shift 3
pid_file=$run_dir/$name.pid
hash_file=$run_dir/$name.hash

alive() {
  [[ -s $pid_file ]] || return 1
  local pid; pid=$(<"$pid_file")
  kill -0 "$pid" 2>/dev/null && [[ $(ps -o stat= -p "$pid" 2>/dev/null) != Z* ]]
}

stop() {
  local timeout=${1:-20} pid
  alive || { rm -f "$pid_file" "$hash_file"; return 1; }
  pid=$(<"$pid_file")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pid_file" "$hash_file"
}

case $action in
  start)
    log=$1; shift
    watch=()
    if [[ $1 == --watch=* ]]; then IFS=, read -ra watch <<<"${1#--watch=}"; shift; fi
    [[ $1 == -- ]] && shift
    mkdir -p "$run_dir" "$(dirname "$log")"
    hash=$( { printf "%s\0" "$@"; [[ ${#watch[@]} -eq 0 ]] || cat "${watch[@]}" 2>/dev/null; } | sha256sum | cut -d" " -f1)
    verb=started
    if alive; then
      [[ $(cat "$hash_file" 2>/dev/null) == "$hash" ]] && { echo running; exit 0; }
      stop 20 || true
      verb=restarted
    fi
    printf '\n==== %s %s: %s\n' "$(date -Is)" "$verb" "$*" >>"$log"
    setsid "$@" >>"$log" 2>&1 </dev/null &
    echo $! >"$pid_file"
    echo "$hash" >"$hash_file"
    sleep 1
    if ! alive; then
      echo "error: $name exited at start-up; last lines of $log:" >&2
      tail -n 15 "$log" >&2
      exit 1
    fi
    echo "$verb"
    ;;
  stop)
    if stop "${1:-20}"; then echo stopped; else echo "not running"; fi
    ;;
  status)
    if alive; then echo "running pid $(<"$pid_file")"; else echo "stopped"; exit 3; fi
    ;;
  *) echo "usage: $0 RUN_DIR start|stop|status NAME ..." >&2; exit 2 ;;
esac
