"""Decide which agent sessions a pull request's cost includes, and keep the evidence for each.

A reviewer trusts the figure only if every session in it says why it is there, and a session
counted on two pull requests, or on the wrong one, makes both figures lie. So `link` is pure:
GitHub facts and stored sessions in, links with their evidence (and the ties it refused to
break) out. Decisions, in the order `link` applies them:

- Evidence, strongest first (docs/design.md): `trailer` (a commit of the pull request carries
  `Agent-Session: <key>`), `commit` (a SHA the session recorded is one of the pull request's
  commits), `branch` (same repository and head branch, active during the pull request's
  lifetime). A session is linked once, with its strongest evidence.
- A trailer may name the session by its full key (`claude-code:4f1c…`) or by its native id
  alone (`4f1c…`): harnesses other than our hook know their own session id, not our runtime
  names, and native ids are random (UUIDs, rollout ids), so the bare id is just as specific.
  A trailer naming another runtime (`codex:4f1c…` for `claude-code:4f1c…`) does not match.
- A recorded SHA matches a pull request commit in full or as a prefix of at least 7 hex
  digits (git's shortest abbreviation); shorter prefixes are ignored as ambiguous.
- The pull request's lifetime runs from its earliest known moment (the earliest commit's
  author time, or `opened_at` if earlier or the only one known) minus `BRANCH_GRACE`, to
  `closed_at` (or without end while open); facts with no known moment at all (say, local git
  facts for `agentspend report`) give it no start. A session overlaps it when it ended at or
  after the start and started at or before the end. A session with no recorded time is not linked
  by branch: nothing shows it worked on this use of the branch name rather than an older one.
- Fork pull requests get no branch evidence: their head branch lives in another repository,
  which `PullFacts` does not name, and a session on a same-named branch of the base
  repository did not produce them. Nor, as another open pull request, do they tie with a
  branch of the base repository (the store keeps `is_fork` for that).
- A subagent session follows its parent: when the parent links, the subagent links with
  evidence `parent`, unless its own evidence is strictly stronger than the parent's.
- A session whose repository is unknown has no branch evidence of its own (only a trailer,
  a commit, or its parent's link), and when `owner_of` names the owner of the ingest token
  that brought it, it links only to that owner's pull requests.
- Ties: each other open pull request is judged the same way. When one of them has strictly
  stronger evidence for a session, the session is theirs and is left out here. When some
  match exactly as strongly, nobody counts the session and a `Tie` names the competitors, so
  the comment can say "also matches #7 by branch; not counted" instead of guessing.

Output is sorted (evidence, then session key), so the same facts always render the same
comment and an unchanged rendering is not re-sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from bot.github.facts import PullFacts
from bot.trace import Session

BRANCH_GRACE = timedelta(days=3)
"""How long before a pull request's first commit a session on its branch still counts.

Agents usually work before anything is committed, and people often commit or open the pull
request after a weekend: Friday afternoon to Monday morning is under three days. A branch
name reused weeks or months later stays far outside it.
"""

MIN_SHA_PREFIX = 7
"""git's shortest abbreviated SHA; anything shorter matches too much to be evidence."""

_TRAILER_KEY = "agent-session"
_TRAILER_LINE = re.compile(r"(?P<key>[A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:(?P<value>.*)")
_PARAGRAPH_BREAK = re.compile(r"\n(?:[ \t]*\n)+")


class Evidence(StrEnum):
    """Why a session is counted on a pull request; members run strongest first."""

    TRAILER = "trailer"
    COMMIT = "commit"
    BRANCH = "branch"
    PARENT = "parent"


@dataclass(frozen=True, slots=True)
class Link:
    """One session counted on the pull request, with the evidence the comment shows for it."""

    session_key: str
    evidence: Evidence
    detail: str
    """The PR commit carrying the trailer or matching a recorded SHA (full SHA), the branch and
    the session's active time, or `subagent of <parent key>`."""


@dataclass(frozen=True, slots=True)
class Tie:
    """A session that matches other open pull requests exactly as strongly, so none counts it."""

    session_key: str
    evidence: Evidence
    """The evidence this pull request has (`parent` when it comes through the parent)."""
    pulls: tuple[int, ...]
    """The competing pull request numbers, ascending."""


@dataclass(frozen=True, slots=True)
class Attribution:
    links: list[Link]
    ties: list[Tie]


class _Claim(NamedTuple):
    """A pull request's strongest evidence for one session; `strength` compares across PRs."""

    strength: int
    evidence: Evidence
    detail: str


_STRENGTH = {Evidence.TRAILER: 3, Evidence.COMMIT: 2, Evidence.BRANCH: 1}
_ORDER = {evidence: rank for rank, evidence in enumerate(Evidence)}


def trailer_sessions(message: str) -> tuple[str, ...]:
    """The `Agent-Session:` values in a commit message's trailer block, in order, without repeats.

    Read the way git reads trailers, a little stricter, so a session mentioned in prose is
    never evidence: the block is the last paragraph, never the first (that is the subject),
    and only when every line in it is a `Key: value` trailer or an indented continuation (git
    also accepts a block that is a quarter trailers when one is `Signed-off-by`). Keys compare
    case-insensitively (`agent-session:` and `Co-Authored-By:` both occur in practice).
    """
    paragraphs = [p for p in _PARAGRAPH_BREAK.split(message.replace("\r\n", "\n").strip()) if p.strip()]
    if len(paragraphs) < 2:
        return ()
    values: list[str] = []
    for number, line in enumerate(paragraphs[-1].split("\n")):
        if line[:1] in (" ", "\t") and number > 0:
            continue
        match = _TRAILER_LINE.fullmatch(line)
        if match is None:
            return ()
        value = match["value"].strip()
        if match["key"].lower() == _TRAILER_KEY and value and value not in values:
            values.append(value)
    return tuple(values)


