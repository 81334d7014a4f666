-- wrk script: failed client authentications, each from its own forwarded
-- address (tokend trusts 127.0.0.1 as a proxy in this run), so the failure
-- limiter counts them but does not answer 429:
--   MODE=unknown  a different unknown client id per request
--   MODE=wrong    the registered CLIENT_ID with a wrong secret
-- N (default 100000) distinct addresses and ids, pre-built in init().
local b64 = dofile((os.getenv("BENCH_DIR") or "benches") .. "/base64.lua")
local mode = os.getenv("MODE") or "unknown"
local id = os.getenv("CLIENT_ID") or "bench"
local count = tonumber(os.getenv("N") or "100000")
local requests = {}

function init(args)
  -- Each wrk thread gets its own address range.
  local offset = (tonumber(args[1]) or 0) * count
  for i = 1, count do
    local n = offset + i
    local who = mode == "unknown" and string.format("ghost-%08d", n) or id
    local address = string.format("10.%d.%d.%d", math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
    requests[i] = wrk.format("POST", nil, {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = "Basic " .. b64(who .. ":not-the-secret-of-anyone-0000000000000"),
      ["X-Forwarded-For"] = address,
    }, "grant_type=client_credentials")
  end
end

local i = 0
function request()
  i = i % count + 1
  return requests[i]
end

done = dofile((os.getenv("BENCH_DIR") or "benches") .. "/report.lua")
