#!/usr/bin/env bash
# Installs what the tests need (Debian packages, a virtualenv with the dev extra)
# and runs the whole test suite. Used by README's Quick start and by .ci/run.
#
# PostgreSQL and Redis are used when CLOUDEXPO_TEST_POSTGRES_URL and
# CLOUDEXPO_TEST_REDIS_URL are set (CI=true requires them). Extra arguments go
# to pytest, e.g. `bash scripts/test.sh -k bus`.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v pdftoppm >/dev/null 2>&1 || need_apt+=(poppler-utils)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need_apt+=(fonts-noto-cjk)
# Reaction buttons and bursts in the browser tests' screenshots are emoji.
dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || need_apt+=(fonts-noto-color-emoji)
command -v turnserver >/dev/null 2>&1 || need_apt+=(coturn)
# The reliability drills (tests/test_drills.py) run a private PostgreSQL and Redis of their own.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need_apt+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
# The egress test's third-party WHIP server (tests/janus_support.py): Janus in a network namespace.
command -v janus >/dev/null 2>&1 || need_apt+=(janus)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "Installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

bash scripts/whip-server.sh || echo "simple-whip-server could not be prepared: the Janus egress test will say so"

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

export CLOUDEXPO_TEST_ARTIFACTS="${CLOUDEXPO_TEST_ARTIFACTS:-$PWD/test-artifacts}"
mkdir -p "$CLOUDEXPO_TEST_ARTIFACTS"
echo "PostgreSQL for tests: ${CLOUDEXPO_TEST_POSTGRES_URL:-(not set: SQLite only)}"
echo "Redis for tests:      ${CLOUDEXPO_TEST_REDIS_URL:-(not set: in-process bus only)}"

set +e
# Two pytest-xdist workers (CLOUDEXPO_TEST_WORKERS; 0 runs everything in one process): the tests marked
# browser or media all go to one of them, one after another, and the rest share both
# (tests/heavy_in_one_worker.py), so Chromium and real-media tests never starve each other. The slowest 25
# say where the run's time goes.
.venv/bin/python -m pytest -p no:cacheprovider -ra --durations=25 \
  -n "${CLOUDEXPO_TEST_WORKERS:-2}" "$@"
status=$?
set -e
if [ "$status" = 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$status"
