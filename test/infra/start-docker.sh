#!/usr/bin/env bash
# Start a Docker engine and a local registry on 127.0.0.1:5000 for the e2e tests, unless they already answer.
# Idempotent; the processes outlive this script. Installs nothing (.ci/run does that).
set -euo pipefail

readonly DOCKERD_LOG=/tmp/agnes-dockerd.log
readonly REGISTRY_DIR=/tmp/agnes-registry
readonly REGISTRY_CONFIG="$REGISTRY_DIR/config.yml"
readonly REGISTRY_LOG="$REGISTRY_DIR/registry.log"
readonly REGISTRY_ADDR=127.0.0.1:5000
readonly TIMEOUT_SECONDS=60

say() { echo "start-docker: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# wait_for DESCRIPTION COMMAND...: retry COMMAND every second until it succeeds or the timeout passes.
wait_for() {
  local description=$1
  shift
  local waited=0
  until "$@" >/dev/null 2>&1; do
    if (( waited >= TIMEOUT_SECONDS )); then
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  say "$description is up (after ${waited}s)"
}

engine_answers() { docker info >/dev/null 2>&1; }
registry_answers() { curl -sf "http://$REGISTRY_ADDR/v2/" >/dev/null 2>&1; }

start_engine() {
  if engine_answers; then
    say "Docker engine already running"
    return
  fi
  command -v dockerd >/dev/null || die "dockerd is not installed (apt-get install docker.io)"
  say "starting dockerd (log: $DOCKERD_LOG)"
  setsid nohup dockerd --iptables=false >>"$DOCKERD_LOG" 2>&1 </dev/null &
  wait_for "Docker engine" engine_answers || die "Docker engine did not answer within ${TIMEOUT_SECONDS}s; last log lines:
$(tail -n 20 "$DOCKERD_LOG" 2>/dev/null)"
}

write_registry_config() {
  mkdir -p "$REGISTRY_DIR/data"
  cat >"$REGISTRY_CONFIG" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
EOF
}

start_registry() {
  if registry_answers; then
    say "registry already answering on $REGISTRY_ADDR"
    return
  fi
  command -v docker-registry >/dev/null || die "docker-registry is not installed (apt-get install docker-registry)"
  write_registry_config
  say "starting docker-registry on $REGISTRY_ADDR (config: $REGISTRY_CONFIG, log: $REGISTRY_LOG)"
  setsid nohup docker-registry serve "$REGISTRY_CONFIG" >>"$REGISTRY_LOG" 2>&1 </dev/null &
  wait_for "registry" registry_answers || die "registry did not answer on $REGISTRY_ADDR within ${TIMEOUT_SECONDS}s; last log lines:
$(tail -n 20 "$REGISTRY_LOG" 2>/dev/null)"
}

command -v docker >/dev/null || die "the docker CLI is not installed (apt-get install docker.io)"
command -v curl >/dev/null || die "curl is not installed"
start_engine
start_registry
