#!/usr/bin/env python3
"""diffver and zizmor side by side on GitHub Actions workflows, file by file.

    python3 benches/compare/zizmor_side.py [--diffver PATH] [--zizmor PATH] [DIR ...]

Each workflow under DIR (default: /work/shared/corpus/zizmor/template-injection)
is scanned by both tools the way a pull request would bring it in:

- zizmor (pinned 1.33, installed into the comparison venv with pip when missing;
  `--no-install` skips that) runs `--offline --format json` over a scratch
  repository holding every file as `.github/workflows/<name>.yml` (a directory
  with an `action.yml` becomes `<name>/action.yml`);
- diffver scans one unified diff that adds the same files at the same paths,
  `scan --format json --policy permissive`.

It prints, per file, what each tool reports for the compared audit (zizmor's
`template-injection`; diffver's `ci.template-injection` and, with `--all-ci`,
every `ci.*` rule) with severities, then the files each tool flags and where they
differ. Exit status 0 unless a tool cannot run.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DIRS = [Path("/work/shared/corpus/zizmor/template-injection")]
DEFAULT_VENV = Path.home() / ".cache" / "diffver" / "compare-venv"
ZIZMOR_PIN = "zizmor==1.33.*"
NOW = "2026-01-01T00:00:00Z"


def default_diffver() -> str:
    for cand in (Path("/tmp/compare-work/diffver"), Path("/tmp/diffver-release")):
        if cand.is_file():
            return str(cand)
    return shutil.which("diffver") or str(HERE.parent.parent / "target" / "release" / "diffver")


def find_zizmor(venv: Path, install: bool) -> str:
    cand = venv / "bin" / "zizmor"
    if cand.is_file():
        return str(cand)
    if shutil.which("zizmor"):
        return str(shutil.which("zizmor"))
    if not install:
        sys.exit("zizmor not found (pass --zizmor PATH, or drop --no-install)")
    if not (venv / "bin" / "python").is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", ZIZMOR_PIN], check=True)
    return str(cand)


def collect(dirs: list[Path]) -> dict[str, bytes]:
    """Workflow name -> bytes, as the repository-relative path each tool sees."""
    files: dict[str, bytes] = {}
    for d in dirs:
        for p in sorted(d.iterdir()):
            if p.is_file() and p.suffix in (".yml", ".yaml"):
                files[f".github/workflows/{p.name}"] = p.read_bytes()
            elif p.is_dir() and (p / "action.yml").is_file():
                files[f"{p.name}/action.yml"] = (p / "action.yml").read_bytes()
    return files


def add_file_diff(files: dict[str, bytes]) -> bytes:
    out = bytearray()
    for rel, text in files.items():
        lines = text.split(b"\n")
        no_eol = lines[-1] != b""
        if not no_eol:
            lines.pop()
        out += (f"diff --git a/{rel} b/{rel}\nnew file mode 100644\n--- /dev/null\n+++ b/{rel}\n"
                f"@@ -0,0 +1,{len(lines)} @@\n").encode()
        out += b"".join(b"+" + ln + b"\n" for ln in lines)
        if no_eol:
            out += b"\\ No newline at end of file\n"
    return bytes(out)


def run_zizmor(zizmor: str, files: dict[str, bytes], work: Path) -> dict[str, list[str]]:
    repo = work / "repo"
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(text)
    res = subprocess.run([zizmor, "--offline", "--format", "json", str(repo)],
                         capture_output=True, text=True)
    if res.returncode not in (0, 10, 11, 12, 13, 14) and not res.stdout.strip().startswith("["):
        sys.exit(f"zizmor failed ({res.returncode}): {res.stderr[-2000:]}")
    found: dict[str, list[str]] = collections.defaultdict(list)
    for f in json.loads(res.stdout or "[]"):
        if f.get("ident") != "template-injection":
            continue
        loc = f["locations"][0]
        key = loc["symbolic"]["key"]
        path = next(iter(key.values())).get("verbatim_path") or next(iter(key.values())).get("given_path", "")
        rel = str(Path(path).resolve().relative_to(repo.resolve()))
        row = loc["concrete"]["location"]["start_point"]["row"] + 1
        det = f["determinations"]
        found[rel].append(f"{det['severity'].lower()}@{row}")
    return found


def run_diffver(diffver: str, files: dict[str, bytes], work: Path, all_ci: bool) -> dict[str, list[str]]:
    diff = work / "workflows.diff"
    diff.write_bytes(add_file_diff(files))
    out = work / "diffver.json"
    res = subprocess.run([diffver, "scan", str(diff), "--format", "json", "--policy", "permissive",
                          "--now", NOW, "-o", str(out)], capture_output=True, text=True)
    if res.returncode not in (0, 1):
        sys.exit(f"diffver failed ({res.returncode}): {res.stderr[-2000:]}")
    found: dict[str, list[str]] = collections.defaultdict(list)
    for f in json.loads(out.read_text())["findings"]:
        rid = f.get("rule_id", "")
        if rid == "ci.template-injection" or (all_ci and rid.startswith("ci.")):
            tag = "" if rid == "ci.template-injection" else f" {rid}"
            found[f.get("path") or "?"].append(f"{f['severity']}@{f.get('line')}{tag}")
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("dirs", nargs="*", type=Path, default=DEFAULT_DIRS, help="folders of workflows")
    ap.add_argument("--diffver", default=default_diffver(), help="the diffver binary")
    ap.add_argument("--zizmor", help="the zizmor binary (default: the comparison venv's, or PATH)")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help=f"venv for zizmor (default {DEFAULT_VENV})")
    ap.add_argument("--no-install", action="store_true", help="do not pip-install zizmor when missing")
    ap.add_argument("--all-ci", action="store_true", help="count every ci.* rule of diffver, not only template injection")
    args = ap.parse_args()

    zizmor = args.zizmor or find_zizmor(args.venv, not args.no_install)
    version = subprocess.run([zizmor, "--version"], capture_output=True, text=True).stdout.strip()
    files = collect(args.dirs)
    with tempfile.TemporaryDirectory(prefix="zizmor-side-") as tmp:
        work = Path(tmp)
        z = run_zizmor(zizmor, files, work)
        d = run_diffver(args.diffver, files, work, args.all_ci)

    width = max(len(r) for r in files)
    print(f"{version} (--offline) vs {args.diffver}; {len(files)} files; cell: severity@line")
    print(f"{'file':<{width}}  {'zizmor template-injection':<40}  diffver")
    for rel in files:
        zs = ", ".join(z.get(rel, [])) or "-"
        ds = ", ".join(d.get(rel, [])) or "-"
        print(f"{rel:<{width}}  {zs:<40}  {ds}")
    zf = {r for r in files if z.get(r)}
    df = {r for r in files if d.get(r)}
    name = lambda s: ", ".join(sorted(Path(r).name if r.startswith(".github") else r for r in s)) or "none"
    print()
    print(f"files flagged: zizmor {len(zf)}, diffver {len(df)}, both {len(zf & df)}")
    print(f"only zizmor:  {name(zf - df)}")
    print(f"only diffver: {name(df - zf)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
