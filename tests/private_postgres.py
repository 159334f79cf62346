"""A PostgreSQL server of the test's own, so a test may stop and restart it.

The machine's shared server must stay up for every other test; this one lives in a temp
directory on a free port and is thrown away afterwards. As root, the server runs as the
`postgres` user (initdb refuses root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from processes import free_port


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


@dataclass
class PrivatePostgres:
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(_bindir() / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.root / "data"), "-l", str(self.root / "log"), "-o", options, "-w", *extra, action)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.root / "data"), "-A", "trust", "-U", "postgres", "--no-sync")
        self.start()

    def start(self) -> None:
        self._ctl("start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` disconnects every client, as a restart by an operator or a failover does."""
        self._ctl("stop", "-m", mode)

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")


def start_private_postgres() -> PrivatePostgres:
    root = Path(tempfile.mkdtemp(prefix="agentspend-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    server = PrivatePostgres(root, free_port())
    server.init()
    return server


def remove(server: PrivatePostgres) -> None:
    try:
        server.stop("immediate")
    except subprocess.CalledProcessError:
        pass  # already stopped by the test
    shutil.rmtree(server.root, ignore_errors=True)
