"""POST→verdict load over real sockets with wrk: 50 KB diffs submitted with `?wait=30`, so
each request's latency is the time to the signed verdict. Configurations: the embedded
default (one `diffver serve`, SQLite, in-process workers) and Postgres + S3 (moto) with one
API process and 1, 2 and 4 worker processes. Closed loop: C connections each submit, wait
for the verdict, submit again.

usage: wrk_load.py [--seconds S] [--connections C,...]   (run as root; DIFFVER_BIN: a
release build; wrk on PATH). Prints a Markdown table."""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "chaos"))
import chaos  # noqa: E402

LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "text/x-diff"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("DIFFVER_KEY")
local f = io.open(os.getenv("DIFFVER_DIFF"), "rb")
wrk.body = f:read("*a")
f:close()
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  ok200 = 0
end
function response(status, headers, body)
  if status == 200 then
    ok200 = ok200 + 1
  end
end
function done(summary, latency, requests)
  local verdicts = 0
  for _, t in ipairs(threads) do
    verdicts = verdicts + t:get("ok200")
  end
  io.write(string.format("RESULT %d %.1f %.1f %.1f %.1f %d %d %d\n",
    summary.requests, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    verdicts))
end
"""


def diff_50k(path):
    lines = [f"    value_{i:05d} = compute(input_{i % 97}, scale={i % 13}) + offset  # step {i}" for i in range(745)]
    body = "".join(f"+{line}\n" for line in lines)
    d = (f"diff --git a/pkg/large.py b/pkg/large.py\nnew file mode 100644\n--- /dev/null\n+++ b/pkg/large.py\n"
         f"@@ -0,0 +1,{len(lines)} @@\n{body}").encode()
    open(path, "wb").write(d)
    return len(d)


def wrk(url, key, diff, seconds, conns, lua):
    env = dict(os.environ, DIFFVER_KEY=key, DIFFVER_DIFF=diff)
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{seconds}s", "--timeout", "40s", "-s", lua,
                          f"{url}/v1/scans?wait=30"], env=env, capture_output=True, text=True)
    line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT")), None)
    if not line:
        sys.exit("wrk failed: " + out.stdout + out.stderr)
    n, p50, p95, p99, secs, bad_status, sock_err, ok200 = line.split()[1:]
    return {"requests": int(n), "p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99),
            "per_s": round(int(n) / float(secs), 1), "non_2xx": int(bad_status), "socket_errors": int(sock_err), "verdicts": int(ok200)}


def open_limits(url, admin, tenant):
    status, body, _ = chaos.request("PATCH", f"{url}/v1/admin/tenants/{tenant}", admin,
                                    json.dumps({"rate_per_sec": 100000, "max_in_flight": 100000}).encode(),
                                    {"Content-Type": "application/json"})
    assert status == 200, body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--connections", default="4,16")
    args = ap.parse_args()
    conns = [int(c) for c in args.connections.split(",")]
    base = tempfile.mkdtemp(prefix="diffver-load-")
    lua = os.path.join(base, "post.lua")
    open(lua, "w").write(LUA)
    diff = os.path.join(base, "50k.diff")
    size = diff_50k(diff)
    rows = []

    # The embedded default: one process, SQLite, in-process workers.
    emb = os.path.join(base, "embedded")
    os.makedirs(emb)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIFFVER_", "AWS_"))}
    env["RUST_LOG"] = "warn"
    port = chaos.free_port()
    log = open(os.path.join(base, "embedded.log"), "w")
    p = subprocess.Popen([chaos.BIN, "serve", "--listen", f"127.0.0.1:{port}"], cwd=emb, env=env,
                         stdout=subprocess.PIPE, stderr=log, text=True)
    keys = {}
    deadline = time.time() + 60
    while time.time() < deadline and len(keys) < 2:
        line = p.stdout.readline()
        for name in ("tenant key:", "admin key:"):
            if name in line:
                keys[name] = line.split(name)[1].strip()
    url = f"http://127.0.0.1:{port}"
    chaos.wait_http(url + "/healthz")
    tenant = json.loads(chaos.request("GET", f"{url}/v1/admin/tenants", keys["admin key:"])[1])["items"][0]["id"]
    open_limits(url, keys["admin key:"], tenant)
    for c in conns:
        rows.append(("embedded (SQLite, 1 process)", c, wrk(url, keys["tenant key:"], diff, args.seconds, c, lua)))
    p.terminate()
    p.wait()

    # Postgres + S3, one API process and 1, 2, 4 worker processes.
    pg = chaos.PgCluster(base)
    pg.start()
    moto_port = chaos.free_port()
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chaos.wait_http(f"http://127.0.0.1:{moto_port}/")
    chaos.request("PUT", f"http://127.0.0.1:{moto_port}/chaos")
    try:
        for workers, objects in ((1, "s3"), (1, "file"), (2, "file"), (4, "file")):
            svc = chaos.Service(os.path.join(base, f"pg{workers}{objects}"), pg, moto_port, workers, 60)
            if objects == "file":
                # moto (a Python process on the same 2 cores) bounds the S3 rows; local
                # objects isolate the database path.
                svc.env["DIFFVER_OBJECT_STORE"] = f"file://{base}/objects"
            svc.apis = []
            svc.start()
            svc.apis = svc.apis[:1]
            t = json.loads(svc.run("admin", "create-tenant", f"load{workers}", "--json"))["id"]
            key = json.loads(svc.run("admin", "create-key", "--tenant", t, "--role", "tenant", "--json"))["key"]
            admin = json.loads(svc.run("admin", "create-key", "--tenant", t, "--role", "admin", "--json"))["key"]
            open_limits(svc.apis[0][1], admin, t)
            for c in conns:
                where = "moto S3" if objects == "s3" else "local objects"
                rows.append((f"Postgres + {where}, 1 API, {workers} worker process(es)", c,
                             wrk(svc.apis[0][1], key, diff, args.seconds, c, lua)))
            svc.stop()
    finally:
        moto.terminate()
        pg.stop()
    print(f"\n50 KB diffs ({size} bytes), `?wait=30`, {args.seconds} s per row, wrk -t2\n")
    print("| configuration | connections | verdicts/s | P50 ms | P95 ms | P99 ms | verdicts (200) / requests | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for name, c, r in rows:
        print(f"| {name} | {c} | {r['per_s']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | "
              f"{r['verdicts']} / {r['requests']} | {r['non_2xx'] + r['socket_errors']} |")
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
