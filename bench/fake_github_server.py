"""The test suite's fake GitHub as a process of its own, for benchmarks of `agentspend serve`.

    python bench/fake_github_server.py PORT_FILE [--latency SECONDS]

Seeds Hello-World's pull request #2 (the world of GitHub's webhook examples), writes its base
URL to PORT_FILE and serves until killed. A separate process, so its replies do not compete
for the load generator's interpreter lock.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from fakes.github import Commit, FakeGitHub  # noqa: E402

HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url_file", type=Path)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    args = parser.parse_args()
    fake = FakeGitHub().start()
    fake.latency = args.latency
    fake.seed_hello_world(commits=[Commit(HEAD, "Update README\n\nAgent-Session: claude-code:bench-session\n",
                                          date="2019-05-15T15:10:00Z")])
    fake.add_file("Codertocat/Hello-World", ".github/agentspend.yml", "version: 1\nbudget:\n  pr: 20\n", ref="master")
    args.url_file.write_text(fake.url)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    fake.stop()


if __name__ == "__main__":
    main()
