"""Corpus builder for the comparison harness (a Python twin of benches/support/corpus.rs).

Two inputs are produced, both as unified diffs made only of "add file" patches
(`new file mode 100644`, `--- /dev/null`), so that every tool sees the same bytes:

* the *clean* part: real third-party source files (*.rs, *.py, *.toml, *.md) from
  ~/.cargo/registry/src, walked in sorted order (deterministic), until the diff
  reaches the requested size; paths are prefixed `pass<N>/` as in corpus.rs;
* the *labeled* part: every sample file of /work/shared/corpus (README and LICENSE
  files left out), under the prefix `labeled/`.

Files that are empty, contain NUL bytes or are not valid UTF-8 are skipped (the
Python peers need text). Next to each diff the builder writes the added files
themselves into a directory tree (for semgrep, which does not read diffs) and an
index (JSON) mapping each file to its line range in the diff and to a label group,
so that findings reported by line number (stdin scanners, ripgrep) can be
attributed to files.
"""

from __future__ import annotations

import bisect
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

EXTENSIONS = (".rs", ".py", ".toml", ".md")


def registry_src() -> Path:
    home = os.environ.get("CARGO_HOME") or os.path.join(os.path.expanduser("~"), ".cargo")
    return Path(home) / "registry" / "src"


def _walk_sorted(root: Path) -> Iterator[Path]:
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name.encode("utf-8", "surrogateescape"))
    except OSError:
        return
    for e in entries:
        p = Path(e.path)
        if e.is_dir(follow_symlinks=False):
            yield from _walk_sorted(p)
        elif e.is_file(follow_symlinks=False) and e.name.endswith(EXTENSIONS):
            yield p


def _read_text_bytes(p: Path) -> bytes | None:
    try:
        b = p.read_bytes()
    except OSError:
        return None
    if not b or b"\0" in b:
        return None
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return b


def label_group(rel: str) -> str:
    """The group a labeled sample belongs to (rel is relative to the corpus root)."""
    parts = rel.split("/")
    top = parts[0]
    if top == "guarddog":
        return "guarddog/benign (clean look-alikes)" if "benign" in parts[:-1] else "guarddog (malicious)"
    if top == "detect-secrets":
        return (
            "detect-secrets/file_with_no_secrets.py (clean)"
            if parts[-1] == "file_with_no_secrets.py"
            else "detect-secrets (secrets)"
        )
    if top == "zizmor" and len(parts) > 2:
        return f"zizmor/{parts[1]}"
    return top


