-- wrk script: POST /token with the jwt-bearer grant (RFC 7523 §2.1): a
-- workload token of a trust provider, reused as Kubernetes tokens are.
-- ASSERTION comes from the environment.
wrk.method = "POST"
wrk.body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion="
    .. (os.getenv("ASSERTION") or "")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

done = dofile((os.getenv("BENCH_DIR") or "benches") .. "/report.lua")
