#!/usr/bin/env bash
# Starts an OpenSSH server as the current user on 127.0.0.1:<a free port> for the fleet tests, with its own
# host key, a client key allowed to log in, and a known_hosts file for that host key, all under STATE_DIR
# (default .e2e-tmp/sshd). Sessions get PATH_FOR_SESSIONS first on PATH (where the test puts its `agnes`).
# Prints shell-style lines: PORT=…, PID=…, KEY=…, KNOWN_HOSTS=…, USER=…. Stop it with `kill <PID>`.
set -euo pipefail

readonly STATE_DIR=${1:-"$(cd "$(dirname "$0")/../.." && pwd)/.e2e-tmp/sshd"}
readonly PATH_FOR_SESSIONS=${2:-"$STATE_DIR/bin"}
readonly SSHD=/usr/sbin/sshd

die() { echo "start-sshd: ERROR: $*" >&2; exit 1; }
[ -x "$SSHD" ] || die "$SSHD is missing: install openssh-server (scripts/provision-test-host.sh does)"

mkdir -p "$STATE_DIR" "$PATH_FOR_SESSIONS"
chmod 700 "$STATE_DIR"
[ -f "$STATE_DIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$STATE_DIR/host_ed25519"
[ -f "$STATE_DIR/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$STATE_DIR/client_ed25519"
cp "$STATE_DIR/client_ed25519.pub" "$STATE_DIR/authorized_keys"
chmod 600 "$STATE_DIR/authorized_keys"

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$STATE_DIR/host_ed25519.pub")" >"$STATE_DIR/known_hosts"

# Privilege separation needs this directory when sshd runs as root.
if [ "$(id -u)" = 0 ]; then mkdir -p /run/sshd && chmod 755 /run/sshd; fi

cat >"$STATE_DIR/sshd_config" <<CONFIG
ListenAddress 127.0.0.1
Port $port
HostKey $STATE_DIR/host_ed25519
AuthorizedKeysFile $STATE_DIR/authorized_keys
PidFile $STATE_DIR/sshd.pid
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
MaxSessions 64
MaxStartups 64:30:128
SetEnv PATH=$PATH_FOR_SESSIONS:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CONFIG

"$SSHD" -t -f "$STATE_DIR/sshd_config" || die "sshd refused its configuration"
"$SSHD" -D -e -f "$STATE_DIR/sshd_config" </dev/null >/dev/null 2>>"$STATE_DIR/sshd.log" &
pid=$!
for _ in $(seq 1 50); do
  if ssh-keyscan -p "$port" 127.0.0.1 >/dev/null 2>&1; then break; fi
  kill -0 "$pid" 2>/dev/null || die "sshd exited; see $STATE_DIR/sshd.log"
  sleep 0.1
done

echo "PORT=$port"
echo "PID=$pid"
echo "KEY=$STATE_DIR/client_ed25519"
echo "KNOWN_HOSTS=$STATE_DIR/known_hosts"
echo "USER=$(id -un)"
