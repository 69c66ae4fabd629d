"""Start a throw-away `diffver serve` (embedded default in a temporary directory,
a free loopback port) and read the keys its first start prints."""

import os
import re
import socket
import subprocess
import tempfile
import threading
import time


class Server:
    def __init__(self, binary=None, args=(), env=None):
        self.binary = os.path.abspath(binary or os.environ.get("DIFFVER_BIN", "target/debug/diffver"))
        self.args = list(args)
        self.extra_env = dict(env or {})

    def __enter__(self):
        self.dir = tempfile.TemporaryDirectory()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DIFFVER_", "AWS_"))}
        env["RUST_LOG"] = "warn"
        env.update(self.extra_env)
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--listen", f"127.0.0.1:{port}", *self.args],
            cwd=self.dir.name, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.stdout_lines = []
        self.stderr_lines = []
        threading.Thread(target=self._drain, args=(self.proc.stdout, self.stdout_lines), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stderr, self.stderr_lines), daemon=True).start()
        deadline = time.time() + 60
        while time.time() < deadline:
            if any("listening on" in l for l in self.stderr_lines) and any("admin key:" in l for l in self.stdout_lines):
                break
            if self.proc.poll() is not None:
                raise RuntimeError("diffver serve exited: " + "".join(self.stderr_lines))
            time.sleep(0.05)
        else:
            raise RuntimeError("diffver serve did not start")
        text = "".join(self.stdout_lines)
        self.tenant_key = re.search(r"tenant key: (dv_\S+)", text).group(1)
        self.admin_key = re.search(r"admin key:\s+(dv_\S+)", text).group(1)
        return self

    @staticmethod
    def _drain(stream, into):
        for line in stream:
            into.append(line)

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.dir.cleanup()
        return False
