-- wrk script for benches/quota.sh: POST /token with client_secret_basic;
-- the RESULT line counts the requests and the 2xx answers (tokens issued).
local id = os.getenv("CLIENT_ID") or "bench"
local secret = os.getenv("CLIENT_SECRET") or ""
local base64 = dofile((os.getenv("BENCH_DIR") or "benches") .. "/base64.lua")

wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. base64(id .. ":" .. secret)

function done(summary, latency, requests)
  local ok = summary.requests - summary.errors.status
  io.write(string.format("RESULT requests=%d issued=%d per_s=%.0f\n",
    summary.requests, ok, ok / (summary.duration / 1e6)))
end
