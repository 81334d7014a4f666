-- wrk script: POST /token round-robin over several clients (client_secret_basic).
-- CLIENTS is "id:secret,id:secret,..." from the environment. Requests are
-- pre-built in init(), so the per-request Lua cost is one table lookup.
local b64 = dofile((os.getenv("BENCH_DIR") or "benches") .. "/base64.lua")
local requests, n = {}, 0

function init(args)
  for pair in string.gmatch(os.getenv("CLIENTS") or "", "[^,]+") do
    n = n + 1
    requests[n] = wrk.format("POST", nil, {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = "Basic " .. b64(pair),
    }, "grant_type=client_credentials")
  end
end

local i = 0
function request()
  i = i % n + 1
  return requests[i]
end

function done(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status))
end
