-- wrk script: GET a console page (CONSOLE_PAGE, e.g. /console/clients?q=c9)
-- signed in: the session cookie is an admin token (CONSOLE_TOKEN).
wrk.method = "GET"
wrk.path = os.getenv("CONSOLE_PAGE") or "/console/clients"
wrk.headers["Cookie"] = "tokend_console=" .. (os.getenv("CONSOLE_TOKEN") or "")
done = dofile((os.getenv("BENCH_DIR") or "benches") .. "/report.lua")
