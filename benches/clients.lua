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

done = dofile((os.getenv("BENCH_DIR") or "benches") .. "/report.lua")

