"""A fake GitHub for the chaos run: the REST subset diffver's publisher calls, with faults.

Routes (as documented by GitHub, REST API version 2022-11-28), the same ones as the Rust
fake in diffver-server/tests/github.rs:

- `POST /app/installations/{id}/access_tokens` — the App JWT (RS256, `iss` = the App id,
  at most 10 minutes) is checked with `openssl` against the App's public key; answers a
  `ghs_…` token that expires in an hour;
- `GET /repos/{owner}/{repo}/pulls/{n}` with `Accept: application/vnd.github.diff` — the
  pull request's diff, as text;
- `POST /repos/{owner}/{repo}/check-runs` — creates a check run (201, with its `id`);
- `PATCH /repos/{owner}/{repo}/check-runs/{id}` — updates one (200);
- `GET /repos/{owner}/{repo}/commits/{sha}/check-runs?check_name=…` — the commit's check
  runs with their `external_id` (a publisher looks a run up before creating it again).

Every call but the token one needs a token the fake issued and the `X-GitHub-Api-Version`
header; bodies are checked against the Checks API's limits (title, summary, at most 50
annotations with their required fields). Faults are decided before anything is done, so
a failed call has no effect, as on GitHub: a share of 500s, secondary rate limits (403
with `Retry-After`) and 429s with `Retry-After`, and an outage window during which every
connection is closed without an answer. One fault acts first: a share of creates make
the check run and then answer 502 (GitHub acted, the answer was lost), which only an
`external_id` look-up keeps from becoming a second check run. Every call is recorded
with what it was answered.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

APP_ID = "4242"
SECRET = "chaos webhook secret 0123456789"
HOOKS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "github-webhooks")


def app_key(directory):
    """An RSA App key pair made by openssl for this run: (private key path, public key path)."""
    key, pub = os.path.join(directory, "app.pem"), os.path.join(directory, "app.pub.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-pubout", "-in", key, "-out", pub], check=True, capture_output=True)
    return key, pub


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class FakeGithub:
    """The server and what it recorded. `diffs` maps a pull request number to its diff."""

    def __init__(self, public_key_path, seed=17, p500=0.12, p403=0.05, p429=0.05, p_lost=0.05):
        self.public_key = public_key_path
        self.rng = random.Random(seed)
        self.p500, self.p403, self.p429, self.p_lost = p500, p403, p429, p_lost
        self.lock = threading.Lock()
        self.calls = []  # (time, method, path, status, body)
        self.diffs = {}
        self.tokens = set()
        self.next_id = 1000
        self.runs = {}  # check run id -> head sha
        self.bodies = {}  # check run id -> its create body
        self.outage_until = 0.0
        self.faults = {"500": 0, "403_secondary_rate_limit": 0, "429": 0, "outage_dropped": 0,
                       "create_answer_lost": 0}
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_):
                pass

            def do_POST(self):
                fake.handle(self, "POST")

            def do_PATCH(self):
                fake.handle(self, "PATCH")

            def do_GET(self):
                fake.handle(self, "GET")

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # A killed publisher resets its kept-alive connections: expected here.
                if not isinstance(sys.exc_info()[1], OSError):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()

    def outage(self, seconds):
        self.outage_until = time.time() + seconds

    def record(self, method, path, status, body=None):
        with self.lock:
            self.calls.append((time.time(), method, path, status, body))

    # --- request handling -------------------------------------------------------------

    def handle(self, h, method):
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        path = h.path.split("?", 1)[0]
        if time.time() < self.outage_until:
            with self.lock:
                self.faults["outage_dropped"] += 1
            self.record(method, path, 0)
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return self.answer(h, method, path, 400, {"message": "Problems parsing JSON"}, body)
        fault = self.fault()
        if fault == 500:
            return self.answer(h, method, path, 500, {"message": "Server Error"}, body)
        if fault == 403:
            return self.answer(h, method, path, 403, {
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."},
                body, {"Retry-After": "1"})
        if fault == 429:
            return self.answer(h, method, path, 429, {"message": "Too many requests"}, body, {"Retry-After": "1"})
        if h.headers.get("X-GitHub-Api-Version") != "2022-11-28":
            return self.answer(h, method, path, 400, {"message": "X-GitHub-Api-Version is required"}, body)
        m = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if m and method == "POST":
            return self.access_token(h, path, body)
        token = (h.headers.get("Authorization") or "").removeprefix("Bearer ")
        with self.lock:
            known = token in self.tokens
        if not known:
            return self.answer(h, method, path, 401, {"message": "Bad credentials"}, body)
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/pulls/(\d+)", path)
        if m and method == "GET":
            if h.headers.get("Accept") != "application/vnd.github.diff":
                return self.answer(h, method, path, 415, {"message": "this fake serves diffs only"}, body)
            diff = self.diffs.get(int(m.group(3)))
            if diff is None:
                return self.answer(h, method, path, 404, {"message": "Not Found"}, body)
            self.record(method, path, 200)
            h.send_response(200)
            h.send_header("Content-Type", "text/plain; charset=utf-8")
            h.send_header("Content-Length", str(len(diff)))
            h.end_headers()
            h.wfile.write(diff)
            return None
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/check-runs", path)
        if m and method == "POST":
            problem = check_body(body, create=True)
            if problem:
                return self.answer(h, method, path, 422, {"message": problem}, body)
            with self.lock:
                self.next_id += 1
                run_id = self.next_id
                self.runs[run_id] = body["head_sha"]
                self.bodies[run_id] = body
                lost = self.rng.random() < self.p_lost
                if lost:
                    self.faults["create_answer_lost"] += 1
            if lost:
                self.record(method, path, 201, body)
                return self.answer(h, method, path + "#lost", 502, {"message": "Server Error"}, body)
            return self.answer(h, method, path, 201, {"id": run_id, "head_sha": body["head_sha"],
                                                      "status": body.get("status")}, body)
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/commits/([0-9a-f]{40})/check-runs", path)
        if m and method == "GET":
            query = dict(q.split("=", 1) for q in h.path.partition("?")[2].split("&") if "=" in q)
            with self.lock:
                runs = [{"id": i, "head_sha": b["head_sha"], "name": b["name"], "external_id": b.get("external_id")}
                        for i, b in self.bodies.items() if b["head_sha"] == m.group(3)
                        and b["name"] == query.get("check_name", b["name"])]
            return self.answer(h, method, path, 200, {"total_count": len(runs), "check_runs": runs}, body)
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)/check-runs/(\d+)", path)
        if m and method == "PATCH":
            if int(m.group(3)) not in self.runs:
                return self.answer(h, method, path, 404, {"message": "Not Found"}, body)
            problem = check_body(body, create=False)
            if problem:
                return self.answer(h, method, path, 422, {"message": problem}, body)
            return self.answer(h, method, path, 200, {"id": int(m.group(3))}, body)
        return self.answer(h, method, path, 404, {"message": "Not Found"}, body)

    def fault(self):
        with self.lock:
            x = self.rng.random()
            if x < self.p500:
                self.faults["500"] += 1
                return 500
            if x < self.p500 + self.p403:
                self.faults["403_secondary_rate_limit"] += 1
                return 403
            if x < self.p500 + self.p403 + self.p429:
                self.faults["429"] += 1
                return 429
        return None

    def answer(self, h, method, path, status, doc, body, headers=None):
        self.record(method, path, status, body)
        out = json.dumps(doc).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(out)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(out)

    def access_token(self, h, path, body):
        jwt = (h.headers.get("Authorization") or "").removeprefix("Bearer ")
        if not self.jwt_ok(jwt):
            return self.answer(h, "POST", path, 401, {"message": "A JSON web token could not be decoded"}, body)
        token = "ghs_chaos" + uuid.uuid4().hex
        with self.lock:
            self.tokens.add(token)
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
        return self.answer(h, "POST", path, 201, {"token": token, "expires_at": expires}, body)

    def jwt_ok(self, jwt):
        """RS256 over `header.claims`, verified by openssl with the App's public key."""
        parts = jwt.split(".")
        if len(parts) != 3:
            return False
        try:
            header, claims, sig = json.loads(b64url(parts[0])), json.loads(b64url(parts[1])), b64url(parts[2])
        except ValueError:
            return False
        now = time.time()
        if header.get("alg") != "RS256" or claims.get("iss") != APP_ID:
            return False
        if not (claims["exp"] - claims["iat"] <= 600 and claims["iat"] <= now and claims["exp"] > now):
            return False
        with tempfile.NamedTemporaryFile() as s, tempfile.NamedTemporaryFile() as d:
            s.write(sig)
            s.flush()
            d.write(f"{parts[0]}.{parts[1]}".encode())
            d.flush()
            v = subprocess.run(["openssl", "dgst", "-sha256", "-verify", self.public_key, "-signature", s.name, d.name],
                               capture_output=True)
        return v.returncode == 0

    # --- what was recorded --------------------------------------------------------------

    def successful(self):
        with self.lock:
            return [c for c in self.calls if 200 <= c[3] < 300]


