"""Run detect-secrets' diff API on one diff file (a worker for run.py).

    python ds_scan.py DIFF OUT.json

Uses `detect_secrets.core.scan.scan_diff(diff: str)` (the same entry point as
`detect-secrets-hook --diff`-style integrations) under `default_settings()`, i.e.
every built-in plugin and the default filters. Writes a JSON list of findings
({"filename", "line", "type"}) and prints their count. It runs as its own
process so that /usr/bin/time can measure its wall time and peak RSS; interpreter
start-up and reading the file are included in what is measured.
"""

import json
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    from detect_secrets.core.scan import scan_diff
    from detect_secrets.settings import default_settings

    with open(sys.argv[1], encoding="utf-8", errors="surrogateescape", newline="") as f:
        diff = f.read()
    out = []
    with default_settings():
        for s in scan_diff(diff):
            out.append({"filename": s.filename, "line": s.line_number, "type": s.type})
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f)
    print(len(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
