#!/usr/bin/env bash
# Submits the pipeline job (target/mmoe-stream-all.jar, entry class org.mmoestream.job.PipelineMain)
# to the local cluster with Flink's own command line (CliFrontend run, detached) and prints the job
# id. Builds the jar first when it is missing, as bin/mmoe does. The client's log goes to
# DIR/log/submit.log.
#
#   submit.sh --config job.yaml [--parallelism P] [--dir DIR]
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

usage="usage: submit.sh --config job.yaml [--parallelism P] [--dir DIR]"
dir="$default_dir"
config=""
parallelism=()
while (( $# > 0 )); do
  case "$1" in
    --config) [[ $# -ge 2 ]] || die "--config needs a file; $usage"; config="$2"; shift 2 ;;
    --parallelism) [[ $# -ge 2 && "$2" =~ ^[1-9][0-9]*$ ]] || die "--parallelism needs a positive number; $usage"; parallelism=(-p "$2"); shift 2 ;;
    --dir) [[ $# -ge 2 ]] || die "--dir needs a directory; $usage"; dir="$2"; shift 2 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    *) die "unknown argument '$1'; $usage" ;;
  esac
done
[[ -n "$config" ]] || die "--config is required; $usage"
[[ -f "$config" ]] || die "job configuration $config does not exist."
config="$(cd "$(dirname "$config")" && pwd)/$(basename "$config")"
[[ -f "$dir/classpath" && -f "$dir/conf/config.yaml" ]] || die "no cluster in $dir; start one with start.sh."
dir="$(cd "$dir" && pwd)"
port="$(conf_value rest.port)"
curl -sf --max-time 5 "http://localhost:$port/overview" >/dev/null \
  || die "the cluster's REST API does not answer on port $port; start the cluster with start.sh --dir $dir."

jar="$root/target/mmoe-stream-all.jar"
if [[ ! -f "$jar" ]]; then
  echo "local-cluster: building $jar ..." >&2
  (cd "$root" && mvn -B -q -DskipTests -Pdist package) >&2 || die "Maven could not build $jar (see its output above)."
fi

log="$dir/log/submit.log"
if ! env OMP_NUM_THREADS=1 FLINK_CONF_DIR="$dir/conf" FLINK_PLUGINS_DIR="$dir/plugins" FLINK_LOG_DIR="$dir/log" \
  java "${java17_opts[@]}" -Dlog.file="$log.client" -Dlog4j.configurationFile="file:$dir/conf/log4j.properties" \
  -cp "$(cat "$dir/classpath")" org.apache.flink.client.cli.CliFrontend \
  run -m "localhost:$port" -d "${parallelism[@]+"${parallelism[@]}"}" -c org.mmoestream.job.PipelineMain "$jar" --config "$config" \
  </dev/null >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  die "the submission failed; see $log and $log.client."
fi
job_id="$(grep -oE 'JobID [0-9a-f]{32}' "$log" | tail -n 1 | cut -d' ' -f2)"
[[ -n "$job_id" ]] || die "the client printed no job id; see $log."
echo "$job_id"