def labeled_sources(root: Path) -> list[tuple[Path, str]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if rel == "README.md" or name.startswith("LICENSE"):
                continue
            out.append((p, rel))
    out.sort(key=lambda t: t[1])
    return out


@dataclass
class Entry:
    path: str  # path in the diff (and under the tree directory)
    first_line: int  # 1-based line of the `diff --git` header
    last_line: int  # last line of the patch
    group: str  # "clean" or a label group
    size: int  # bytes of the added file


@dataclass
class Corpus:
    diff: Path
    tree: Path
    index_path: Path
    entries: list[Entry] = field(default_factory=list)
    diff_bytes: int = 0
    content_bytes: int = 0
    skipped: int = 0
    lines: int = 0

    # ---- lookups used to attribute findings -------------------------------------
    def _starts(self) -> list[int]:
        if not hasattr(self, "_starts_cache"):
            self._starts_cache = [e.first_line for e in self.entries]  # type: ignore[attr-defined]
        return self._starts_cache  # type: ignore[attr-defined]

    def entry_for_line(self, line: int) -> Entry | None:
        i = bisect.bisect_right(self._starts(), line) - 1
        if i >= 0 and self.entries[i].first_line <= line <= self.entries[i].last_line:
            return self.entries[i]
        return None

    def entry_for_path(self, path: str) -> Entry | None:
        if not hasattr(self, "_by_path"):
            self._by_path = {e.path: e for e in self.entries}  # type: ignore[attr-defined]
        path = path.removeprefix("./")
        for cand in (path, path.removeprefix("a/"), path.removeprefix("b/")):
            e = self._by_path.get(cand)  # type: ignore[attr-defined]
            if e is not None:
                return e
        # semgrep reports paths relative to the scan root or absolute ones
        tree = self.tree.as_posix().rstrip("/") + "/"
        if path.startswith(tree):
            return self._by_path.get(path[len(tree):])  # type: ignore[attr-defined]
        return None

    def save_index(self) -> None:
        data = {
            "diff": str(self.diff),
            "tree": str(self.tree),
            "diff_bytes": self.diff_bytes,
            "content_bytes": self.content_bytes,
            "skipped": self.skipped,
            "lines": self.lines,
            "entries": [e.__dict__ for e in self.entries],
        }
        self.index_path.write_text(json.dumps(data))

    @classmethod
    def load(cls, index_path: Path) -> "Corpus":
        d = json.loads(index_path.read_text())
        c = cls(Path(d["diff"]), Path(d["tree"]), index_path)
        c.diff_bytes, c.content_bytes = d["diff_bytes"], d["content_bytes"]
        c.skipped, c.lines = d["skipped"], d["lines"]
        c.entries = [Entry(**e) for e in d["entries"]]
        return c


class _Writer:
    def __init__(self, corpus: Corpus, out: BinaryIO) -> None:
        self.c = corpus
        self.out = out
        self.line = 0

    def add(self, rel: str, text: bytes, group: str) -> None:
        lines = text.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
            no_eol = False
        else:
            no_eol = True
        header = (
            f"diff --git a/{rel} b/{rel}\nnew file mode 100644\n--- /dev/null\n+++ b/{rel}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n"
        ).encode("utf-8")
        body = b"".join(b"+" + ln + b"\n" for ln in lines)
        if no_eol:
            body += b"\\ No newline at end of file\n"
        chunk = header + body
        first = self.line + 1
        self.line += chunk.count(b"\n")
        self.out.write(chunk)
        self.c.diff_bytes += len(chunk)
        self.c.content_bytes += len(text)
        self.c.lines = self.line
        self.c.entries.append(Entry(rel, first, self.line, group, len(text)))
        dest = self.c.tree / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(text)


def _fresh(diff: Path, tree: Path) -> None:
    if tree.exists():
        shutil.rmtree(tree)
    tree.mkdir(parents=True)
    diff.parent.mkdir(parents=True, exist_ok=True)


def build(
    work: Path,
    name: str,
    min_bytes: int,
    labeled_root: Path | None,
    src_root: Path | None = None,
) -> Corpus:
    """Write `<work>/<name>.diff`, `<work>/<name>-tree/` and `<work>/<name>.index.json`.

    `min_bytes` of clean code first (0: none), then the labeled samples (if a root is given).
    """
    diff = work / f"{name}.diff"
    tree = work / f"{name}-tree"
    _fresh(diff, tree)
    c = Corpus(diff, tree, work / f"{name}.index.json")
    with diff.open("wb") as out:
        w = _Writer(c, out)
        if min_bytes > 0:
            root = src_root or registry_src()
            files = list(_walk_sorted(root))
            if not files:
                raise SystemExit(f"corpus: no *.rs/*.py/*.toml/*.md sources under {root}")
            pass_no = 0
            while c.diff_bytes < min_bytes:
                added_this_pass = 0
                for p in files:
                    text = _read_text_bytes(p)
                    if text is None:
                        if pass_no == 0:
                            c.skipped += 1
                        continue
                    rel = f"pass{pass_no}/{p.relative_to(root).as_posix()}"
                    w.add(rel, text, "clean")
                    added_this_pass += 1
                    if c.diff_bytes >= min_bytes:
                        break
                if added_this_pass == 0:
                    raise SystemExit(f"corpus: no usable text sources under {root}")
                pass_no += 1
        if labeled_root is not None:
            for p, rel in labeled_sources(labeled_root):
                text = _read_text_bytes(p)
                if text is None:
                    c.skipped += 1
                    continue
                w.add(f"labeled/{rel}", text, label_group(rel))
    c.save_index()
    return c