def check_body(body, create):
    """The documented limits of a check-run body; a problem, or None."""
    if not isinstance(body, dict):
        return "a JSON object is required"
    if create:
        for k in ("name", "head_sha"):
            if not isinstance(body.get(k), str):
                return f"{k} is required"
    if body.get("status") == "completed" and body.get("conclusion") not in (
            "success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required"):
        return "a completed check run needs a conclusion"
    o = body.get("output")
    if o is not None:
        if not isinstance(o.get("title"), str) or not isinstance(o.get("summary"), str):
            return "output.title and output.summary are required"
        if len(o["title"]) > 255 or len(o["summary"]) > 65535:
            return "output over GitHub's limits"
        ann = o.get("annotations", [])
        if not isinstance(ann, list) or len(ann) > 50:
            return "at most 50 annotations per request"
        for a in ann:
            for k in ("path", "start_line", "end_line", "annotation_level", "message"):
                if k not in a:
                    return f"annotation without {k}"
    return None


# --- deliveries -------------------------------------------------------------------------

def head_of(n):
    return hashlib.sha1(f"chaos-pr-{n}".encode()).hexdigest()


def pr_event(n):
    """GitHub's documented `pull_request.opened` payload, re-numbered for pull request n."""
    with open(os.path.join(HOOKS, "pull_request", "opened.payload.json"), "rb") as f:
        p = json.load(f)
    p["number"] = n
    p["pull_request"]["number"] = n
    p["pull_request"]["head"]["sha"] = head_of(n)
    return json.dumps(p, separators=(",", ":")).encode()


