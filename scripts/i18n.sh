#!/usr/bin/env bash
# Translation catalogue upkeep. Source strings are English; Spanish (es) is the default UI language.
#   scripts/i18n.sh update    extract every string and merge new ones into the catalogues
#   scripts/i18n.sh compile   compile .po into the .mo files the app loads (commit both)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=aggregator/translations
case "${1:-}" in
  update)
    pybabel extract -F babel.cfg -k _l -k lazy_gettext -k _pl:1c,2 -k lazy_pgettext:1c,2 --no-wrap --sort-by-file \
      --project=aggregator --copyright-holder=Coberta -o "$dir/messages.pot" .
    for lang in es; do
      if [ -f "$dir/$lang/LC_MESSAGES/messages.po" ]; then
        pybabel update -i "$dir/messages.pot" -d "$dir" -l "$lang" --no-wrap --ignore-obsolete
      else
        pybabel init -i "$dir/messages.pot" -d "$dir" -l "$lang" --no-wrap
      fi
    done
    ;;
  compile)
    pybabel compile -d "$dir" --statistics
    ;;
  *)
    echo "usage: $0 update|compile" >&2
    exit 2
    ;;
esac
