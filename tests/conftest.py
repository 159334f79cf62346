"""Shared test fixtures: where the shared fixture data lives, and golden-file comparison."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
AGENT_FIXTURES = FIXTURES / "agents"
GOLDEN = Path(__file__).resolve().parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/ from the current output")


@pytest.fixture
def agent_fixtures() -> Path:
    if not AGENT_FIXTURES.is_dir():
        pytest.fail(f"shared agent fixtures not found at {AGENT_FIXTURES}")
    return AGENT_FIXTURES


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, object], None]:
    """Compare `data` (JSON-able, or text) with tests/golden/<name>, showing a unified diff.

    Run pytest with --update-golden to rewrite the file; reviewers then read the diff.
    """
    update = request.config.getoption("--update-golden")

    def check(name: str, data: object) -> None:
        path = GOLDEN / name
        text = data if isinstance(data, str) else json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
        if update or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            if not update:
                pytest.fail(f"golden file {path} did not exist; written now, review it and re-run")
            return
        expected = path.read_text()
        if expected != text:
            diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(path), "actual"))
            pytest.fail(f"output differs from {path}:\n{diff}")

    return check
