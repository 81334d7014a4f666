-- wrk script for benches/quota.sh: POST /token with client_secret_basic;
-- the RESULT line counts the requests, the 2xx answers (tokens issued) and
-- every other status by code (e.g. "429:711"), so a shortfall says why.
local id = os.getenv("CLIENT_ID") or "bench"
local secret = os.getenv("CLIENT_SECRET") or ""
local base64 = dofile((os.getenv("BENCH_DIR") or "benches") .. "/base64.lua")

wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. base64(id .. ":" .. secret)

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

statuses = {}
function response(status, headers, body)
  if status >= 300 then
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local ok = summary.requests - summary.errors.status
  local others = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      others[status] = (others[status] or 0) + n
    end
  end
  local codes = {}
  for status, n in pairs(others) do
    table.insert(codes, string.format("%d:%d", status, n))
  end
  table.sort(codes)
  io.write(string.format("RESULT requests=%d issued=%d per_s=%.0f other=%s\n",
    summary.requests, ok, ok / (summary.duration / 1e6),
    #codes > 0 and table.concat(codes, ",") or "none"))
end
