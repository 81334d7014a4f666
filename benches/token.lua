-- wrk script: POST /token with client_secret_basic.
-- CLIENT_ID and CLIENT_SECRET come from the environment.
local id = os.getenv("CLIENT_ID") or "bench"
local secret = os.getenv("CLIENT_SECRET") or ""

local base64 = dofile((os.getenv("BENCH_DIR") or "benches") .. "/base64.lua")

wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. base64(id .. ":" .. secret)

-- No response() callback: it runs Lua for every response and takes CPU
-- from the server on the same cores; wrk counts non-2xx/3xx in errors.status.
function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status))
end
