"""The HTML report in headless Chromium: a diff full of <script>, event handlers,
javascript: URLs, bidi controls and ANSI escapes is scanned by a running server;
its report.html, served with the server's own headers, runs no script and shows
the hidden characters visibly.

usage: browser_report.py   (selenium installed; chromium + chromedriver on PATH)"""

import json
import os
import sys
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service

sys.path.insert(0, os.path.dirname(__file__))
from harness import Server  # noqa: E402

PAYLOADS = [
    "<script>window.__pwned = 1; alert('xss')</script>",
    '<img src=x onerror="window.__pwned = 2; alert(2)">',
    '<svg onload="window.__pwned = 3">',
    '"><iframe src="javascript:parent.__pwned = 4"></iframe>',
    "<a href=\"javascript:window.__pwned = 5\">click</a>",
    "<style>body{display:none}</style>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:window.__pwned=6\">",
    "if (isAdmin) { /* \u202e } \u2066 begin admins only */",
    "color: \x1b[31mred\x1b[0m and a bell \x07",
    "tag smuggling: \U000E0049\U000E0047\U000E004E",
]


def make_diff():
    lines = "".join(f"+{p}\n" for p in PAYLOADS)
    n = len(PAYLOADS)
    return (
        "diff --git a/docs/x.md b/docs/x.md\nnew file mode 100644\n--- /dev/null\n+++ b/docs/x.md\n"
        f"@@ -0,0 +1,{n} @@\n{lines}"
    ).encode("utf-8")


def api(srv, method, path, body=None, ctype=None):
    req = urllib.request.Request(srv.base + path, data=body, method=method)
    req.add_header("Authorization", f"Bearer {srv.tenant_key}")
    if ctype:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req, timeout=60) as r:
        return r.status, dict(r.headers), r.read()


def main():
    with Server() as srv:
        _, _, body = api(srv, "POST", "/v1/scans?wait=20", make_diff(), "text/x-diff")
        scan = json.loads(body)
        assert scan["status"] == "completed", scan
        report = f"/v1/scans/{scan['id']}/report.html"
        _, headers, html = api(srv, "GET", report)
        csp = headers.get("content-security-policy", "")
        assert "default-src 'none'" in csp and "script-src" not in csp, csp
        assert headers.get("x-content-type-options") == "nosniff", headers

        opts = webdriver.ChromeOptions()
        opts.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
            opts.add_argument(a)
        service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
        driver = webdriver.Chrome(service=service, options=opts)
        try:
            # The report needs the API key: send it on every request the page makes.
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd(
                "Network.setExtraHTTPHeaders",
                {"headers": {"Authorization": f"Bearer {srv.tenant_key}"}},
            )
            driver.get(srv.base + report)
            try:
                alert = driver.switch_to.alert
                raise AssertionError(f"a script ran: alert {alert.text!r}")
            except NoAlertPresentException:
                pass
            assert driver.execute_script("return window.__pwned === undefined"), "a payload ran"
            for f in driver.find_elements("tag name", "iframe"):
                raise AssertionError(f"an iframe was created: {f}")
            made = [e.tag_name for e in driver.find_elements("css selector", "script, img, svg, style, iframe, meta[http-equiv=refresh], a[href^=javascript]")]
            # The report's own <style> is the one allowed element of these.
            assert made == ["style"], f"payload markup became elements: {made}"
            text = driver.find_element("tag name", "body").text
            # The payloads are shown as text, and the hidden characters visibly.
            assert "<script>window.__pwned = 1" in text, text[:2000]
            assert 'onerror="window.__pwned = 2' in text
            for marker in ("U+202E", "U+2066", "U+001B", "U+0007", "U+E0049"):
                assert marker in text, f"{marker} not shown visibly"
            assert "\u202e" not in text and "\x1b" not in text, "raw control characters reached the page"
            print(f"browser: report of {scan['id']} ran no script; {len(PAYLOADS)} payloads shown as text, hidden characters visible")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
