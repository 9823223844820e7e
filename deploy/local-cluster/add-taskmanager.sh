#!/usr/bin/env bash
# Adds one TaskManager to the running local cluster (for example after killing one), numbered
# after the highest existing pid file, and waits until the JobManager has registered it.
#
#   add-taskmanager.sh [--dir DIR]
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage="usage: add-taskmanager.sh [--dir DIR]"
parse_dir_option "$usage" "$@"
[[ -d "$dir" ]] || die "no cluster in $dir; start one with start.sh."
dir="$(cd "$dir" && pwd)"
[[ -n "$(live_pid "$dir/jobmanager.pid")" ]] || die "the JobManager of $dir does not run; start the cluster with start.sh."

port="$(conf_value rest.port)"
last=0
for f in "$dir"/taskmanager-*.pid; do
  [[ -e "$f" ]] || continue
  n="${f##*/taskmanager-}"
  n="${n%.pid}"
  (( n > last )) && last="$n"
done
n=$((last + 1))
launch_taskmanager "$n"
await_taskmanagers "$port" "$n"
echo "local-cluster: taskmanager-$n running (pid $(cat "$dir/taskmanager-$n.pid")); log $dir/log/taskmanager-$n.log"
