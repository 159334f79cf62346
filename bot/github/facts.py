"""What we know about a pull request from GitHub, in our own types.

githubkit models never leak past `bot.github.client`: the client returns these, the pure core
(attribution, budget, render) reads them, and the demo builds them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CommitFact:
    sha: str
    message: str
    """Only read for trailers (`Agent-Session:`) and revert lines; never stored whole."""
    authored_at: datetime | None = None
    author_login: str | None = None


@dataclass(frozen=True, slots=True)
class PullFacts:
    repo: str
    """`owner/name`, lower-cased."""
    number: int
    installation_id: int
    head_sha: str
    head_ref: str
    base_ref: str
    base_sha: str
    author: str | None = None
    labels: tuple[str, ...] = ()
    state: str = "open"
    merged: bool = False
    is_fork: bool = False
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    merged_at: datetime | None = None
    commits: tuple[CommitFact, ...] = ()
    config_text: str | None = None
    """`.github/agentspend.yml` at the base ref; None when the file does not exist."""


@dataclass(frozen=True, slots=True)
class CheckAction:
    label: str
    """≤ 20 characters (GitHub's limit)."""
    description: str
    """≤ 40 characters."""
    identifier: str
    """≤ 20 characters; comes back in `check_run.requested_action`."""


@dataclass(frozen=True, slots=True)
class CheckOutput:
    conclusion: str
    """success | failure | neutral: a required check must always complete."""
    title: str
    summary: str
    text: str | None = None
    actions: tuple[CheckAction, ...] = field(default_factory=tuple)
    details_url: str | None = None
