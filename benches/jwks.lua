-- wrk script: GET /.well-known/jwks.json.
done = dofile((os.getenv("BENCH_DIR") or "benches") .. "/report.lua")

