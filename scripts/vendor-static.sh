#!/usr/bin/env bash
# Refresh the vendored front-end libraries from the npm registry (pinned versions).
# Usage: scripts/vendor-static.sh   (then review and commit static/vendor/)
set -euo pipefail
HTMX_VERSION=2.0.8
BOOTSTRAP_VERSION=5.3.8
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/static/vendor"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "htmx.org@$HTMX_VERSION" "bootstrap@$BOOTSTRAP_VERSION" >/dev/null
mkdir -p htmx bootstrap "$dest"
tar -xzf "htmx.org-$HTMX_VERSION.tgz" -C htmx
tar -xzf "bootstrap-$BOOTSTRAP_VERSION.tgz" -C bootstrap
cp htmx/package/dist/htmx.min.js "$dest/htmx.min.js"
cp bootstrap/package/dist/css/bootstrap.min.css "$dest/bootstrap.min.css"
cp bootstrap/package/dist/js/bootstrap.bundle.min.js "$dest/bootstrap.bundle.min.js"
# Source maps are referenced by the minified files; strip the references so the
# browser does not request files we do not ship.
sed -i '/sourceMappingURL/d' "$dest/bootstrap.min.css" "$dest/bootstrap.bundle.min.js"
cat > "$dest/VERSIONS" <<TXT
htmx.org $HTMX_VERSION
bootstrap $BOOTSTRAP_VERSION
TXT
echo "vendored htmx $HTMX_VERSION and bootstrap $BOOTSTRAP_VERSION into $dest"
