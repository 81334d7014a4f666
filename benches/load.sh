#!/usr/bin/env bash
# Load benchmark, one run on this machine, with wrk:
#   - tokend's token endpoint (RS256, ES256, EdDSA), introspection, JWKS;
#   - the RSA-2048 two-core signing limit (examples/rsa_limit.rs);
#   - unknown ids against wrong secrets (medians side by side), from 100,000
#     forwarded addresses, and the memory after that flood;
#   - scale: 10 clients, then the same 10 among 1,000,000 registered clients
#     (all held in memory: start time and memory per client); the console's
#     clients list, a later page and a search, at both sizes;
#   - node-oidc-provider (one process and a two-worker cluster);
#   - a bare actix-web handler (the ceiling, examples/ceiling.rs), and the
#     signing ceilings (the same parse and secret check, then a fresh JWS);
# then ratios.
#
#   benches/load.sh [SECONDS] [CONNECTIONS]      (defaults: 10 s, 32)
#   QUICK=1 PROFILE=debug benches/load.sh 1 4    (CI: checks the script works)
#
# QUICK=1 fills 10,000 clients instead of 1,000,000; PROFILE=debug uses the
# test build instead of building the release one (LTO takes minutes).
# Needs wrk (apt-get install wrk) and, for the peer, Node.js (npm installs
# oidc-provider into benches/peers).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
CONNS=${2:-32}
THREADS=2
PROFILE=${PROFILE:-release}
FILL=$([ -n "${QUICK:-}" ] && echo 10000 || echo 1000000)
FLOOD=$([ -n "${QUICK:-}" ] && echo 10000 || echo 100000)
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 2; }
if [ "$PROFILE" = release ]; then
    cargo build --release --quiet --bin tokend --example ceiling --example rsa_limit
else
    cargo build --quiet --bin tokend --example ceiling --example rsa_limit
fi
BIN=target/$PROFILE/tokend
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "no answer from $1"; exit 1; }
rss_kb() { ps -o rss= -p "$1" | tr -d ' '; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

declare -A RPS
# wrk_row NAME URL SCRIPT PID [VAR=VALUE...]: one wrk run, one printed row.
wrk_row() {
    local name=$1 url=$2 script=$3 pid=$4 out rps
    shift 4
    # A 10 s timeout (wrk's default is 2 s): the console's search among a
    # million clients queues past 2 s at 32 connections, a slow answer and
    # not an error.
    out=$(env "$@" wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --timeout 10s -s "benches/$script" "$url" | grep RESULT)
    rps=${out#*rps=}; rps=${rps%% *}
    RPS[$name]=$rps
    case "$out" in *" errors=0"*) ;; *) echo "$name: errors in the run: $out"; FAILED=1 ;; esac
    printf '%-30s %s rss_kb=%s\n' "$name" "${out#RESULT }" "$(rss_kb "$pid")"
}
FAILED=0
# wrk_fail_row NAME URL SCRIPT PID [VAR=VALUE...]: a run whose every answer
# is a 401, on one connection, so its median is the service time (a timing
# oracle is about service time, not about queueing under saturation).
wrk_fail_row() {
    local name=$1 url=$2 script=$3 pid=$4 out
    shift 4
    out=$(env "$@" wrk -t1 -c1 -d"${SECS}s" -s "benches/$script" "$url" | grep RESULT)
    P50[$name]=$(echo "$out" | sed 's/.*p50_ms=\([0-9.]*\).*/\1/')
    printf '%-30s %s rss_kb=%s\n' "$name" "${out#RESULT }" "$(rss_kb "$pid")"
}
declare -A P50

# start_tokend ALG DB: a tokend on a free port; sets PORT and PID.
start_tokend() {
    PORT=$(free_port)
    TOKEND_LISTEN=127.0.0.1:$PORT $BIN serve 2>>"$tmp/tokend.log" & PID=$!; pids+=("$PID")
    wait_http "http://127.0.0.1:$PORT/healthz"
}
use_db() { # NAME ALG
    export TOKEND_DATABASE_URL="sqlite://$tmp/$1.db" TOKEND_MASTER_KEY_FILE="$tmp/$1.key" \
        TOKEND_KEYS__ALGORITHM=$2
    # Request logging on (info, one line per request), as in production.
    unset RUST_LOG
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }

