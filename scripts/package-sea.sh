#!/usr/bin/env bash
# npm run package: the single executable dist-bin/agnes-linux-<x64|arm64>, a copy of this machine's node with
# the CommonJS bundle injected as its SEA blob (Node's single executable applications). Prints its sha256.
set -euo pipefail
cd "$(dirname "$0")/.."

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "no single executable for $(uname -m)" >&2; exit 1 ;;
esac
binary="dist-bin/agnes-linux-$arch"

node scripts/bundle.mjs --sea
node --experimental-sea-config sea-config.json >&2
mkdir -p dist-bin
cp "$(node -p process.execPath)" "$binary.tmp"
chmod 0755 "$binary.tmp"
npx --no-install postject "$binary.tmp" NODE_SEA_BLOB dist-sea/agnes.blob \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >&2
mv "$binary.tmp" "$binary"
sha256sum "$binary"