def link(
    pr: PullFacts,
    candidates: Sequence[Session],
    open_prs: Sequence[PullFacts] = (),
    owner_of: Callable[[str], str | None] = lambda key: None,
) -> Attribution:
    """The sessions counted on `pr`, and the ones tied with other open pull requests.

    `candidates` are the sessions that might belong (keys are unique: sessions upsert by key);
    `open_prs` are the repository's other open pull requests (`pr` itself is skipped if
    present); `owner_of` gives the owner of the ingest token that brought a session, if known.
    """
    sessions = {session.key: session for session in candidates}
    mine = _claims(pr, sessions, owner_of)
    rivals = [(other.number, _claims(other, sessions, owner_of)) for other in open_prs if other.number != pr.number]
    links: list[Link] = []
    ties: list[Tie] = []
    for key, claim in mine.items():
        competing = [(number, claims[key].strength) for number, claims in rivals if key in claims]
        if any(strength > claim.strength for _, strength in competing):
            continue
        tied = tuple(sorted(number for number, strength in competing if strength == claim.strength))
        if tied:
            ties.append(Tie(key, claim.evidence, tied))
        else:
            links.append(Link(key, claim.evidence, claim.detail))
    links.sort(key=lambda item: (_ORDER[item.evidence], item.session_key))
    ties.sort(key=lambda item: (_ORDER[item.evidence], item.session_key))
    return Attribution(links, ties)


def _claims(
    pr: PullFacts, sessions: Mapping[str, Session], owner_of: Callable[[str], str | None]
) -> dict[str, _Claim]:
    """Each session's strongest evidence for `pr` alone, subagents resolved through their parents."""
    trailers = _trailer_commits(pr)
    start, end = _lifetime(pr)
    resolved: dict[str, _Claim | None] = {}

    def resolve(key: str, visiting: frozenset[str]) -> _Claim | None:
        if key not in resolved:
            session = sessions[key]
            if not _may_link(session, pr, owner_of):
                resolved[key] = None
                return None
            own = (
                _trailer_claim(session, trailers)
                or _commit_claim(session, pr)
                or _branch_claim(session, pr, start, end)
            )
            parent = session.parent_key
            # `visiting` only guards against a corrupt parent cycle; real chains are short.
            inherited = resolve(parent, visiting | {key}) if parent in sessions and parent not in visiting else None
            if inherited is not None and (own is None or own.strength <= inherited.strength):
                own = _Claim(inherited.strength, Evidence.PARENT, f"subagent of {parent}")
            resolved[key] = own
        return resolved[key]

    for key in sorted(sessions):
        resolve(key, frozenset())
    return {key: claim for key, claim in resolved.items() if claim is not None}


def _may_link(session: Session, pr: PullFacts, owner_of: Callable[[str], str | None]) -> bool:
    """The token-owner rule: a session of unknown repository stays with its token's owner."""
    if session.repo is not None:
        return True
    owner = owner_of(session.key)
    return owner is None or owner.casefold() == pr.repo.partition("/")[0].casefold()


def _trailer_commits(pr: PullFacts) -> dict[str, str]:
    """Each `Agent-Session:` value in the pull request → the first commit carrying it."""
    found: dict[str, str] = {}
    for commit in pr.commits:
        for value in trailer_sessions(commit.message):
            found.setdefault(value, commit.sha)
    return found


def _trailer_claim(session: Session, trailers: Mapping[str, str]) -> _Claim | None:
    native_id = session.key.partition(":")[2]
    sha = trailers.get(session.key) or (trailers.get(native_id) if native_id else None)
    return _Claim(_STRENGTH[Evidence.TRAILER], Evidence.TRAILER, sha) if sha else None


def _commit_claim(session: Session, pr: PullFacts) -> _Claim | None:
    recorded = [sha.lower() for sha in session.commits if len(sha) >= MIN_SHA_PREFIX]
    for commit in pr.commits:
        if any(commit.sha.lower().startswith(sha) for sha in recorded):
            return _Claim(_STRENGTH[Evidence.COMMIT], Evidence.COMMIT, commit.sha)
    return None


def _branch_claim(
    session: Session, pr: PullFacts, start: datetime | None, end: datetime | None
) -> _Claim | None:
    same_repo = session.repo is not None and session.repo.casefold() == pr.repo.casefold()
    if pr.is_fork or not same_repo or session.branch != pr.head_ref:
        return None
    active_from = session.started_at or session.ended_at
    active_to = session.ended_at or session.started_at
    if active_from is None or active_to is None:
        return None
    if (start is not None and active_to < start) or (end is not None and active_from > end):
        return None
    detail = f"branch {pr.head_ref}, active {_period(active_from, active_to)} within the PR's lifetime"
    return _Claim(_STRENGTH[Evidence.BRANCH], Evidence.BRANCH, detail)


def _lifetime(pr: PullFacts) -> tuple[datetime | None, datetime | None]:
    """When a session on the head branch counts: grace before the first known moment, to close."""
    known: Iterable[datetime | None] = (pr.opened_at, *(commit.authored_at for commit in pr.commits))
    first = min((moment for moment in known if moment is not None), default=None)
    return (first - BRANCH_GRACE if first is not None else None), pr.closed_at


def _period(start: datetime, end: datetime) -> str:
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"
    return f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"