# The RSA-2048 two-core signing limit, measured right before and right after
# tokend's RS256 run (this machine's speed drifts): their mean is the limit.
rsa_limit() {
    local out
    out=$(SECS=$SECS target/$PROFILE/examples/rsa_limit)
    out=${out#*sigs_per_s=}; echo "${out%% *}"
}

echo "machine: $(nproc) cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); wrk -t$THREADS -c$CONNS -d${SECS}s; $PROFILE build"
for alg in RS256 ES256 EdDSA; do
    use_db "$alg" "$alg"
    secret=$($BIN client create --name bench --id bench --scope read --json | json_field client_secret)
    start_tokend
    echo "tokend $alg idle rss_kb=$(rss_kb "$PID")"
    if [ "$alg" = RS256 ]; then before=$(rsa_limit); fi
    wrk_row "tokend $alg" "http://127.0.0.1:$PORT/token" token.lua "$PID" CLIENT_ID=bench CLIENT_SECRET="$secret"
    if [ "$alg" = RS256 ]; then
        after=$(rsa_limit)
        RSA_LIMIT=$(( (before + after) / 2 ))
        printf '%-30s sigs_per_s=%s (before %s, after %s)\n' "RSA-2048 signing limit" "$RSA_LIMIT" "$before" "$after"
    fi
    if [ "$alg" = ES256 ]; then
        token=$(curl -s -u "bench:$secret" -d grant_type=client_credentials "http://127.0.0.1:$PORT/token" | json_field access_token)
        wrk_row "tokend introspect ES256" "http://127.0.0.1:$PORT/introspect" introspect.lua "$PID" \
            TOKEN="$token" CLIENT_ID=bench CLIENT_SECRET="$secret"
        wrk_row "tokend JWKS" "http://127.0.0.1:$PORT/.well-known/jwks.json" jwks.lua "$PID"
        # Federation: a second tokend (ES256) is the workload's issuer; its
        # token is the grant, reused per request as a Kubernetes token is.
        a_port=$PORT a_pid=$PID
        use_db issuer ES256
        $BIN client create --name workload --id workload --audience "http://127.0.0.1:$a_port" --json >"$tmp/workload.json"
        start_tokend
        b_port=$PORT b_pid=$PID
        workload_secret=$(json_field client_secret <"$tmp/workload.json")
        assertion=$(curl -s -u "workload:$workload_secret" -d grant_type=client_credentials "http://127.0.0.1:$b_port/token" | json_field access_token)
        use_db ES256 ES256
        $BIN trust add issuer --issuer "http://127.0.0.1:$b_port" --discovery --allow-http >/dev/null
        $BIN client create --name fed --id fed --auth-method federated --scope read >/dev/null
        $BIN client bind fed --provider issuer --subject workload >/dev/null
        PORT=$a_port PID=$a_pid
        for _ in $(seq 1 100); do
            code=$(curl -s -o /dev/null -w '%{http_code}' -d "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=$assertion" "http://127.0.0.1:$PORT/token")
            [ "$code" = 200 ] && break; sleep 0.05
        done
        [ "$code" = 200 ] || { echo "the federated client never got a token ($code)"; exit 1; }
        wrk_row "tokend ES256 federated" "http://127.0.0.1:$PORT/token" federated.lua "$PID" ASSERTION="$assertion"
        stop "$b_pid"
        stop "$PID"
        # Unknown ids and wrong secrets, each from one of 100,000 forwarded
        # addresses: the same answer in the same time, memory bounded.
        TOKEND_HTTP__TRUSTED_PROXIES=127.0.0.1 start_tokend
        # Three alternating pairs (this machine drifts): the ratio is of the
        # mean medians.
        for round in 1 2 3; do
            wrk_fail_row "401 wrong secret #$round" "http://127.0.0.1:$PORT/token" auth_failures.lua "$PID" MODE=wrong CLIENT_ID=bench N=$FLOOD
            wrk_fail_row "401 unknown id #$round" "http://127.0.0.1:$PORT/token" auth_failures.lua "$PID" MODE=unknown N=$FLOOD
        done
        echo "after $FLOOD distinct addresses with $FLOOD distinct ids and $FLOOD (bench, address) pairs: rss_kb=$(rss_kb "$PID")"
    fi
    stop "$PID"
done


# Scale: the same ten clients, first alone, then among FILL filler clients.
use_db scale ES256
clients=""
for i in 0 1 2 3 4 5 6 7 8 9; do
    secret=$($BIN client create --name "c$i" --id "c$i" --scope read --json | json_field client_secret)
    clients+="c$i:$secret,"
done
ops_secret=$($BIN client create --name ops --id ops --scope tokend:admin --json | json_field client_secret)
# console_rows LABEL: the console's clients list (first page, a page further
# on, a search matching one client), signed in as an admin.
console_rows() {
    local token
    token=$(curl -s -u "ops:$ops_secret" -d grant_type=client_credentials -d scope=tokend:admin "http://127.0.0.1:$PORT/token" | json_field access_token)
    wrk_row "console list: $1" "http://127.0.0.1:$PORT/console/clients" console.lua "$PID" CONSOLE_TOKEN="$token"
    wrk_row "console page 2: $1" "http://127.0.0.1:$PORT/console/clients" console.lua "$PID" CONSOLE_TOKEN="$token" CONSOLE_PAGE="/console/clients?after=c4"
    wrk_row "console search: $1" "http://127.0.0.1:$PORT/console/clients" console.lua "$PID" CONSOLE_TOKEN="$token" CONSOLE_PAGE="/console/clients?q=C9"
}
start_tokend
rss_small=$(rss_kb "$PID")
wrk_row "scale: 10 clients" "http://127.0.0.1:$PORT/token" clients.lua "$PID" CLIENTS="$clients"
console_rows "11 clients"
stop "$PID"
total=$(python3 benches/fill_clients.py "$tmp/scale.db" c0 "$FILL")
started=$(date +%s.%N)
start_tokend
loaded=$(date +%s.%N)
rss_large=$(rss_kb "$PID")
echo "start with $total clients in memory: $(python3 -c "print(f'{$loaded-$started:.2f}')") s, idle rss_kb=$rss_large (10 clients: $rss_small)"
echo "memory per registered client: $(( (rss_large - rss_small) * 1024 / (total - 10) )) bytes"
wrk_row "scale: $total clients" "http://127.0.0.1:$PORT/token" clients.lua "$PID" CLIENTS="$clients"
console_rows "$total clients"
stop "$PID"
unset TOKEND_DATABASE_URL TOKEND_MASTER_KEY_FILE TOKEND_KEYS__ALGORITHM

port=$(free_port)
LISTEN=127.0.0.1:$port target/$PROFILE/examples/ceiling & pid=$!; pids+=("$pid")
wait_http "http://127.0.0.1:$port/token"
wrk_row "ceiling (bare actix-web)" "http://127.0.0.1:$port/token" token.lua "$pid" CLIENT_SECRET=x
stop "$pid"
# The signing ceilings: parse, secret check, a fresh JWS, nothing else.
for alg in ES256 EdDSA RS256; do
    port=$(free_port)
    ALG=$alg CLIENT_SECRET=ceiling-secret LISTEN=127.0.0.1:$port target/$PROFILE/examples/ceiling & pid=$!; pids+=("$pid")
    wait_http "http://127.0.0.1:$port/token"
    wrk_row "ceiling $alg (signing)" "http://127.0.0.1:$port/token" token.lua "$pid" CLIENT_ID=bench CLIENT_SECRET=ceiling-secret
    stop "$pid"
done

ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }
if command -v node >/dev/null && (cd benches/peers && npm install --silent --no-audit --no-fund >/dev/null 2>&1); then
    peer_secret=bench-secret-bench-secret-bench-secret-00
    for workers in 1 2; do
        for alg in ES256 RS256; do
            port=$(free_port)
            (cd benches/peers && PORT=$port ALG=$alg WORKERS=$workers CLIENT_SECRET=$peer_secret exec node oidc-provider.mjs 2>/dev/null) & pid=$!; pids+=("$pid")
            wait_http "http://127.0.0.1:$port/.well-known/openid-configuration"
            wrk_row "oidc-provider $alg x$workers" "http://127.0.0.1:$port/token" token.lua "$pid" \
                CLIENT_ID=bench CLIENT_SECRET=$peer_secret
            pkill -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
        done
    done
    echo "tokend ES256 / oidc-provider ES256 x2: $(ratio "${RPS[tokend ES256]}" "${RPS[oidc-provider ES256 x2]}")x"
    echo "tokend RS256 / oidc-provider RS256 x2: $(ratio "${RPS[tokend RS256]}" "${RPS[oidc-provider RS256 x2]}")x"
