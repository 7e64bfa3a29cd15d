"""Network helpers for tests that start servers: only 127.0.0.1, a free port each time."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, path: str = "", headers: dict | None = None, timeout: float = 120,
               proc: subprocess.Popen | None = None) -> None:
    """Block until 127.0.0.1:``port`` answers (``GET path`` below 500, or a TCP connect when ``path`` is empty).

    Raises RuntimeError with the server's stderr when ``proc`` exits first, TimeoutError after ``timeout``.
    """
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {err!s}")
        try:
            if not path:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            if httpx.get(f"http://127.0.0.1:{port}{path}", headers=headers, timeout=2).status_code < 500:
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"nothing answered on 127.0.0.1:{port}{path} within {timeout:.0f} s")


@contextmanager
def serve_cli(*args: str, path: str = "", headers: dict | None = None, timeout: float = 120) -> Iterator[int]:
    """Run ``python -m modelworks ARGS --port N`` on a free port; yield N once it answers; stop it afterwards."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "modelworks", *args, "--port", str(port)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(port, path, headers, timeout, proc)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
