#!/usr/bin/env bash
# The whole test suite. Installs the third-party verifiers the interop tests
# use (PyJWT in tests/interop/.venv, jose in tests/interop/node_modules), then
# runs every test. With TOKEND_TEST_DATABASE_URL=postgres://… set, the
# integration tests run a second time against PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")"

interop=tests/interop
if [ ! -x "$interop/.venv/bin/python" ]; then
    python3 -m venv "$interop/.venv"
fi
"$interop/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$interop/requirements.txt"
(cd "$interop" && npm ci --silent --no-audit --no-fund)

echo "== cargo test (SQLite)"
env -u TOKEND_TEST_DATABASE_URL cargo test --workspace --all-targets --all-features
# --all-targets skips doctests: the library's usage examples must compile too.
cargo test -p tokend-verify --doc --all-features

if [ -n "${TOKEND_TEST_DATABASE_URL:-}" ]; then
    echo "== integration tests on PostgreSQL"
    cargo test --test api
fi
