# shellcheck shell=bash disable=SC2034,SC2154
# (SC2034/SC2154: variables shared with the scripts that source this file; they set $dir.)
# Shared by the local-cluster scripts (sourced, not run): paths, the classpath, the configuration
# and the launch of one Flink JVM. Every function fails the calling script with one sentence.

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# The OpenBLAS kernels for ND4J (OPENBLAS_CORETYPE), as bin/mmoe picks them.
# shellcheck source=../../bin/blas-env.sh
source "$root/bin/blas-env.sh"
here="$root/deploy/local-cluster"
default_dir="$root/target/local-cluster"

# Options every Flink JVM needs on Java 17 (Flink's distribution sets the same ones in
# env.java.default-opts.all).
java17_opts=(
  --add-exports=java.base/sun.net.util=ALL-UNNAMED
  --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED
  --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.text=ALL-UNNAMED
  --add-opens=java.base/java.time=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
)

die() {
  echo "local-cluster: $*" >&2
  exit 1
}

# Absolute path of directory $1 (created if missing).
# Parses the arguments of a script whose only option is --dir DIR (default $default_dir) into
# $dir; $1 is the script's usage line.
parse_dir_option() {
  local usage="$1"
  shift
  dir="$default_dir"
  while (( $# > 0 )); do
    case "$1" in
      --dir) [[ $# -ge 2 ]] || die "--dir needs a directory; $usage"; dir="$2"; shift 2 ;;
      -h|--help) echo "$usage"; exit 0 ;;
      *) die "unknown argument '$1'; $usage" ;;
    esac
  done
}

absolute_dir() {
  mkdir -p "$1" && (cd "$1" && pwd)
}

# The classpath of the cluster: $MMOE_CLASSPATH when set (the integration test passes its own),
# else target/classes and the runtime dependencies Maven resolves. The dependency list is cached
# in target/ and computed again when the pom changes; sources are compiled when newer than the
# last compile. Prints the classpath.
resolve_classpath() {
  if [[ -n "${MMOE_CLASSPATH:-}" ]]; then
    printf '%s\n' "$MMOE_CLASSPATH"
    return
  fi
  local deps="$root/target/local-cluster-classpath.txt"
  local stamp="$root/target/local-cluster-compiled.stamp"
  if [[ ! -s "$deps" || ! -f "$stamp" || "$root/pom.xml" -nt "$deps" \
    || -n "$(find "$root/src/main" -newer "$stamp" -print -quit)" ]]; then
    echo "local-cluster: compiling and resolving the classpath with Maven ..." >&2
    (cd "$root" && mvn -B -q -DskipTests compile dependency:build-classpath \
      -DincludeScope=runtime -Dmdep.outputFile="$deps") >&2 \
      || die "Maven could not compile the project or resolve its classpath (see its output above)."
    touch "$stamp"
  fi
  printf '%s\n' "$root/target/classes:$(cat "$deps")"
}

# Runs Flink's BashJavaUtils command $2 against the configuration directory $1 (further
# arguments are passed on) and prints its result lines without their prefix.
bash_java_utils() {
  local conf="$1" command="$2" out
  shift 2
  out="$(java -cp "$(cat "$dir/classpath")" org.apache.flink.runtime.util.bash.BashJavaUtils \
    "$command" --configDir "$conf" "$@" 2>&1)" \
    || die "Flink's BashJavaUtils $command failed on $conf/config.yaml: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
  sed -n 's/^BASH_JAVA_UTILS_EXEC_RESULT://p' <<<"$out"
}

# Value of the flat key $1 in the generated configuration (surrounding quotes removed).
conf_value() {
  local line
  line="$(grep -E "^$1: " "$dir/conf/config.yaml" | tail -n 1 || true)"
  line="${line#*: }"
  line="${line#[\"\']}"
  printf '%s\n' "${line%[\"\']}"
}

# True when process $1 runs and is a JVM of the cluster in $dir (guards against reused pids).
is_cluster_process() {
  [[ -r "/proc/$1/cmdline" ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "--configDir $dir/conf"
}

# Pid from pid file $1 when that process is alive and ours, else nothing.
live_pid() {
  local pid
  [[ -f "$1" ]] || return 0
  pid="$(cat "$1")"
  if [[ "$pid" =~ ^[0-9]+$ ]] && is_cluster_process "$pid"; then
    printf '%s\n' "$pid"
  fi
}

# launch NAME MAIN_CLASS RESOURCE_COMMAND [extra dynamic properties...]: starts one JVM of the
# cluster in the background with the memory flags and dynamic configuration Flink derives from
# the configuration (as bin/jobmanager.sh and bin/taskmanager.sh do), its own log file and pid file.
launch() {
  local name="$1" main="$2" resources="$3"
  shift 3
  local params jvm_line dyn_line role_opts
  local -a jvm dyn opts
  params="$(bash_java_utils "$dir/conf" "$resources")"
  jvm_line="$(head -n 1 <<<"$params")"
  dyn_line="$(sed -n 2p <<<"$params")"
  [[ "$jvm_line" == -X* ]] || die "no JVM memory flags from BashJavaUtils $resources for $name."
  read -r -a jvm <<<"$jvm_line"
  read -r -a dyn <<<"$dyn_line"
  if [[ "$name" == jobmanager ]]; then
    role_opts="$(conf_value env.java.opts.jobmanager)"
  else
    role_opts="$(conf_value env.java.opts.taskmanager)"
  fi
  read -r -a opts <<<"$(conf_value env.java.opts.all) $role_opts"
  nohup env OMP_NUM_THREADS=1 FLINK_CONF_DIR="$dir/conf" FLINK_PLUGINS_DIR="$dir/plugins" FLINK_LOG_DIR="$dir/log" \
    java "${jvm[@]}" "${java17_opts[@]}" "${opts[@]}" \
    -Dlog.file="$dir/log/$name.log" -Dlog4j.configurationFile="file:$dir/conf/log4j.properties" \
    -cp "$(cat "$dir/classpath")" "$main" --configDir "$dir/conf" "${dyn[@]}" "$@" \
    </dev/null >"$dir/log/$name.out" 2>&1 &
  echo "$!" >"$dir/$name.pid"
}

# Starts TaskManager number $1 (resource id taskmanager-$1).
launch_taskmanager() {
  launch "taskmanager-$1" org.apache.flink.runtime.taskexecutor.TaskManagerRunner GET_TM_RESOURCE_PARAMS \
    -D "taskmanager.resource-id=taskmanager-$1"
}

# Waits until the TaskManagers numbered $2... are registered with the JobManager's REST API on
# port $1, while the JobManager and those TaskManagers stay alive; fails naming the log of a JVM
# that died, or the JobManager's log on timeout (MMOE_START_TIMEOUT seconds, default 120).
await_taskmanagers() {
  local port="$1" timeout="${MMOE_START_TIMEOUT:-120}" body name n missing
  shift
  local deadline=$((SECONDS + timeout))
  while true; do
    for name in jobmanager "${@/#/taskmanager-}"; do
      [[ -n "$(live_pid "$dir/$name.pid")" ]] || die "$name exited during start-up; see $dir/log/$name.log and $dir/log/$name.out."
    done
    body="$(curl -sf --max-time 2 "http://localhost:$port/taskmanagers" || true)"
    missing=0
    for n in "$@"; do
      grep -qF "\"id\":\"taskmanager-$n\"" <<<"$body" || missing=$((missing + 1))
    done
    (( missing == 0 )) && return 0
    (( SECONDS < deadline )) || die "the REST API on port $port did not report TaskManager(s) $* within ${timeout} s; see $dir/log/jobmanager.log."
    sleep 0.5
  done
}
