-- wrk script: POST /introspect of one valid token with client_secret_basic.
-- CLIENT_ID, CLIENT_SECRET and TOKEN come from the environment.
local id = os.getenv("CLIENT_ID") or "bench"
local secret = os.getenv("CLIENT_SECRET") or ""
local token = os.getenv("TOKEN") or ""
local b64 = dofile((os.getenv("BENCH_DIR") or "benches") .. "/base64.lua")

wrk.method = "POST"
wrk.body = "token=" .. token
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. b64(id .. ":" .. secret)

done = dofile((os.getenv("BENCH_DIR") or "benches") .. "/report.lua")

