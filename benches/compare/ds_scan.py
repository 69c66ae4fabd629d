"""Run detect-secrets' diff API on one diff file (a worker for run.py).

    python ds_scan.py DIFF OUT.json

Uses `detect_secrets.core.scan.scan_diff(diff: str)` (what
`SecretsCollection.scan_diff` calls) under `default_settings()`, i.e. all 27
built-in plugins and the default filters, less one: `is_invalid_file`, which drops
every file that does not exist on disk relative to the working directory (so a
diff scanned outside its checkout would yield nothing; detect-secrets' own CLI
disables it the same way for `--custom-root`). Writes a JSON list of findings
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
    with default_settings() as settings:
        settings.disable_filters("detect_secrets.filters.common.is_invalid_file")
        for s in scan_diff(diff):
            out.append({"filename": s.filename, "line": s.line_number, "type": s.type})
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f)
    print(len(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
