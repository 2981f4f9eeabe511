#!/usr/bin/env bash
# Refresh the vendored front-end libraries from the npm registry (pinned versions).
# Usage: scripts/vendor-static.sh   (then review and commit static/vendor/)
set -euo pipefail
HTMX_VERSION=2.0.8
BOOTSTRAP_VERSION=5.3.8
ICONS_VERSION=1.13.1
# The icons the templates use (templates call icon("name")).
ICONS="shield-check envelope-check envelope-paper key hourglass-split compass arrow-repeat person-vcard shield-lock phone laptop display download trash3 box-arrow-right check-circle-fill exclamation-triangle link-45deg google facebook building bell car-front heart-pulse house-door umbrella file-earmark-pdf file-earmark-text clipboard-pulse search funnel clock-history telephone people person person-plus plus-lg x-lg receipt calendar-event chevron-right arrow-left cloud-slash info-circle unlock lock briefcase cash-coin shield-exclamation exclamation-circle check2 hourglass link phone-vibrate tablet smartwatch controller heart"
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/static/vendor"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
npm pack --silent "htmx.org@$HTMX_VERSION" "bootstrap@$BOOTSTRAP_VERSION" "bootstrap-icons@$ICONS_VERSION" >/dev/null
mkdir -p htmx bootstrap icons "$dest/icons"
tar -xzf "htmx.org-$HTMX_VERSION.tgz" -C htmx
tar -xzf "bootstrap-$BOOTSTRAP_VERSION.tgz" -C bootstrap
tar -xzf "bootstrap-icons-$ICONS_VERSION.tgz" -C icons
for name in $ICONS; do cp "icons/package/icons/$name.svg" "$dest/icons/$name.svg"; done
cp htmx/package/dist/htmx.min.js "$dest/htmx.min.js"
cp bootstrap/package/dist/css/bootstrap.min.css "$dest/bootstrap.min.css"
cp bootstrap/package/dist/js/bootstrap.bundle.min.js "$dest/bootstrap.bundle.min.js"
# Source maps are referenced by the minified files; strip the references so the
# browser does not request files we do not ship.
sed -i '/sourceMappingURL/d' "$dest/bootstrap.min.css" "$dest/bootstrap.bundle.min.js"
cat > "$dest/VERSIONS" <<TXT
htmx.org $HTMX_VERSION
bootstrap $BOOTSTRAP_VERSION
bootstrap-icons $ICONS_VERSION (selected icons)
TXT
echo "vendored htmx $HTMX_VERSION and bootstrap $BOOTSTRAP_VERSION into $dest"
