"""Render reports with Jinja2: one environment, the same money and token formatting everywhere.

Templates receive finished view models; no arithmetic happens in a template.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from bot.github.facts import CheckAction, CheckOutput
from bot.report.build import Report

if TYPE_CHECKING:  # Jinja2 and the budget's config models cost 0.15 s to import; JSON needs neither
    import jinja2

    from bot.report.budget import Verdict

TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates"
COMMENT_LIMIT = 65_536
"""GitHub rejects a comment body longer than this (422)."""
CHECK_SUMMARY_LIMIT = 65_000
"""GitHub's limit on a check run's summary is 65,535 characters; this leaves room to spare."""
MAX_TABLE_ROWS = 15
"""Rows shown per breakdown before the rest is cut with a count."""


def usd(value: float | None) -> str:
    """Money as reviewers read it: cents for dollars, more digits only for sub-cent amounts."""
    if value is None:
        return "unpriced"
    if value == 0:
        return "$0.00"
    if abs(value) < 0.01:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def tokens(value: int) -> str:
    """1234 → 1.2k, 2_500_000 → 2.5M: token counts span seven orders of magnitude."""
    for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{suffix}"
    return str(value)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(usd=usd, tokens=tokens, when=when, cell=_cell)
    return env


def _cell(value: Any) -> str:
    """Make a value safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def comment(report: Report, **context: Any) -> str:
    """The Markdown a pull request comment (or `agentspend report`) shows, under GitHub's limit."""
    rows = MAX_TABLE_ROWS
    while True:
        text = environment().get_template("comment.md.j2").render(report=report, max_rows=rows, **context)
        if len(text) < COMMENT_LIMIT or rows <= 1:
            return text if len(text) < COMMENT_LIMIT else text[: COMMENT_LIMIT - 200] + "\n\n…cut to fit GitHub's limit.\n"
        rows = max(1, rows // 2)


def as_json(report: Report) -> bytes:
    """The JSON report as UTF-8 bytes (the API's and the database's copy)."""
    return b"".join(json_chunks(report))


def json_chunks(report: Report) -> Iterator[bytes]:
    """The JSON report in pieces, exactly as `orjson.dumps(report.as_dict(), option=OPT_INDENT_2)`
    writes it, with a final newline; one piece per session row.

    The rows are most of a large report (10 MB for 1 GB of logs). As one tree of dicts, then
    one buffer, they stood at the run's peak of memory beside the corpus; the offline report
    writes the pieces out as they come. Each value is dumped on its own and indented to its
    depth, which is safe because JSON text holds no newline outside whitespace.
    """
    for i, (key, value) in enumerate(report.as_dict(session_rows=False).items()):
        head = (b"{\n  " if i == 0 else b",\n  ") + orjson.dumps(key) + b": "
        if key == "sessions" and report.sessions:
            yield head
            for j, session in enumerate(report.sessions):
                row = orjson.dumps(session.as_dict(), option=orjson.OPT_INDENT_2)
                yield (b"[\n    " if j == 0 else b",\n    ") + _indented(row, b"    ")
            yield b"\n  ]"
        else:
            yield head + _indented(orjson.dumps(value, option=orjson.OPT_INDENT_2), b"  ")
    yield b"\n}\n"


def _indented(dumped: bytes, indent: bytes) -> bytes:
    return dumped.replace(b"\n", b"\n" + indent)


APPROVE_ACTION = CheckAction(label="Approve overrun", description="Approve this budget overrun", identifier="approve")


def check_output(report: Report, verdict: Verdict, details_url: str | None = None) -> CheckOutput:
    """The check run: conclusion and title from the verdict, the breakdown as the summary."""
    summary = _check_summary(report, verdict)
    actions = (APPROVE_ACTION,) if verdict.status == "over" and verdict.conclusion == "failure" else ()
    return CheckOutput(
        conclusion=verdict.conclusion, title=verdict.title[:255], summary=summary[:CHECK_SUMMARY_LIMIT],
        actions=actions, details_url=details_url,
    )


def _check_summary(report: Report, verdict: Verdict) -> str:
    """The summary lists every finding while they fit GitHub's limit; past it, fewer, with a count."""
    template, shown = environment().get_template("check_summary.md.j2"), None
    while True:
        text = template.render(report=report, verdict=verdict, shown=shown)
        if len(text) <= CHECK_SUMMARY_LIMIT or shown == 0:
            return text
        shown = len(report.findings) // 2 if shown is None else shown // 2


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


@lru_cache(maxsize=1)
def dashboard_environment() -> jinja2.Environment:
    """HTML pages: autoescaped (names in them come from logs and GitHub), same filters as the comment."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES / "dashboard"),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(usd=usd, tokens=tokens, when=when, pct=pct)
    return env


def dashboard(template: str, **context: Any) -> str:
    return dashboard_environment().get_template(template).render(**context)
