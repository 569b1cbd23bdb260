"""A real `antrenor serve` process on loopback, for the serve tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """`python -m antrenor serve MODEL` on a free port; `stop()` terminates it (SIGTERM, then SIGKILL)."""

    def __init__(self, model: Path, folder: Path, *args: str, api_key: str | None = None):
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_db = folder / "requests.db"
        self.output = folder / "server.out"
        command = [sys.executable, "-m", "antrenor", "serve", "--model", str(model), "--port", str(self.port),
                   "--log-db", str(self.log_db), *args]
        env = {k: v for k, v in os.environ.items() if k != "ANTRENOR_API_KEY"}
        if api_key:
            env["ANTRENOR_API_KEY"] = api_key  # the environment variable, not the flag: also tests that path
        with self.output.open("wb") as sink:
            self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 90.0) -> "ServerProcess":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.output.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"the server did not answer /health within {timeout} s:\n{self.output.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
