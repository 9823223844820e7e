#!/usr/bin/env bash
# Creates the topics of both jobs on a Kafka cluster: BOOTSTRAP=host:9092 ./create-topics.sh
# Event topics keep 7 days; the model topic keeps 2 days of versions (a reader bootstraps from the
# latest full snapshot, written every publish.full-every versions) and takes 8 MiB messages.
set -euo pipefail
BOOTSTRAP="${BOOTSTRAP:-localhost:9092}"
PARTITIONS="${PARTITIONS:-12}"
REPLICATION="${REPLICATION:-3}"
# KAFKA_TOPICS: the kafka-topics.sh to run (on PATH by default).
topics="${KAFKA_TOPICS:-kafka-topics.sh}"
# Wait (up to WAIT_SECONDS) until the brokers answer.
for _ in $(seq "${WAIT_SECONDS:-120}"); do
  "$topics" --bootstrap-server "$BOOTSTRAP" --list >/dev/null 2>&1 && break
  sleep 1
done
create() {
  "$topics" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic "$1" \
    --partitions "$2" --replication-factor "$REPLICATION" "${@:3}"
}
week=604800000
create impressions "$PARTITIONS" --config retention.ms=$week
create clicks "$PARTITIONS" --config retention.ms=$week
create conversions "$PARTITIONS" --config retention.ms=$week
create examples "$PARTITIONS" --config retention.ms=$week
create score-requests "$PARTITIONS" --config retention.ms=86400000
create scores "$PARTITIONS" --config retention.ms=86400000
create dead-letter 1 --config retention.ms=$week
create model 1 --config retention.ms=172800000 --config max.message.bytes=8388608
# Only with train.parallelism > 1: versions for the replicas, read from their end when a replica starts.
create train-sync 1 --config retention.ms=600000 --config segment.ms=60000 --config max.message.bytes=8388608
