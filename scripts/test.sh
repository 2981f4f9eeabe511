#!/usr/bin/env bash
# Install what the tests need, then run the whole suite twice:
#   1. on SQLite (always);
#   2. on PostgreSQL + Redis, when both answer (skipped with a message otherwise).
#
# Usage: bash scripts/test.sh [extra pytest arguments, e.g. -k login or tests/e2e]
#
# Environment:
#   AGGREGATOR_TEST_DATABASE_URL  PostgreSQL URL for run 2 (default: postgresql+psycopg://postgres@127.0.0.1:5432/test,
#                                 then the same with the role "root"); its public schema is dropped and recreated.
#   AGGREGATOR_TEST_REDIS_URL     Redis URL for run 2 (default: redis://127.0.0.1:6379/15).
#   AGGREGATOR_TEST_SKIP_INSTALL  set to 1 to skip pip / npm / apt (quicker when nothing changed).
#   AGGREGATOR_TEST_ARTIFACTS     where browser screenshots go (default: test-artifacts/).
#   PYTHON                        the interpreter (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
OIDC_DIR=tests/support/oidc_provider
BROWSER_DIR=tests/support/browser  # axe-core for the accessibility checks of the browser tests
CHROMIUM=/usr/bin/chromium

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
warn() { printf '\033[33mWARNING: %s\033[0m\n' "$*" >&2; }

# --- installs ---------------------------------------------------------------------------------

if [ "${AGGREGATOR_TEST_SKIP_INSTALL:-0}" != 1 ]; then
  say "pip install -e '.[test]'"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check -e '.[test]'

  for npm_dir in "$OIDC_DIR" "$BROWSER_DIR"; do
    say "npm packages in $npm_dir"
    if command -v npm >/dev/null 2>&1; then
      # npm ci wipes node_modules: only when the lock file changed since the last install.
      stamp="$npm_dir/node_modules/.installed-from-lock.sha256"
      want=$(sha256sum "$npm_dir/package-lock.json" | cut -d' ' -f1)
      if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "up to date"
      else
        (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" >"$stamp"
      fi
    else
      warn "npm not found: the OpenID Connect tests and the accessibility checks (axe-core) will be skipped (they need Node.js >= 20 and npm)"
      break
    fi
  done

  say "Chromium for the browser tests"
  if [ -x "$CHROMIUM" ]; then
    echo "found $CHROMIUM"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
  else
    warn "$CHROMIUM is missing: the browser tests (tests/e2e) will be skipped. Install it with: sudo apt-get install chromium"
  fi
fi

# --- runs -------------------------------------------------------------------------------------

declare -a summary=()
failed=0

run_pytest() {
  # run_pytest LABEL [env assignments...] -- [pytest args...]
  local label=$1 rc start
  shift
  local -a envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  say "pytest on $label"
  start=$SECONDS
  set +e
  env -u AGGREGATOR_TEST_DATABASE_URL -u AGGREGATOR_TEST_REDIS_URL "${envs[@]}" \
    "$PYTHON" -m pytest "$@"
  rc=$?
  set -e
  local took=$((SECONDS - start))
  case $rc in
    0) summary+=("$label: passed (${took}s)") ;;
    5) summary+=("$label: FAILED - pytest collected no tests (${took}s)"); failed=1 ;;
    *) summary+=("$label: FAILED - pytest exit code $rc (${took}s)"); failed=1 ;;
  esac
}

run_pytest "SQLite" -- "$@"

# PostgreSQL + Redis: use the given URLs, or find a role that trust auth lets in on 127.0.0.1.
probe=$(
  "$PYTHON" - "${AGGREGATOR_TEST_DATABASE_URL:-}" "${AGGREGATOR_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}" <<'PY' 2>&1
import sys

db_given, redis_url = sys.argv[1], sys.argv[2]
candidates = [db_given] if db_given else [
    "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "postgresql+psycopg://root@127.0.0.1:5432/test",
]
problems = []
try:
    import psycopg
    import redis
except ImportError as exc:
    print(f"SKIP python package missing: {exc.name}")
    sys.exit(0)


def connect(url):
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), connect_timeout=3)


db_url = None
for url in candidates:
    try:
        connect(url).close()
        db_url = url
        break
    except psycopg.OperationalError as exc:
        if 'database "test" does not exist' in str(exc):
            # The server is there but the database is not: create it once.
            try:
                with connect(url.rsplit("/", 1)[0] + "/postgres") as conn:
                    conn.autocommit = True
                    conn.execute("CREATE DATABASE test")
                db_url = url
                break
            except psycopg.Error as create_exc:
                problems.append(f"{url}: {' '.join(str(create_exc).split())}")
        else:
            problems.append(f"{url}: {' '.join(str(exc).split())}")
if db_url is None:
    print("SKIP PostgreSQL not reachable (" + "; ".join(problems) + ")")
    sys.exit(0)
try:
    redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
except redis.RedisError as exc:
    print(f"SKIP Redis not reachable at {redis_url} ({exc})")
    sys.exit(0)
print(f"OK {db_url} {redis_url}")
PY
)
case $probe in
  OK\ *)
    read -r _ pg_url redis_url <<<"$probe"
    run_pytest "PostgreSQL + Redis" \
      "AGGREGATOR_TEST_DATABASE_URL=$pg_url" "AGGREGATOR_TEST_REDIS_URL=$redis_url" -- "$@"
    ;;
  SKIP\ *)
    msg="PostgreSQL + Redis: SKIPPED - ${probe#SKIP }. Start them (see README) or set AGGREGATOR_TEST_DATABASE_URL / AGGREGATOR_TEST_REDIS_URL."
    warn "$msg"
    summary+=("$msg")
    ;;
  *)
    summary+=("PostgreSQL + Redis: FAILED - could not probe the services: $probe")
    failed=1
    ;;
esac

say "summary"
printf '  %s\n' "${summary[@]}"
exit $failed
