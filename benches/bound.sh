#!/usr/bin/env bash
# Sender-constrained tokens, one run on this machine, one load generator
# (examples/bound_load.rs, 32 keep-alive connections) for every row:
#   - ES256 bearer tokens over HTTP, the baseline;
#   - DPoP-bound tokens over HTTP (a proof per request, signed before the
#     clock starts; tokend verifies it and records its jti once);
#   - bearer tokens over tokend's own TLS, no client certificate;
#   - mTLS: tls_client_auth with a CA-issued certificate, certificate-bound
#     tokens over tokend's TLS;
# then ratios against the baseline of the same run.
#
#   benches/bound.sh [SECONDS]     (default 10; NO_BUILD=1 uses the built binaries)
# Needs openssl (test certificates are made in a temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
PROFILE=${PROFILE:-release}
if [ -n "${NO_BUILD:-}" ]; then
    :   # the binaries already built
elif [ "$PROFILE" = release ]; then
    cargo build --release --quiet --bin tokend --example bound_load
else
    cargo build --quiet --bin tokend --example bound_load
fi
BIN=target/$PROFILE/tokend
LOAD=target/$PROFILE/examples/bound_load
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# A CA, tokend's server certificate, a client certificate with a SPIFFE ID.
(
    cd "$tmp"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench-ca -days 1 \
        -keyout ca.key -out ca.pem -addext basicConstraints=critical,CA:TRUE 2>/dev/null
    for name in server client; do
        if [ $name = server ]; then ext="subjectAltName=IP:127.0.0.1"; else ext="subjectAltName=URI:spiffe://bench/orders
extendedKeyUsage=clientAuth"; fi
        printf '%s\n' "$ext" > $name.ext
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=$name \
            -keyout $name.key -out $name.csr 2>/dev/null
        openssl x509 -req -in $name.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
            -extfile $name.ext -out $name.pem 2>/dev/null
    done
)

export TOKEND_DATABASE_URL="sqlite://$tmp/bench.db" TOKEND_MASTER_KEY_FILE="$tmp/master.key" \
    TOKEND_KEYS__ALGORITHM=ES256
secret=$($BIN client create --name bench --id bench --scope read --json | json_field client_secret)
$BIN client create --name orders --id orders --scope read --auth-method tls_client_auth \
    --tls-san-uri spiffe://bench/orders >/dev/null

# start PORT [TLS]: a tokend with request logging on, as in production.
start() {
    local port=$1
    if [ "${2:-}" = tls ]; then
        TOKEND_LISTEN=127.0.0.1:$port TOKEND_TLS__CERT_FILE=$tmp/server.pem TOKEND_TLS__KEY_FILE=$tmp/server.key \
            TOKEND_TLS__CLIENT_CA_FILE=$tmp/ca.pem $BIN serve 2>>"$tmp/tokend.log" & PID=$!
    else
        TOKEND_LISTEN=127.0.0.1:$port $BIN serve 2>>"$tmp/tokend.log" & PID=$!
    fi
    pids+=("$PID")
    for _ in $(seq 1 200); do curl -skf -o /dev/null "${3:-http}://127.0.0.1:$port/healthz" && return 0; sleep 0.05; done
    echo "tokend did not start"; exit 1
}
declare -A RPS
row() { # NAME VAR=VALUE...
    local name=$1 out
    shift
    out=$(env SECS="$SECS" "$@" "$LOAD")
    RPS[$name]=$(echo "$out" | sed 's/.*rps=\([0-9]*\).*/\1/')
    printf '%-34s %s\n' "$name" "${out#RESULT }"
    case "$out" in *" errors=0"*) ;; *) echo "$name: errors in the run"; exit 1 ;; esac
}
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

echo "machine: $(nproc) cores; bound_load 32 connections, ${SECS}s per row; $PROFILE build"
start 18501
row "ES256 bearer, HTTP" URL=http://127.0.0.1:18501/token MODE=bearer CLIENT_ID=bench CLIENT_SECRET="$secret"
row "ES256 DPoP-bound, HTTP" URL=http://127.0.0.1:18501/token MODE=dpop CLIENT_ID=bench CLIENT_SECRET="$secret"
kill "$PID"; wait "$PID" 2>/dev/null || true
start 18502 tls https
row "ES256 bearer, HTTPS" URL=https://127.0.0.1:18502/token MODE=bearer CA=$tmp/ca.pem CLIENT_ID=bench CLIENT_SECRET="$secret"
row "ES256 mTLS-bound (tls_client_auth)" URL=https://127.0.0.1:18502/token MODE=mtls CA=$tmp/ca.pem \
    CERT=$tmp/client.pem KEY=$tmp/client.key CLIENT_ID=orders
kill "$PID"; wait "$PID" 2>/dev/null || true
echo "DPoP-bound / bearer (HTTP):     $(ratio "${RPS[ES256 DPoP-bound, HTTP]}" "${RPS[ES256 bearer, HTTP]}")"
echo "mTLS-bound / bearer over HTTPS: $(ratio "${RPS[ES256 mTLS-bound (tls_client_auth)]}" "${RPS[ES256 bearer, HTTPS]}")"
echo "mTLS-bound / bearer over HTTP:  $(ratio "${RPS[ES256 mTLS-bound (tls_client_auth)]}" "${RPS[ES256 bearer, HTTP]}")"
