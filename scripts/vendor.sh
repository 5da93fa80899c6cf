#!/usr/bin/env bash
# Vendors front-end libraries from the npm registry into web/static/vendor/
# (and test-only ones into tests/vendor/). Pages never load code from a CDN.
# Run after changing a version below; commit the files it writes.
set -euo pipefail
cd "$(dirname "$0")/.."

HLS_VERSION=1.7.4
AXE_VERSION=4.14.1
PDFJS_VERSION=6.5.438
# Squire (Fastmail's rich-text editor, MIT): booth and product descriptions; no inline script, no styles injected.
SQUIRE_VERSION=2.4.8

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fetch() {  # fetch NAME VERSION -> unpacked package folder
  (cd "$work" && npm pack --silent "$1@$2" >/dev/null && mkdir -p "$1" && tar -xzf "$1-$2.tgz" -C "$1" --strip-components=1)
  echo "$work/$1"
}

mkdir -p web/static/vendor tests/vendor

hls=$(fetch hls.js "$HLS_VERSION")
cp "$hls/dist/hls.min.js" web/static/vendor/hls.min.js
cp "$hls/LICENSE" web/static/vendor/hls.LICENSE.txt

# pdf.js: the document viewer (ES modules; the worker comes from this site too, as the CSP wants),
# with the CMaps and standard fonts Chinese and unembedded-font PDFs need
pdfjs=$(fetch pdfjs-dist "$PDFJS_VERSION")
rm -rf web/static/vendor/pdfjs && mkdir -p web/static/vendor/pdfjs
cp "$pdfjs/build/pdf.min.mjs" "$pdfjs/build/pdf.worker.min.mjs" "$pdfjs/web/pdf_viewer.css" web/static/vendor/pdfjs/
cp -r "$pdfjs/cmaps" "$pdfjs/standard_fonts" web/static/vendor/pdfjs/
cp "$pdfjs/LICENSE" web/static/vendor/pdfjs/LICENSE.txt
squire=$(fetch squire-rte "$SQUIRE_VERSION")
cp "$squire/dist/squire.js" web/static/vendor/squire.js
cp "$squire/LICENSE" web/static/vendor/squire.LICENSE.txt

axe=$(fetch axe-core "$AXE_VERSION")
cp "$axe/axe.min.js" tests/vendor/axe.min.js
cp "$axe/LICENSE" tests/vendor/axe.LICENSE.txt

cat > web/static/vendor/VERSIONS.txt <<TXT
hls.js $HLS_VERSION (Apache-2.0) from the npm registry
pdfjs-dist $PDFJS_VERSION (Apache-2.0) from the npm registry: pdfjs/
squire-rte $SQUIRE_VERSION (MIT) from the npm registry
TXT
cat > tests/vendor/VERSIONS.txt <<TXT
axe-core $AXE_VERSION (MPL-2.0) from the npm registry
TXT
echo "vendored: hls.js $HLS_VERSION, pdfjs-dist $PDFJS_VERSION, squire-rte $SQUIRE_VERSION, axe-core $AXE_VERSION"
