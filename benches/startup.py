#!/usr/bin/env python3
"""Time from `cargo run --release -- serve` (already built) to the first 200
from POST /token, on an existing database, and the size of a token.

usage: benches/startup.py [--binary] [ALG ...]    (default: RS256 ES256 EdDSA)
Run from the repository root after `cargo build --release`.
"""
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_token(port, client_id, secret):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/token",
        data=b"grant_type=client_credentials",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode(),
        },
    )
    with urllib.request.urlopen(req, timeout=1) as resp:
        return resp.status, json.load(resp)


def measure(alg, runs=5):
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ,
                   TOKEND_DATABASE_URL=f"sqlite://{tmp}/tokend.db",
                   TOKEND_MASTER_KEY_FILE=f"{tmp}/master.key",
                   TOKEND_KEYS__ALGORITHM=alg,
                   RUST_LOG="warn")
        created = json.loads(subprocess.check_output(
            ["cargo", "run", "-q", "--release", "--", "client", "create", "--name", "bench",
             "--id", "bench", "--scope", "read", "--json"], env=env))
        secret = created["client_secret"]
        # The first start creates the first key (slow for RSA); measure restarts.
        samples, size = [], None
        for i in range(runs + 1):
            port = free_port()
            env["TOKEND_LISTEN"] = f"127.0.0.1:{port}"
            start = time.perf_counter()
            proc = subprocess.Popen(COMMAND + ["serve"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                while True:
                    try:
                        status, body = post_token(port, "bench", secret)
                        if status == 200:
                            break
                    except OSError:
                        time.sleep(0.001)
                elapsed = time.perf_counter() - start
                size = len(body["access_token"])
            finally:
                proc.terminate()
                proc.wait()
            if i > 0:
                samples.append(elapsed * 1000)
        samples.sort()
        return samples[len(samples) // 2], min(samples), size


COMMAND = ["cargo", "run", "-q", "--release", "--"]

if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--binary"]:
        # The process alone, without cargo's freshness check.
        COMMAND = ["target/release/tokend"]
        args = args[1:]
    print("command:", " ".join(COMMAND))
    algs = args or ["RS256", "ES256", "EdDSA"]
    print(f"{'alg':<6} {'median ms':>10} {'best ms':>8} {'token bytes':>12}")
    for alg in algs:
        median, best, size = measure(alg)
        print(f"{alg:<6} {median:>10.1f} {best:>8.1f} {size:>12}")
