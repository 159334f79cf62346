"""Shared test fixtures: where the shared fixture data lives, and golden-file comparison."""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from fakes.github import fake_github  # noqa: F401  (the one fake GitHub, for every test)

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
AGENT_FIXTURES = FIXTURES / "agents"
GOLDEN = Path(__file__).resolve().parent / "golden"
FUZZ_RANDOM = bool(os.environ.get("AGENTSPEND_FUZZ_RANDOM"))
"""Whether the fuzz properties draw new examples each run. The suite runs them derandomized (the
same examples every time), so a landing cannot fail on a case Hypothesis happened to find that
day; bench/fuzz.py sets AGENTSPEND_FUZZ_RANDOM and runs many random examples to look for them."""


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


# --- databases: every test that takes `database_url` runs on SQLite and on real Postgres ---------

import asyncio  # noqa: E402
import shutil  # noqa: E402
import uuid  # noqa: E402

PG_ADMIN_URL = os.environ.get("AGENTSPEND_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _pg_execute(*statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _pg_url(name: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def _pg_template() -> object:
    """One migrated Postgres database per test run; each test gets a fresh copy of it."""
    from bot.db.engine import upgrade

    name = f"agentspend_tpl_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_pg_execute(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means Postgres tests cannot run
        pytest.fail(f"Postgres at {PG_ADMIN_URL} is not usable ({exc!r}); start it (see .ci/run)")
    upgrade(_pg_url(name))
    yield name
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bot.db.engine import upgrade

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> object:
    """A fresh, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "agentspend.db"
        shutil.copy(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("_pg_template")
    name = f"agentspend_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _pg_url(name)
    asyncio.run(_pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def engine(database_url: str) -> object:
    from bot.db.engine import make_engine

    engine = make_engine(database_url)
    yield engine
    await engine.dispose()
