#!/usr/bin/env bash
# The whole test suite. Installs the third-party software the interop tests
# use (PyJWT, Authlib and schemathesis in tests/interop/.venv; jose,
# openid-client, dpop and playwright-core in tests/interop/node_modules;
# Apache with mod_auth_openidc, Go with x/oauth2, promtool, openssl and
# chromium for the console test from Debian when missing), then runs every
# test. With TOKEND_TEST_DATABASE_URL=postgres://… set, the integration tests
# run a second time against PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")"

debian_packages=(apache2 libapache2-mod-auth-openidc golang-go golang-golang-x-oauth2-dev prometheus openssl curl chromium)
missing=()
for pkg in "${debian_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "the interop tests need Debian packages: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi

interop=tests/interop
if [ ! -x "$interop/.venv/bin/python" ]; then
    python3 -m venv "$interop/.venv"
fi
"$interop/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$interop/requirements.txt"
(cd "$interop" && npm ci --silent --no-audit --no-fund)

echo "== cargo test (SQLite)"
# The interop tests run examples/resource_server: cargo test builds examples
# but does not place them at target/debug/examples/NAME.
cargo build --workspace --examples --all-features --quiet
env -u TOKEND_TEST_DATABASE_URL cargo test --workspace --all-targets --all-features
# --all-targets skips doctests: the library's usage examples must compile too.
cargo test -p tokend-verify --doc --all-features
cargo test -p tokend-client --doc

if [ -n "${TOKEND_TEST_DATABASE_URL:-}" ]; then
    echo "== integration tests on PostgreSQL"
    # Also the tests ignored without PostgreSQL (#[ignore = "needs PostgreSQL…"]).
    cargo test --workspace --all-features --test api -- --include-ignored
fi
