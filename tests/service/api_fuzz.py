"""schemathesis against a running server's /openapi.json: no 5xx, and every
response (status, content type, headers, body) conforms to the description.

usage: api_fuzz.py [MAX_EXAMPLES]   (schemathesis on PATH, DIFFVER_BIN set)"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import Server  # noqa: E402

max_examples = sys.argv[1] if len(sys.argv) > 1 else "25"
# The webhook route is on (a secret, no App: nothing leaves the machine), so the
# fuzzer reaches its signature check too.
with Server(env={"DIFFVER_GITHUB_WEBHOOK_SECRET": "a secret for the fuzzer only"}) as srv:
    # The admin key reaches every route (admin routes need it; tenant routes take
    # any key), so generated requests exercise handlers, not just the 401 path.
    cmd = [
        os.environ.get("SCHEMATHESIS", "schemathesis"), "run", f"{srv.base}/openapi.json",
        "--url", srv.base,
        "--header", f"Authorization: Bearer {srv.admin_key}",
        # Response conformance and rejection of schema-violating requests. Not
        # positive_data_acceptance: some rules (a policy body that loads, an expiry in
        # the future) are the server's to judge, not the schema's.
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,"
        "response_headers_conformance,response_schema_conformance,negative_data_rejection,"
        "missing_required_header,unsupported_method,use_after_free,ensure_resource_availability,ignored_auth",
        "--max-examples", max_examples,
        "--seed", "1",
        "--suppress-health-check", "all",
    ]
    r = subprocess.run(cmd)
    if r.returncode != 0:
        print("".join(srv.stderr_lines[-50:]))
    sys.exit(r.returncode)
