#!/usr/bin/env bash
# Installs Docker Compose v2 as a Docker CLI plugin on Debian 12, whose own docker-compose package is v1.29.
# Debian's trixie suite carries docker-compose 2.x as a self-contained binary that runs on Debian 12: this
# downloads that one package through a private apt configuration that reuses the mirror of the machine's
# existing Debian source (no host name is written here), and extracts only the plugin. Safe to run again.
set -euo pipefail

# The plugin directory may be given as the first argument (the default is where the docker CLI looks).
readonly PLUGIN_DIR=${1:-/usr/local/lib/docker/cli-plugins}
readonly SUITE=trixie

say() { echo "install-compose-v2: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

if [ -x "$PLUGIN_DIR/docker-compose" ] && "$PLUGIN_DIR/docker-compose" version >/dev/null 2>&1; then
  say "already installed: $("$PLUGIN_DIR/docker-compose" version)"
  exit 0
fi

# The URI of the machine's main Debian source (not -security), from deb822 files or one-line lists.
debian_uri() {
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    awk '
      /^URIs:/ { uri = $2 }
      /^Suites:/ { if ($0 ~ /bookworm( |$)/ && uri !~ /security/) { print uri; exit } }
      /^$/ { uri = "" }
    ' "$file"
  done | head -n 1
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    awk '$1 == "deb" && $3 ~ /^bookworm$/ && $2 !~ /security/ { print $2; exit }' "$file"
  done | head -n 1
}

uri=$(debian_uri | head -n 1)
[ -n "$uri" ] || die "no Debian bookworm source found in /etc/apt to reuse"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/parts" "$work/lists/partial" "$work/cache/archives/partial"
cat >"$work/parts/$SUITE.sources" <<EOF
Types: deb
URIs: $uri
Suites: $SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

apt_private=(
  -o "Dir::Etc::SourceList=/dev/null"
  -o "Dir::Etc::SourceParts=$work/parts"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  -o "APT::Sandbox::User=root"
)
say "downloading docker-compose from Debian $SUITE"
apt-get "${apt_private[@]}" update -qq
(cd "$work" && apt-get "${apt_private[@]}" download -qq docker-compose)
deb=$(find "$work" -maxdepth 1 -name 'docker-compose_*.deb' | head -n 1)
[ -n "$deb" ] || die "apt-get download docker-compose produced no package"
dpkg-deb -x "$deb" "$work/root"
mkdir -p "$PLUGIN_DIR"
install -m 0755 "$work/root/usr/libexec/docker/cli-plugins/docker-compose" "$PLUGIN_DIR/docker-compose"
say "installed: $("$PLUGIN_DIR/docker-compose" version)"