def signature(body):
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


class Deliveries:
    """Sends signed webhooks and remembers which commits were accepted.

    A delivery that gets no 2xx (the API or its database is down) is sent again with the
    same `X-GitHub-Delivery`, as GitHub's redelivery does, for up to `patience` seconds.
    """

    def __init__(self, request, apis, patience=90):
        self.request = request
        self.apis = apis
        self.patience = patience
        self.lock = threading.Lock()
        self.accepted = {}  # head sha -> (pull number, first accepted at)
        self.results = {}
        self.refused = []

    def send(self, n, delivery, body, k):
        deadline = time.time() + self.patience
        tries = 0
        while True:
            _, base = self.apis[(n + k + tries) % len(self.apis)]
            status, answer, _ = self.request("POST", f"{base}/v1/github/webhook", None, body, {
                "Content-Type": "application/json", "X-GitHub-Event": "pull_request",
                "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature(body),
                "User-Agent": "GitHub-Hookshot/chaos"})
            tries += 1
            if 200 <= status < 300:
                try:
                    result = json.loads(answer).get("result", "")
                except ValueError:
                    result = ""
                key = result.split(":")[0] if result else str(status)
                with self.lock:
                    self.results[key] = self.results.get(key, 0) + 1
                    self.accepted.setdefault(head_of(n), (n, time.time()))
                return status
            if time.time() > deadline:
                with self.lock:
                    self.refused.append((n, delivery, status))
                return status
            time.sleep(1)

    def deliver(self, n):
        """Pull request n: its `opened` delivery; every fourth is redelivered (same id),
        every seventh also arrives under a second delivery id (another event for the
        same commit)."""
        body = pr_event(n)
        delivery = str(uuid.uuid4())
        self.send(n, delivery, body, 0)
        if n % 4 == 0:
            self.send(n, delivery, body, 1)
        if n % 7 == 0:
            self.send(n, str(uuid.uuid4()), body, 1)