else
    echo "node-oidc-provider skipped (no Node.js or npm install failed)"
fi
ceiling=${RPS[ceiling (bare actix-web)]}
for alg in RS256 ES256 EdDSA; do
    echo "tokend $alg / ceiling: $(ratio "${RPS[tokend $alg]}" "$ceiling")"
    echo "tokend $alg / signing ceiling $alg: $(ratio "${RPS[tokend $alg]}" "${RPS[ceiling $alg (signing)]}")"
done
echo "tokend ES256 federated (one foreign ES256 verify more) / tokend ES256 secret: $(ratio "${RPS[tokend ES256 federated]}" "${RPS[tokend ES256]}")"
echo "tokend RS256 / RSA-2048 two-core signing limit: $(ratio "${RPS[tokend RS256]}" "$RSA_LIMIT")"
echo "scale: $total clients / 10 clients: $(ratio "${RPS[scale: $total clients]}" "${RPS[scale: 10 clients]}")"
for page in list "page 2" search; do
    echo "console $page: $total clients / 11 clients: $(ratio "${RPS[console $page: $total clients]}" "${RPS[console $page: 11 clients]}")"
done
mean_p50() { python3 -c "print(sum(float(x) for x in '$1'.split()) / len('$1'.split()))"; }
unknown_p50=$(mean_p50 "${P50[401 unknown id #1]} ${P50[401 unknown id #2]} ${P50[401 unknown id #3]}")
wrong_p50=$(mean_p50 "${P50[401 wrong secret #1]} ${P50[401 wrong secret #2]} ${P50[401 wrong secret #3]}")
echo "median 401 (mean of 3 runs), unknown id ${unknown_p50} ms / wrong secret ${wrong_p50} ms: $(ratio "$unknown_p50" "$wrong_p50")"
exit $FAILED
