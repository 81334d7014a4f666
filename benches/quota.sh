#!/usr/bin/env bash
# Per-client quotas under load (SPEC §11), one run on this machine, wrk:
#   1. the cost: one tokend (ES256, request logging on), an unlimited client
#      and a client with a quota it never reaches, alternating runs; the
#      ratio of their means;
#   2. the overshoot: two replicas on one PostgreSQL database, wrk on both at
#      once inside one quota window, for a client with 1,000/m and one with
#      10,000/m (enforce); tokens issued beyond the quota.
#
#   benches/quota.sh [SECONDS] [ROUNDS]     (defaults: 5 s, 3 rounds)
#   PROFILE=debug benches/quota.sh 1 1      (CI: checks the script works)
#
# Needs wrk (apt-get install wrk), psql, and PostgreSQL at
# TOKEND_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres);
# a database is created for the run and dropped after it.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
ROUNDS=${2:-3}
PROFILE=${PROFILE:-release}
PG=${TOKEND_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 2; }
if [ -n "${NO_BUILD:-}" ]; then
    :
elif [ "$PROFILE" = release ]; then
    cargo build --release --quiet --bin tokend
else
    cargo build --quiet --bin tokend
fi
BIN=target/$PROFILE/tokend
tmp=$(mktemp -d)
db="tokend_quota_bench_$$"
pids=()
cleanup() {
    for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -q "$PG" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    [ -n "${KEEP_LOG:-}" ] && cp "$tmp/tokend.log" /tmp/quota-tokend.log; rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "no answer from $1"; exit 1; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
ratio() { python3 -c "print(f'{$1/$2:.3f}')"; }
mean() { python3 -c "import sys; v=[float(x) for x in sys.argv[1:]]; print(f'{sum(v)/len(v):.0f}')" "$@"; }
# wrk_ok URL ID SECRET: "REQUESTS OK" (OK = 2xx answers).
wrk_ok() {
    local out
    out=$(CLIENT_ID=$2 CLIENT_SECRET=$3 wrk -t2 -c32 -d"${SECS}s" -s benches/quota.lua "$1" | grep RESULT)
    echo "${out#RESULT }"
}
field() { local v=${1#*$2=}; echo "${v%% *}"; }
# start: a tokend on a free port (logging on, as in production); sets URL.
start() {
    local port
    port=$(free_port)
    TOKEND_LISTEN=127.0.0.1:$port $BIN serve 2>>"$tmp/tokend.log" & pids+=("$!")
    URL=http://127.0.0.1:$port
    wait_http "$URL/healthz"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); wrk -t2 -c32 -d${SECS}s; $PROFILE build"

# 1. The cost of a quota, one server.
export TOKEND_DATABASE_URL="sqlite://$tmp/cost.db" TOKEND_MASTER_KEY_FILE="$tmp/cost.key" TOKEND_KEYS__ALGORITHM=ES256
unset RUST_LOG
free_secret=$($BIN client create --name free --id free --scope read --quota none --json | json_field client_secret)
capped_secret=$($BIN client create --name capped --id capped --scope read --quota 100000000/d --json | json_field client_secret)
start
free=() capped=()
for _ in $(seq 1 "$ROUNDS"); do
    free+=("$(field "$(wrk_ok "$URL/token" free "$free_secret")" per_s)")
    capped+=("$(field "$(wrk_ok "$URL/token" capped "$capped_secret")" per_s)")
done
free_mean=$(mean "${free[@]}") capped_mean=$(mean "${capped[@]}")
echo "unlimited client  tokens/s: ${free[*]} (mean $free_mean)"
echo "quota'd client    tokens/s: ${capped[*]} (mean $capped_mean)"
echo "quota'd / unlimited: $(ratio "$capped_mean" "$free_mean")"
kill "${pids[@]}"; wait 2>/dev/null || true; pids=()

# 2. The overshoot, two replicas on PostgreSQL.
psql -q "$PG" -c "CREATE DATABASE $db" >/dev/null
export TOKEND_DATABASE_URL="${PG%/*}/$db" TOKEND_MASTER_KEY_FILE="$tmp/pg.key"
$BIN migrate >/dev/null
declare -A SECRET
for limit in warm 1000 10000; do
    quota=$([ "$limit" = warm ] && echo 1000000/m || echo "$limit/m")
    SECRET[$limit]=$($BIN client create --name "q$limit" --id "q$limit" --scope read --quota "$quota" --json | json_field client_secret)
done
start; one=$URL
start; two=$URL
# Warm: each replica has shared counts once (its database connections are
# open), as replicas that have been running are.
for url in "$one" "$two"; do
    for _ in 1 2 3; do curl -s -o /dev/null -u "qwarm:${SECRET[warm]}" -d grant_type=client_credentials "$url/token"; done
done
sleep 1.5
for limit in 1000 10000; do
    # Inside one minute window: start right after a minute begins when the
    # run would not fit in this one.
    sec=$(date +%-S)
    if [ $((sec + SECS + 2)) -ge 60 ]; then sleep $((61 - sec)); fi
    wrk_ok "$one/token" "q$limit" "${SECRET[$limit]}" >"$tmp/one" &
    a=$!
    wrk_ok "$two/token" "q$limit" "${SECRET[$limit]}" >"$tmp/two" &
    b=$!
    wait $a $b
    ok1=$(field "$(cat "$tmp/one")" issued) ok2=$(field "$(cat "$tmp/two")" issued)
    req=$(( $(field "$(cat "$tmp/one")" requests) + $(field "$(cat "$tmp/two")" requests) ))
    if [ "$req" -lt "$limit" ]; then
        echo "quota $limit/m, 2 replicas: only $req requests in ${SECS}s, the quota was not reached (give more seconds)"
        continue
    fi
    # What was issued is the shared ledger's count, once both replicas have
    # shared their last tokens (about a second): wrk stops with requests in
    # flight, so the 2xx it saw can be fewer than the tokens issued.
    issued=-1
    for _ in $(seq 1 10); do
        sleep 1.2
        now=$(psql -qtA "$TOKEND_DATABASE_URL" -c "SELECT COALESCE(SUM(count), 0) FROM quota_counts WHERE client_id = 'q$limit'")
        [ "$now" = "$issued" ] && break
        issued=$now
    done
    echo "quota $limit/m, 2 replicas, $req requests in ${SECS}s: issued $issued (wrk saw $((ok1 + ok2)) 2xx: $ok1 + $ok2), overshoot $((issued - limit)) ($(python3 -c "print(f'{($issued-$limit)*100/$limit:.1f}')")% of the quota)"
    # Fewer than the quota under a flood means requests were refused early.
    if [ "$issued" -lt "$limit" ]; then
        echo "fewer tokens than the quota were issued (non-2xx answers by status: $(field "$(cat "$tmp/one")" other) and $(field "$(cat "$tmp/two")" other))"
        exit 1
    fi
done
