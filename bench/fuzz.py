"""Run the fuzz properties of the test suite for longer than CI does, and print what was run.

    .venv/bin/python bench/fuzz.py [--examples N]

The properties live in tests/test_fuzz_*.py (every adapter, the OTLP decoder) and
tests/test_repo_config.py (the config parser); CI runs them with a small example count.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="examples per property (CI: 60)")
    args = parser.parse_args()
    targets = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_fuzz_*.py"))
    targets.append("tests/test_repo_config.py")
    env = os.environ | {"AGENTSPEND_FUZZ_EXAMPLES": str(args.examples), "AGENTSPEND_FUZZ_RANDOM": "1"}
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:warnings",
                             "--hypothesis-show-statistics", *targets], cwd=ROOT, env=env)
    print(f"\n{args.examples} examples per property over {', '.join(targets)}: "
          f"{'no failure' if result.returncode == 0 else 'FAILURES above'} in {time.monotonic() - started:.0f} s")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
