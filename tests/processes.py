"""Helpers for tests that run `agentspend serve` (or a server of their own) as a real process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable

import httpx

AGENTSPEND = [sys.executable, "-m", "bot"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until `GET /healthz` answers 200; a server that exits first fails the test with its stderr."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            stderr = server.stderr.read() if server.stderr else ""
            raise AssertionError(f"serve exited with {server.returncode}: {stderr}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"serve did not become healthy in {timeout:.0f} s")


def until(condition: Callable[[], object], timeout: float = 60.0, poll: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(poll)


def stop(server: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM (a graceful shutdown), then SIGKILL if it does not end in time."""
    server.terminate()
    try:
        server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
