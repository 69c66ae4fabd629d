"""The composite action (action.yml): its scan step, run as GitHub would run it (inputs
and event data through the environment, GITHUB_OUTPUT a file), on a scratch repository
with a clean and a malicious pull request.

usage: check_action.py DIFFVER_BIN   (PyYAML importable)"""

import json
import os
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
action = yaml.safe_load(open(os.path.join(ROOT, "action.yml")))
steps = {s.get("id"): s for s in action["runs"]["steps"]}
scan = steps["scan"]
# The script never expands event data itself.
assert "${{" not in scan["run"], "template expansion inside the script"
diffver = os.path.abspath(sys.argv[1])


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def run_scan(repo, base, head):
    out = os.path.join(repo, "github_output")
    open(out, "w").close()
    env = dict(os.environ)
    env.update({
        "DIFFVER": diffver, "POLICY": "standard", "BASELINE": "", "SARIF": "diffver.sarif",
        "BASE_IN": "", "HEAD_IN": "", "PR_BASE": base, "PR_HEAD": head, "PUSH_BEFORE": "",
        "GITHUB_OUTPUT": out,
    })
    r = subprocess.run(["bash", "-c", scan["run"]], cwd=repo, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr  # the verdict step fails the job, not this one
    outputs = dict(line.split("=", 1) for line in open(out).read().splitlines())
    sarif = json.load(open(os.path.join(repo, "diffver.sarif")))
    return outputs, sarif, r.stdout


with tempfile.TemporaryDirectory() as repo:
    git("init", "-q", cwd=repo)
    git("config", "user.email", "ci@example.com", cwd=repo)
    git("config", "user.name", "ci", cwd=repo)
    open(os.path.join(repo, "README.md"), "w").write("# demo\n")
    git("add", "README.md", cwd=repo)
    git("commit", "-qm", "base", cwd=repo)
    base = git("rev-parse", "HEAD", cwd=repo)
    open(os.path.join(repo, "greet.py"), "w").write("def greet(n):\n    return n\n")
    git("add", "greet.py", cwd=repo)
    git("commit", "-qm", "clean", cwd=repo)
    clean = git("rev-parse", "HEAD", cwd=repo)
    outputs, sarif, _ = run_scan(repo, base, clean)
    assert outputs["decision"] == "pass" and outputs["status"] == "0", outputs
    assert sarif["version"] == "2.1.0"
    os.makedirs(os.path.join(repo, ".github", "workflows"))
    open(os.path.join(repo, ".github", "workflows", "ci.yml"), "w").write(
        "on: pull_request_target\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo \"${{ github.event.pull_request.title }}\"\n")
    git("add", ".", cwd=repo)
    git("commit", "-qm", "bad", cwd=repo)
    bad = git("rev-parse", "HEAD", cwd=repo)
    outputs, sarif, stdout = run_scan(repo, base, bad)
    assert outputs["decision"] == "fail" and outputs["status"] == "1", outputs
    results = sarif["runs"][0]["results"]
    assert any(r["ruleId"].startswith("ci.") for r in results), [r["ruleId"] for r in results]
    assert "::error" in stdout, stdout
    # Attacker-chosen refs never reach the shell unquoted: a base with shell syntax is refused.
    outputs_bad = None
    env_out = os.path.join(repo, "github_output")
    open(env_out, "w").close()
    env = dict(os.environ, DIFFVER=diffver, POLICY="standard", BASELINE="", SARIF="x.sarif", BASE_IN="$(touch pwned)",
               HEAD_IN="", PR_BASE="", PR_HEAD="", PUSH_BEFORE="", GITHUB_OUTPUT=env_out)
    r = subprocess.run(["bash", "-c", scan["run"]], cwd=repo, env=env, capture_output=True, text=True)
    assert r.returncode == 2 and not os.path.exists(os.path.join(repo, "pwned")), (r.returncode, r.stdout)
print("action.yml: clean PR passes, malicious PR fails with SARIF and annotations, unusable refs refused")
