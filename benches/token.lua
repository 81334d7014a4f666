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
done = dofile((os.getenv("BENCH_DIR") or "benches") .. "/report.lua")

