"""The Kubernetes manifests under infra/k8s: schema-valid (kubernetes-validate, strict)
and the security properties the deployment promises, checked rather than described.

usage: check_k8s.py   (kubernetes-validate and PyYAML importable)"""

import glob
import os
import subprocess
import sys

import yaml

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
K8S = os.path.join(ROOT, "infra", "k8s")
# Plain Prometheus rule files live here too; they are not Kubernetes objects.
files = sorted(f for f in glob.glob(os.path.join(K8S, "*.yaml")) if "prometheus-rules" not in f)
assert files, "no manifests"

r = subprocess.run(
    [sys.executable, "-m", "kubernetes_validate", "--strict", "--quiet", "-k", "1.30.0", *files],
    capture_output=True, text=True,
)
if r.returncode != 0 or "ERROR" in r.stdout + r.stderr:
    print(r.stdout, r.stderr)
    sys.exit("kubernetes-validate failed")

docs = [d for f in files for d in yaml.safe_load_all(open(f)) if d]
by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)


def pod_of(d):
    return d["spec"]["template"]["spec"]


for name in ["diffver-api", "diffver-worker", "diffver-publisher"]:
    d = by.get(("Deployment", name))
    check(d is not None, f"Deployment {name} is missing")
    if not d:
        continue
    pod = pod_of(d)
    psc = pod.get("securityContext", {})
    check(psc.get("runAsNonRoot") is True, f"{name}: pod runAsNonRoot")
    check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{name}: seccomp RuntimeDefault")
    check(pod.get("automountServiceAccountToken") is False, f"{name}: no service account token")
    for c in pod["containers"]:
        sc = c.get("securityContext", {})
        check(sc.get("readOnlyRootFilesystem") is True, f"{name}: readOnlyRootFilesystem")
        check(sc.get("allowPrivilegeEscalation") is False, f"{name}: no privilege escalation")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{name}: drop ALL capabilities")
        check("memory" in c.get("resources", {}).get("limits", {}), f"{name}: a memory limit")
        check(c["image"].split(":")[-1] not in ("latest", ""), f"{name}: a pinned image tag")
    check(("PodDisruptionBudget", name) in by, f"{name}: a PodDisruptionBudget")

worker = pod_of(by[("Deployment", "diffver-worker")])
check(not any("emptyDir" in v for v in worker.get("volumes", [])), "worker: no emptyDir (it writes nothing)")
check(worker["containers"][0]["args"][0] == "worker", "worker runs `diffver worker`")
api = pod_of(by[("Deployment", "diffver-api")])
check({"--no-worker", "--no-publisher"} <= set(api["containers"][0]["args"]), "api: no worker, no publisher")
check(("Service", "diffver-api") in by, "api Service")
check(("Job", "diffver-migrate") in by and by[("Job", "diffver-migrate")]["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"], "migration Job")

hpa = by.get(("HorizontalPodAutoscaler", "diffver-worker"))
check(hpa is not None and hpa["spec"]["scaleTargetRef"]["name"] == "diffver-worker", "worker HPA")
check(hpa and hpa["spec"]["metrics"][0]["external"]["metric"]["name"] == "diffver_queue_jobs", "HPA on queue depth")

# Network: default deny; workers reach Postgres, the object store and DNS only; only the
# publisher reaches 0.0.0.0/0.
deny = by.get(("NetworkPolicy", "diffver-default-deny"))
check(deny is not None and deny["spec"]["podSelector"] == {} and set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}, "default deny")
wnp = by[("NetworkPolicy", "diffver-worker")]
ports = sorted((p.get("protocol"), p["port"]) for rule in wnp["spec"]["egress"] for p in rule["ports"])
check(ports == [("TCP", 53), ("TCP", 443), ("TCP", 5432), ("UDP", 53)], f"worker egress ports: {ports}")
for rule in wnp["spec"]["egress"]:
    for peer in rule["to"]:
        cidr = peer.get("ipBlock", {}).get("cidr")
        check(cidr != "0.0.0.0/0", "worker: no egress to the internet")
open_to_world = [
    n for (k, n), d in by.items() if k == "NetworkPolicy"
    for rule in d["spec"].get("egress", []) for peer in rule["to"]
    if peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0"
]
check(open_to_world == ["diffver-publisher"], f"only the publisher reaches the internet: {open_to_world}")

if failures:
    print("\n".join("FAIL " + f for f in failures))
    sys.exit(1)
print(f"{len(docs)} Kubernetes objects in {len(files)} files: valid, and the security properties hold")
