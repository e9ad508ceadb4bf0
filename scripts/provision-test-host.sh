#!/usr/bin/env bash
# Installs what the test suite needs on a Debian 12 machine (run as root): a Docker engine, Docker Compose v1
# (Debian's docker-compose) and v2 (the CLI plugin, see install-compose-v2.sh) and a registry, then starts the
# engine and a local registry on 127.0.0.1:5000, and pushes the Caddy test image there. Safe to run again.
set -euo pipefail

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
# systemd-analyze and systemctl: the schedule tests verify the units they write and enable them offline.
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
# sshd: the fleet tests reach instances through a real OpenSSH server (test/infra/start-sshd.sh).
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "Installing ${missing[*]}…" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

bash "$(dirname "$0")/install-compose-v2.sh"
bash "$(dirname "$0")/../test/infra/start-docker.sh"
# The Caddy image of the TLS tests (Debian's caddy package, fetched with apt-get download when missing).
node "$(dirname "$0")/../test/infra/caddy-image.mjs" >/dev/null
