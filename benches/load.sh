#!/usr/bin/env bash
# Load benchmark: tokend's token endpoint (RS256, ES256, EdDSA) against
# node-oidc-provider (one process and a two-worker cluster) and a bare
# actix-web handler (the ceiling), in one run on this machine, with wrk.
#
#   benches/load.sh [SECONDS] [CONNECTIONS]      (defaults: 10 s, 32)
#   QUICK=1 benches/load.sh 1 4                  (CI: checks the script works)
#
# Needs wrk (apt-get install wrk) and, for the peer, Node.js (npm installs
# oidc-provider into benches/peers). Prints one row per target and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-32}
THREADS=2
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 2; }
cargo build --release --quiet --bin tokend --example ceiling
BIN=target/release/tokend
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "no answer from $1"; exit 1; }
rss_kb() { ps -o rss= -p "$1" | tr -d ' '; }

declare -A RPS
run_wrk() { # name url secret pid
    local out
    out=$(CLIENT_ID=bench CLIENT_SECRET="$3" wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" -s benches/token.lua "$2" | grep RESULT)
    local rps=${out#*rps=}; rps=${rps%% *}
    RPS[$1]=$rps
    printf '%-28s %s rss_kb=%s\n' "$1" "${out#RESULT }" "$(rss_kb "$4")"
}

echo "machine: $(nproc) cores, $(uname -m); wrk -t$THREADS -c$CONNS -d${SECS}s"
for alg in RS256 ES256 EdDSA; do
    port=$(free_port)
    export TOKEND_DATABASE_URL="sqlite://$tmp/$alg.db" TOKEND_MASTER_KEY_FILE="$tmp/$alg.key" \
        TOKEND_KEYS__ALGORITHM=$alg TOKEND_LISTEN=127.0.0.1:$port RUST_LOG=warn
    secret=$($BIN client create --name bench --id bench --scope read --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
    $BIN serve 2>"$tmp/$alg.log" & pid=$!; pids+=("$pid")
    wait_http "http://127.0.0.1:$port/healthz"
    echo "tokend $alg idle rss_kb=$(rss_kb "$pid")"
    run_wrk "tokend $alg" "http://127.0.0.1:$port/token" "$secret" "$pid"
    if [ "$alg" = ES256 ]; then
        token=$(curl -s -u "bench:$secret" -d grant_type=client_credentials "http://127.0.0.1:$port/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
        out=$(TOKEN=$token CLIENT_ID=bench CLIENT_SECRET=$secret wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" -s benches/introspect.lua "http://127.0.0.1:$port/introspect" | grep RESULT)
        printf '%-28s %s\n' "tokend introspect ES256" "${out#RESULT }"
        out=$(wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" -s benches/jwks.lua "http://127.0.0.1:$port/.well-known/jwks.json" | grep RESULT)
        printf '%-28s %s\n' "tokend JWKS" "${out#RESULT }"
    fi
    kill "$pid"; wait "$pid" 2>/dev/null || true
done
unset TOKEND_DATABASE_URL TOKEND_MASTER_KEY_FILE TOKEND_KEYS__ALGORITHM TOKEND_LISTEN

port=$(free_port)
LISTEN=127.0.0.1:$port target/release/examples/ceiling & pid=$!; pids+=("$pid")
wait_http "http://127.0.0.1:$port/token"
run_wrk "ceiling (bare actix-web)" "http://127.0.0.1:$port/token" "x" "$pid"
kill "$pid"

if command -v node >/dev/null && (cd benches/peers && npm install --silent --no-audit --no-fund >/dev/null 2>&1); then
    peer_secret=bench-secret-bench-secret-bench-secret-00
    for workers in 1 2; do
        for alg in ES256 RS256; do
            port=$(free_port)
            (cd benches/peers && PORT=$port ALG=$alg WORKERS=$workers CLIENT_SECRET=$peer_secret exec node oidc-provider.mjs 2>/dev/null) & pid=$!; pids+=("$pid")
            wait_http "http://127.0.0.1:$port/.well-known/openid-configuration"
            run_wrk "oidc-provider $alg x$workers" "http://127.0.0.1:$port/token" "$peer_secret" "$pid"
            pkill -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
        done
    done
    ratio() { python3 -c "print(f'{$1/$2:.1f}x')"; }
    echo "tokend ES256 / oidc-provider ES256 x2: $(ratio "${RPS[tokend ES256]}" "${RPS[oidc-provider ES256 x2]}")"
    echo "tokend RS256 / oidc-provider RS256 x2: $(ratio "${RPS[tokend RS256]}" "${RPS[oidc-provider RS256 x2]}")"
else
    echo "node-oidc-provider skipped (no Node.js or npm install failed)"
fi
ceiling=${RPS[ceiling (bare actix-web)]}
for alg in RS256 ES256 EdDSA; do
    python3 -c "print(f'tokend $alg / ceiling: {${RPS[tokend $alg]}/$ceiling:.2f}')"
done
