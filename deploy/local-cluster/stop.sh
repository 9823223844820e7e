#!/usr/bin/env bash
# Stops the local cluster started by start.sh: SIGTERM to every JVM in DIR's pid files, SIGKILL to
# those still alive after MMOE_STOP_TIMEOUT seconds (default 20). Only processes that are JVMs of
# this cluster (their command line names DIR/conf) are signalled.
#
#   stop.sh [--dir DIR]
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage="usage: stop.sh [--dir DIR]"
parse_dir_option "$usage" "$@"
[[ -d "$dir" ]] || { echo "local-cluster: nothing to stop ($dir does not exist)"; exit 0; }
dir="$(cd "$dir" && pwd)"

# TaskManagers first, the JobManager last.
mapfile -t files < <(find "$dir" -maxdepth 1 -name 'taskmanager-*.pid' | sort; find "$dir" -maxdepth 1 -name 'jobmanager.pid')
alive=()
for f in "${files[@]}"; do
  pid="$(live_pid "$f")"
  if [[ -n "$pid" ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    alive+=("$pid")
  fi
done

deadline=$((SECONDS + ${MMOE_STOP_TIMEOUT:-20}))
while (( ${#alive[@]} > 0 && SECONDS < deadline )); do
  sleep 0.5
  still=()
  for pid in "${alive[@]}"; do
    if is_cluster_process "$pid"; then
      still+=("$pid")
    fi
  done
  alive=("${still[@]+"${still[@]}"}")
done
for pid in "${alive[@]+"${alive[@]}"}"; do
  echo "local-cluster: pid $pid did not stop on SIGTERM; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
done
rm -f "${files[@]+"${files[@]}"}"
echo "local-cluster: stopped (${#files[@]} pid files in $dir)"
