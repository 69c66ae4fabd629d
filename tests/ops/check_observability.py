"""The alert rules and the Grafana dashboard against the server that feeds them:

- every dashboard query parses (promtool check rules on a rule file made of them);
- every recording rule an alert or panel uses is defined;
- every `diffver_*` metric the rules and the dashboard reference is exported by a
  running `diffver serve` (after one scan and one webhook delivery).

usage: check_observability.py   (promtool on PATH, DIFFVER_BIN set, PyYAML importable)"""

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "service"))
from harness import Server  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
RULES = os.path.join(ROOT, "infra", "k8s", "prometheus-rules.diffver.yaml")
DASH = os.path.join(ROOT, "infra", "grafana", "diffver-dashboard.json")
SECRET = "a webhook secret for the metrics check"

rules = yaml.safe_load(open(RULES))
dash = json.load(open(DASH))
rule_exprs = [r["expr"] for g in rules["groups"] for r in g["rules"]]
recorded = {r["record"] for g in rules["groups"] for r in g["rules"] if "record" in r}
panel_exprs = [(p["title"], t["expr"]) for p in dash["panels"] for t in p["targets"]]
assert panel_exprs, "the dashboard has no queries"
failures = []

# 1. The dashboard's PromQL parses.
with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel_{i}", "expr": e} for i, (_, e) in enumerate(panel_exprs)]}]}, f)
r = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
os.unlink(f.name)
if r.returncode != 0:
    failures.append("dashboard queries do not parse:\n" + r.stdout + r.stderr)

# 2. Recording rules used are defined.
for e in rule_exprs + [e for _, e in panel_exprs]:
    for name in re.findall(r"\bdiffver:[a-z0-9_:]+", e):
        if name not in recorded:
            failures.append(f"{name} is used but not recorded")

# 3. Every referenced metric is exported by a live server.
with Server(env={"DIFFVER_GITHUB_WEBHOOK_SECRET": SECRET}) as srv:
    diff = open(os.path.join(ROOT, "examples", "diffs", "suspicious-pr.diff"), "rb").read()
    req = urllib.request.Request(f"{srv.base}/v1/scans?wait=20", data=diff, method="POST",
                                 headers={"Authorization": f"Bearer {srv.tenant_key}", "Content-Type": "text/x-diff"})
    with urllib.request.urlopen(req) as resp:
        assert json.load(resp)["status"] == "completed"
    ping = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
    sig = "sha256=" + hmac.new(SECRET.encode(), ping, hashlib.sha256).hexdigest()
    req = urllib.request.Request(f"{srv.base}/v1/github/webhook", data=ping, method="POST",
                                 headers={"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-1",
                                          "X-Hub-Signature-256": sig, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200
    with urllib.request.urlopen(f"{srv.base}/metrics") as resp:
        text = resp.read().decode()
exported = {re.split(r"[{ ]", line, maxsplit=1)[0] for line in text.splitlines() if line and not line.startswith("#")}
referenced = set()
for e in rule_exprs + [e for _, e in panel_exprs]:
    referenced |= set(re.findall(r"(?<![:\w])diffver_[a-z0-9_]+", e))
for m in sorted(referenced):
    if m not in exported:
        failures.append(f"{m} is referenced but the server does not export it")

if failures:
    print("\n".join("FAIL " + f for f in failures))
    sys.exit(1)
print(f"{len(panel_exprs)} dashboard queries parse; {len(referenced)} metrics referenced by "
      f"{len(rule_exprs)} rules and the dashboard are all exported")