def check_github(fake, pg, deliveries, expected_conclusion, failures):
    """The invariants after the run, from the fake's calls and the outbox."""
    out = {}
    creates = {}  # head -> [run ids]
    completions = {}  # run id -> [bodies]
    updates = {}
    for _, method, path, status, body in fake.successful():
        if method == "POST" and path.endswith("/check-runs"):
            creates.setdefault(body["head_sha"], []).append(None)
        if method == "PATCH":
            run = int(path.rsplit("/", 1)[1])
            updates.setdefault(run, []).append(body)
            if body.get("status") == "completed":
                completions.setdefault(run, []).append(body)
    runs_by_head = {}
    for run, head in fake.runs.items():
        runs_by_head.setdefault(head, []).append(run)
    rows = {}
    for line in pg.sql("SELECT head_sha, coalesce(check_run_id, 0), coalesce(scan_id, ''), done, dead, failures, "
                       "coalesce(last_error, ''), published FROM github_checks").splitlines():
        head, run, scan, done, dead, nfail, err, published = line.split("|", 7)
        rows[head] = (int(run), scan, done == "t", dead == "t", int(nfail), err, published)
    decisions = dict(line.split("|") for line in pg.sql(
        "SELECT s.id, coalesce(s.decision, '') FROM scans s JOIN github_checks g ON g.scan_id = s.id").splitlines())
    accepted = deliveries.accepted
    dead = {h: r for h, r in rows.items() if r[3]}
    for head, (n, _) in sorted(accepted.items(), key=lambda x: x[1][0]):
        row = rows.get(head)
        runs = runs_by_head.get(head, [])
        if row is None:
            failures.append(f"PR {n}: accepted webhook but no outbox row")
            continue
        if head in dead:
            failures.append(f"PR {n}: outbox row dead after {row[4]} failures: {row[5]}")
            continue
        if not row[2]:
            failures.append(f"PR {n}: outbox row not done ({row[6]}, last error {row[5]!r})")
        if len(runs) != 1:
            failures.append(f"PR {n}: {len(runs)} check runs created (want 1): {runs}")
        if row[0] not in runs:
            failures.append(f"PR {n}: the outbox's check run {row[0]} is not one GitHub created ({runs})")
        for run in runs:
            done = completions.get(run, [])
            if len(done) != 1:
                failures.append(f"PR {n}: check run {run} completed {len(done)} times (want 1)")
                continue
            if updates[run][-1].get("status") != "completed":
                failures.append(f"PR {n}: check run {run} updated after its completion")
            got = done[0].get("conclusion")
            want = expected_conclusion(n)
            if got != want:
                failures.append(f"PR {n}: conclusion {got}, want {want}")
            decision = decisions.get(row[1])
            if {"pass": "success", "fail": "failure"}.get(decision) != got:
                failures.append(f"PR {n}: conclusion {got} but the scan's decision is {decision!r}")
    strays = set(runs_by_head) - set(accepted)
    if strays:
        failures.append(f"check runs for commits no accepted webhook named: {sorted(strays)[:5]}")
    if deliveries.refused:
        failures.append(f"webhooks never accepted: {deliveries.refused[:5]}")
    latencies = []
    for head, (_, at) in accepted.items():
        done_at = [t for t, m, p, s, b in fake.successful()
                   if m == "PATCH" and (b or {}).get("status") == "completed" and int(p.rsplit("/", 1)[1]) in runs_by_head.get(head, [])]
        if done_at:
            latencies.append(done_at[0] - at)
    latencies.sort()
    with fake.lock:
        calls = len(fake.calls)
        by_status = {}
        for c in fake.calls:
            by_status[str(c[3])] = by_status.get(str(c[3]), 0) + 1
    out.update({
        "pull_requests_accepted": len(accepted), "webhook_results": deliveries.results,
        "check_runs_created": sum(len(r) for r in runs_by_head.values()),
        "completed_updates": sum(len(v) for v in completions.values()),
        "conclusions": {c: sum(1 for v in completions.values() for b in v if b.get("conclusion") == c)
                        for c in ("success", "failure", "neutral")},
        "github_calls": calls, "github_answers": by_status, "faults_injected": dict(fake.faults),
        "outbox_failures_total": sum(r[4] for r in rows.values()), "outbox_dead": len(dead),
        "webhook_to_completed_s": {"p50": round(latencies[len(latencies) // 2], 1) if latencies else None,
                                   "max": round(latencies[-1], 1) if latencies else None},
    })
    return out
