#!/usr/bin/env bash
# Instructions per token request, tokend beside its signing ceiling
# (examples/ceiling.rs with ALG), counted by valgrind's callgrind: the same
# number for the same binaries and requests whatever else the machine is
# doing, so a change to the token path shows as a count, not as a throughput
# figure within this machine's noise. Only user-space instructions are
# counted (no kernel, no cache misses): a ratio of counts is not a ratio of
# throughput, it tells what tokend executes beyond the ceiling.
#
#   benches/instructions.sh [REQUESTS] [ALG...]   (defaults: 400, ES256 EdDSA RS256)
#   PROFILE=debug benches/instructions.sh 20 ES256   (CI: checks the script works)
#
# Each server gets 50 warm-up requests on one keep-alive connection, then
# REQUESTS counted ones; the background work of those seconds (change feed,
# quota sync) is counted too and is a few hundred instructions a request.
# Needs valgrind (on every machine kind here; apt-get install valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${1:-400}
shift || true
ALGS=("$@")
[ ${#ALGS[@]} -gt 0 ] || ALGS=(ES256 EdDSA RS256)
PROFILE=${PROFILE:-release}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 2; }
if [ "$PROFILE" = release ]; then
    cargo build --release --quiet --bin tokend --example ceiling
else
    cargo build --quiet --bin tokend --example ceiling
fi
BIN=target/$PROFILE/tokend
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
[ -z "${KEEP:-}" ] || trap - EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# count NAME PORT PID SECRET: warm up, count REQUESTS requests, print Ir/request.
count() {
    local name=$1 port=$2 pid=$3 secret=$4 out total
    out="$tmp/$name.callgrind"
    python3 - "$port" "$pid" "$secret" "$REQUESTS" <<'PY'
import base64, http.client, subprocess, sys, time
port, pid, secret, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
deadline = time.monotonic() + 120
while True:  # under valgrind a server takes seconds to start
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
        c.request("GET", "/healthz")
        c.getresponse().read()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"no answer on port {port}")
        time.sleep(0.2)
auth = "Basic " + base64.b64encode(f"bench:{secret}".encode()).decode()
headers = {"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"}
def token():
    c.request("POST", "/token", "grant_type=client_credentials&scope=read", headers)
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"token request answered {r.status}")
for _ in range(50):
    token()
subprocess.run(["callgrind_control", "--instr=on", pid], check=True, capture_output=True)
for _ in range(n):
    token()
subprocess.run(["callgrind_control", "--instr=off", pid], check=True, capture_output=True)
subprocess.run(["callgrind_control", "--dump", pid], check=True, capture_output=True)
PY
    # The dump made above; the one valgrind writes at exit counts nothing.
    total=$(cat "$out".* | awk '/^totals:/ {s += $2} END {print s + 0}')
    kill "$pid"
    echo $(( total / REQUESTS ))
}

echo "machine: $(nproc) cores, $(uname -m); $REQUESTS requests per server; $PROFILE build; user-space instructions per token request"
for alg in "${ALGS[@]}"; do
    # Request logging on (info, one line per request), as in production.
    export TOKEND_DATABASE_URL="sqlite://$tmp/$alg.db" TOKEND_MASTER_KEY_FILE="$tmp/$alg.key" \
        TOKEND_KEYS__ALGORITHM=$alg
    unset RUST_LOG
    secret=$($BIN client create --name bench --id bench --scope read --json |
        python3 -c "import json,sys; print(json.load(sys.stdin)['client_secret'])")
    port=$(free_port)
    TOKEND_LISTEN=127.0.0.1:$port valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$tmp/tokend-$alg.callgrind" $BIN serve 2>>"$tmp/tokend.log" & pid=$!; pids+=("$pid")
    tokend=$(count "tokend-$alg" "$port" "$pid" "$secret")
    port=$(free_port)
    ALG=$alg CLIENT_SECRET=ceiling-secret LISTEN=127.0.0.1:$port valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$tmp/ceiling-$alg.callgrind" target/$PROFILE/examples/ceiling 2>>"$tmp/ceiling.log" & pid=$!; pids+=("$pid")
    ceiling=$(count "ceiling-$alg" "$port" "$pid" ceiling-secret)
    python3 -c "
t, c = $tokend, $ceiling
print(f'$alg: tokend {t:,} ceiling {c:,}  ceiling/tokend {c / t:.3f}  tokend beyond the ceiling {t - c:,}')"
done
