#!/usr/bin/env bash
# The third-party WHIP server the egress test publishes to: Janus (Debian's janus package) behind
# Debian's simple-whip-server, Meetecho's WHIP front end for it. That package depends on Debian's
# nodejs, which this machine's Node.js replaces, so its JavaScript is taken from the .deb and given
# the npm packages it requires (the versions tested) in .cache/simple-whip-server.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/simple-whip-server
if [ -f "$dest/server.js" ] && [ -d "$dest/node_modules/express" ]; then exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && { apt-get download simple-whip-server >/dev/null 2>&1 || { apt-get update -qq && apt-get download simple-whip-server >/dev/null; }; } && dpkg -x simple-whip-server_*.deb x)
mkdir -p "$dest"
cp "$work"/x/usr/share/simple-whip-server/src/server.js "$work"/x/usr/share/simple-whip-server/src/whip-janus.js "$dest/"
cp "$work"/x/usr/share/doc/simple-whip-server/copyright "$dest/copyright"
cd "$dest"
echo '{"name": "cloudexpo-test-whip-server", "private": true, "license": "GPL-3.0-only"}' > package.json
npm install --no-audit --no-fund --silent async@3.2.6 express@5.3.0 cors@2.8.6 colors@1.4.0 debug@4.4.3 websocket@1.0.35 body-parser@2.4.0
echo "simple-whip-server ready in $dest"
