"""bot.attribution: trailer blocks, each evidence level, subagents, the token-owner rule, ties."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.attribution import BRANCH_GRACE, Attribution, Evidence, Link, Tie, link, trailer_sessions
from bot.github.facts import CommitFact, PullFacts
from bot.trace import Runtime, Session

MONDAY = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
SHA_1 = "3f786850e387550fdab836ed7e6dc881de23001b"
SHA_2 = "89e6c98d92887913cadf06b2adb97f26cde4849b"
SHA_3 = "2b66fd261ee5c6cfc8de7fa466bab600bcfe4f69"
KEY = "claude-code:0b6f3c1e-7d5a-4e2b-9a41-1c2d3e4f5a6b"
BRANCH_DETAIL = "branch feature/x, active 2026-05-04 08:00–09:00 UTC within the PR's lifetime"
NATIVE_ID = KEY.partition(":")[2]
PUSH_WITH_TRAILERS = Path(__file__).resolve().parents[2] / "shared/fixtures/github/webhooks/push.trailers.json"


def commit(sha: str = SHA_1, message: str = "Change things", at: datetime | None = MONDAY) -> CommitFact:
    return CommitFact(sha, message, authored_at=at)


def pull(
    number: int = 1,
    *,
    commits: tuple[CommitFact, ...] = (commit(),),
    repo: str = "acme/app",
    head_ref: str = "feature/x",
    base_ref: str = "main",
    opened_at: datetime | None = MONDAY + timedelta(hours=4),
    closed_at: datetime | None = None,
    is_fork: bool = False,
) -> PullFacts:
    return PullFacts(
        repo=repo,
        number=number,
        installation_id=1,
        head_sha=commits[-1].sha,
        head_ref=head_ref,
        base_ref=base_ref,
        base_sha="0" * 40,
        state="open" if closed_at is None else "closed",
        is_fork=is_fork,
        opened_at=opened_at,
        closed_at=closed_at,
        commits=commits,
    )


def session(
    key: str = KEY,
    *,
    repo: str | None = "acme/app",
    branch: str | None = None,
    commits: tuple[str, ...] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    parent: str | None = None,
) -> Session:
    return Session(
        key=key,
        runtime=Runtime(key.partition(":")[0]),
        repo=repo,
        branch=branch,
        commits=list(commits),
        started_at=start,
        ended_at=end,
        parent_key=parent,
    )


def on_branch(
    key: str = KEY,
    *,
    repo: str | None = "acme/app",
    branch: str = "feature/x",
    commits: tuple[str, ...] = (),
    start: datetime | None = MONDAY - timedelta(hours=1),
    end: datetime | None = MONDAY,
    parent: str | None = None,
) -> Session:
    """A session on a branch (feature/x in acme/app, by default the hour before the first commit)."""
    return session(key, repo=repo, branch=branch, commits=commits, start=start, end=end, parent=parent)


def with_trailer(value: str, sha: str = SHA_1) -> CommitFact:
    return commit(sha, f"Add budget check\n\nAgent-Session: {value}")


# --- trailer_sessions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param("Fix\n\nAgent-Session: claude-code:a1", ("claude-code:a1",), id="one"),
        pytest.param(
            "Fix\n\nAgent-Session: claude-code:a1\nAgent-Session: codex:b2",
            ("claude-code:a1", "codex:b2"),
            id="several, in order",
        ),
        pytest.param("Fix\n\nagent-session: codex:b2", ("codex:b2",), id="lowercase key"),
        pytest.param("Fix\n\nAGENT-SESSION: codex:b2", ("codex:b2",), id="uppercase key"),
        pytest.param(
            "Fix\n\nBody text.\n\nCo-authored-by: Claude <noreply@anthropic.com>\n"
            "Agent-Session: claude-code:a1\nSigned-off-by: Ann <ann@example.com>",
            ("claude-code:a1",),
            id="among other trailers",
        ),
        pytest.param("Fix\n\nAgent-Session :   claude-code:a1   ", ("claude-code:a1",), id="spaces around colon"),
        pytest.param(
            "Fix\r\n\r\nAgent-Session: claude-code:a1\r\n\r\n\r\n", ("claude-code:a1",), id="CRLF, trailing blanks"
        ),
        pytest.param("Fix\n\n\n  \nBody\n \n\nAgent-Session: claude-code:a1", ("claude-code:a1",), id="blank runs"),
        pytest.param(
            "Fix\n\nCo-authored-by: A very long name\n  that wraps <a@example.com>\nAgent-Session: claude-code:a1",
            ("claude-code:a1",),
            id="continuation line",
        ),
        pytest.param(
            "Fix\n\nAgent-Session: claude-code:a1\nAgent-Session: claude-code:a1", ("claude-code:a1",), id="repeat once"
        ),
        pytest.param("Fix\n\nAgent-Session:\nAgent-Session: codex:b2", ("codex:b2",), id="empty value skipped"),
        pytest.param(
            "Fix\n\nAgent-Session: claude-code:a1\n\nSigned-off-by: Ann <ann@example.com>", (), id="mid-body paragraph"
        ),
        pytest.param(
            "Fix\n\nNote the run: see below.\nWe used Agent-Session: claude-code:a1 here.", (), id="prose line in block"
        ),
        pytest.param("Fix\n\nSee the notes.\nAgent-Session: claude-code:a1", (), id="block with a non-trailer line"),
        pytest.param(
            "Fix\n\n    make test\nAgent-Session: claude-code:a1", (), id="indented first line is no continuation"
        ),
        pytest.param("Agent-Session: claude-code:a1", (), id="subject only"),
        pytest.param("Fix\nAgent-Session: claude-code:a1", (), id="no blank line after subject"),
        pytest.param("Fix\n\nX-Agent-Session: claude-code:a1\nAgent-Sessions: codex:b2", (), id="other keys"),
        pytest.param("", (), id="empty"),
    ],
)
def test_trailer_sessions(message: str, expected: tuple[str, ...]) -> None:
    assert trailer_sessions(message) == expected


def test_trailer_sessions_reads_a_real_trailer_block() -> None:
    """GitHub's own push payload: its trailer block takes our trailer and still yields only ours."""
    payload = json.loads(PUSH_WITH_TRAILERS.read_text())
    messages = [c["message"] for c in payload.get("payload", payload)["commits"]]
    assert all("\n\n" in m and trailer_sessions(m) == () for m in messages)
    assert [trailer_sessions(f"{m}\nAgent-Session: {KEY}") for m in messages] == [(KEY,)] * len(messages)


# --- each evidence level ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pr", "candidate", "expected"),
    [
        pytest.param(
            pull(commits=(commit(SHA_1), with_trailer(KEY, SHA_2), with_trailer(KEY, SHA_3))),
            session(),
            Link(KEY, Evidence.TRAILER, SHA_2),
            id="trailer: full key, first commit carrying it",
        ),
        pytest.param(
            pull(commits=(with_trailer(NATIVE_ID),)),
            session(),
            Link(KEY, Evidence.TRAILER, SHA_1),
            id="trailer: bare id",
        ),
        pytest.param(pull(commits=(with_trailer(f"codex:{NATIVE_ID}"),)), session(), None, id="trailer: other runtime"),
        pytest.param(pull(commits=(with_trailer("claude-code:0b6f"),)), session(), None, id="trailer: other id"),
        pytest.param(
            pull(commits=(commit(SHA_1), commit(SHA_2))),
            session(commits=(SHA_2,)),
            Link(KEY, Evidence.COMMIT, SHA_2),
            id="commit: full SHA",
        ),
        pytest.param(
            pull(commits=(commit(SHA_1), commit(SHA_2))),
            session(commits=(SHA_2[:7].upper(),)),
            Link(KEY, Evidence.COMMIT, SHA_2),
            id="commit: 7-digit prefix, any case",
        ),
        pytest.param(pull(), session(commits=(SHA_1[:6],)), None, id="commit: 6 digits are not evidence"),
        pytest.param(pull(), session(commits=(SHA_2,)), None, id="commit: not in the PR"),
        pytest.param(
            pull(),
            on_branch(),
            Link(KEY, Evidence.BRANCH, BRANCH_DETAIL),
            id="branch",
        ),
        pytest.param(
            pull(),
            on_branch(start=MONDAY - timedelta(days=1, hours=1), end=MONDAY + timedelta(hours=1)),
            Link(
                KEY,
                Evidence.BRANCH,
                "branch feature/x, active 2026-05-03 08:00 – 2026-05-04 10:00 UTC within the PR's lifetime",
            ),
            id="branch: over midnight",
        ),
        pytest.param(pull(repo="acme/App"), on_branch(repo="ACME/app"), Evidence.BRANCH, id="branch: repo case"),
        pytest.param(pull(), on_branch(repo="acme/other"), None, id="branch: other repository"),
        pytest.param(pull(), on_branch(branch="feature/y"), None, id="branch: other branch"),
        pytest.param(pull(), on_branch(branch="Feature/X"), None, id="branch: names are case-sensitive"),
        pytest.param(pull(is_fork=True), on_branch(), None, id="branch: fork PRs have none"),
        pytest.param(pull(), on_branch(start=None, end=None), None, id="branch: session without times"),
        pytest.param(pull(), session(), None, id="no evidence"),
    ],
)
def test_each_evidence_level(pr: PullFacts, candidate: Session, expected: Link | Evidence | None) -> None:
    links = link(pr, [candidate]).links
    if expected is None:
        assert links == []
    elif isinstance(expected, Evidence):
        assert [item.evidence for item in links] == [expected]
    else:
        assert links == [expected]


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        pytest.param(on_branch(commits=(SHA_1,)), Evidence.TRAILER, id="trailer beats commit and branch"),
        pytest.param(on_branch(key="codex:77aa", commits=(SHA_1,)), Evidence.COMMIT, id="commit beats branch"),
    ],
)
def test_a_session_is_linked_once_with_its_strongest_evidence(candidate: Session, expected: Evidence) -> None:
    pr = pull(commits=(with_trailer(KEY),))
    assert [(item.session_key, item.evidence) for item in link(pr, [candidate]).links] == [(candidate.key, expected)]


# --- lifetime boundaries ----------------------------------------------------------------------

FIRST_COMMIT = MONDAY
CLOSED = MONDAY + timedelta(days=2)


@pytest.mark.parametrize(
    ("start", "end", "linked"),
    [
        pytest.param(MONDAY + timedelta(hours=1), MONDAY + timedelta(hours=2), True, id="inside"),
        pytest.param(MONDAY - timedelta(days=2, hours=20), MONDAY - timedelta(days=2), True, id="within grace"),
        pytest.param(
            FIRST_COMMIT - BRANCH_GRACE - timedelta(hours=1), FIRST_COMMIT - BRANCH_GRACE, True, id="ends at grace"
        ),
        pytest.param(
            FIRST_COMMIT - BRANCH_GRACE - timedelta(hours=2),
            FIRST_COMMIT - BRANCH_GRACE - timedelta(minutes=1),
            False,
            id="ends before grace",
        ),
        pytest.param(
            MONDAY - timedelta(days=120), MONDAY - timedelta(days=119), False, id="branch name reused months earlier"
        ),
        pytest.param(MONDAY - timedelta(days=9), MONDAY + timedelta(days=9), True, id="spans the whole lifetime"),
        pytest.param(CLOSED, CLOSED + timedelta(hours=1), True, id="starts at close"),
        pytest.param(CLOSED + timedelta(minutes=1), CLOSED + timedelta(hours=1), False, id="starts after close"),
        pytest.param(None, MONDAY + timedelta(hours=1), True, id="only an end time"),
        pytest.param(CLOSED + timedelta(minutes=1), None, False, id="only a start time, after close"),
    ],
)
def test_branch_overlap_with_a_closed_pull_request(start: datetime | None, end: datetime | None, linked: bool) -> None:
    pr = pull(commits=(commit(at=FIRST_COMMIT),), closed_at=CLOSED)
    assert bool(link(pr, [on_branch(start=start, end=end)]).links) is linked


@pytest.mark.parametrize(
    ("pr", "linked"),
    [
        pytest.param(pull(closed_at=None), True, id="open: no end"),
        pytest.param(
            pull(commits=(commit(at=MONDAY + timedelta(days=90)),), opened_at=MONDAY - timedelta(days=2)),
            True,
            id="opened_at earlier than any commit anchors the start",
        ),
        pytest.param(
            pull(commits=(commit(at=MONDAY + timedelta(days=60)),), opened_at=MONDAY + timedelta(days=60)),
            False,
            id="PR lifetime starts months after the session",
        ),
        pytest.param(
            pull(commits=(commit(at=None),), opened_at=MONDAY + BRANCH_GRACE + timedelta(days=1)),
            False,
            id="no author times: opened_at anchors",
        ),
        pytest.param(pull(commits=(commit(at=None),), opened_at=None), True, id="no known moment: no start"),
    ],
)
def test_branch_lifetime_start(pr: PullFacts, linked: bool) -> None:
    late_session = on_branch(start=MONDAY + timedelta(days=100), end=MONDAY + timedelta(days=100, hours=1))
    early_session = on_branch("codex:early", start=MONDAY - timedelta(hours=2), end=MONDAY - timedelta(hours=1))
    keys = [item.session_key for item in link(pr, [late_session, early_session]).links]
    assert ("codex:early" in keys) is linked
    assert KEY in keys  # a session after the start of an open PR always overlaps it


# --- subagents --------------------------------------------------------------------------------

PARENT = "claude-code:parent"
CHILD = "claude-code:child"
GRANDCHILD = "claude-code:grandchild"


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        pytest.param(
            [session(PARENT, commits=(SHA_1,)), session(CHILD, parent=PARENT), session(GRANDCHILD, parent=CHILD)],
            [
                Link(PARENT, Evidence.COMMIT, SHA_1),
                Link(CHILD, Evidence.PARENT, f"subagent of {PARENT}"),
                Link(GRANDCHILD, Evidence.PARENT, f"subagent of {CHILD}"),
            ],
            id="children and grandchildren follow",
        ),
        pytest.param(
            [session(PARENT, commits=(SHA_1,)), on_branch(CHILD, parent=PARENT)],
            [Link(PARENT, Evidence.COMMIT, SHA_1), Link(CHILD, Evidence.PARENT, f"subagent of {PARENT}")],
            id="own weaker evidence ignored",
        ),
        pytest.param(
            [session(PARENT, commits=(SHA_1,)), session(CHILD, commits=(SHA_1,), parent=PARENT)],
            [Link(PARENT, Evidence.COMMIT, SHA_1), Link(CHILD, Evidence.PARENT, f"subagent of {PARENT}")],
            id="own equal evidence: still the parent's",
        ),
        pytest.param(
            [on_branch(PARENT), session(CHILD, commits=(SHA_1,), parent=PARENT)],
            [Link(CHILD, Evidence.COMMIT, SHA_1), Link(PARENT, Evidence.BRANCH, BRANCH_DETAIL)],
            id="own stronger evidence kept",
        ),
        pytest.param([session(PARENT), session(CHILD, parent=PARENT)], [], id="parent not linked"),
        pytest.param(
            [session(CHILD, commits=(SHA_1,), parent=PARENT)],
            [Link(CHILD, Evidence.COMMIT, SHA_1)],
            id="parent not a candidate: own evidence",
        ),
        pytest.param(
            [session(PARENT, commits=(SHA_1,), parent=CHILD), session(CHILD, parent=PARENT)],
            [Link(PARENT, Evidence.COMMIT, SHA_1), Link(CHILD, Evidence.PARENT, f"subagent of {PARENT}")],
            id="corrupt parent cycle terminates",
        ),
    ],
)
def test_subagents_follow_their_parent(candidates: list[Session], expected: list[Link]) -> None:
    assert link(pull(), candidates).links == expected


# --- sessions of unknown repository -----------------------------------------------------------


@pytest.mark.parametrize(
    ("pr", "candidate", "owner", "expected"),
    [
        pytest.param(pull(), on_branch(repo=None), None, None, id="never by branch"),
        pytest.param(pull(), on_branch(repo=None, commits=(SHA_1,)), None, Evidence.COMMIT, id="by commit"),
        pytest.param(pull(commits=(with_trailer(KEY),)), session(repo=None), None, Evidence.TRAILER, id="by trailer"),
        pytest.param(
            pull(commits=(with_trailer(KEY),)), session(repo=None), "Acme", Evidence.TRAILER, id="token owner's PR"
        ),
        pytest.param(pull(commits=(with_trailer(KEY),)), session(repo=None), "mallory", None, id="another owner's PR"),
        pytest.param(
            pull(), session(repo=None, commits=(SHA_1,)), "mallory", None, id="another owner's PR, by commit"
        ),
        pytest.param(
            pull(), on_branch(commits=(SHA_1,)), "mallory", Evidence.COMMIT, id="known repository: owner not asked"
        ),
    ],
)
def test_unknown_repository_sessions(
    pr: PullFacts, candidate: Session, owner: str | None, expected: Evidence | None
) -> None:
    asked: list[str] = []

    def owner_of(key: str) -> str | None:
        asked.append(key)
        return owner

    links = link(pr, [candidate], owner_of=owner_of).links
    assert [item.evidence for item in links] == ([expected] if expected else [])
    assert asked == ([] if candidate.repo else [KEY])


def test_an_unknown_repository_subagent_of_another_owner_does_not_follow_its_parent() -> None:
    candidates = [session(PARENT, commits=(SHA_1,)), session(CHILD, repo=None, parent=PARENT)]
    owners = {CHILD: "mallory"}
    assert [item.session_key for item in link(pull(), candidates, owner_of=owners.get).links] == [PARENT]
    owners = {CHILD: "acme"}
    assert [item.session_key for item in link(pull(), candidates, owner_of=owners.get).links] == [PARENT, CHILD]


# --- ties between open pull requests ----------------------------------------------------------


def test_same_head_branch_into_two_bases_is_a_tie_by_branch() -> None:
    mine, release = pull(1), pull(7, commits=(commit(SHA_2),), base_ref="release-1.2")
    result = link(mine, [on_branch()], open_prs=[mine, release])
    assert result == Attribution(links=[], ties=[Tie(KEY, Evidence.BRANCH, (7,))])
    assert link(release, [on_branch()], open_prs=[mine, release]).ties == [Tie(KEY, Evidence.BRANCH, (1,))]


def test_a_fork_with_the_same_branch_name_does_not_compete() -> None:
    mine, fork = pull(1), pull(7, commits=(commit(SHA_2),), is_fork=True)
    assert link(mine, [on_branch()], open_prs=[fork]).links[0].evidence is Evidence.BRANCH
    assert link(fork, [on_branch()], open_prs=[mine]) == Attribution(links=[], ties=[])


def test_stacked_pull_requests_sharing_a_commit_tie_by_commit() -> None:
    lower = pull(3, head_ref="feature/a", commits=(commit(SHA_1),))
    upper = pull(4, head_ref="feature/b", commits=(commit(SHA_1), commit(SHA_2)))
    top = pull(5, head_ref="feature/c", commits=(commit(SHA_1), commit(SHA_2), commit(SHA_3)))
    worked = session(commits=(SHA_1,), branch="feature/b", start=MONDAY, end=MONDAY)
    stack = [lower, upper, top]
    assert link(upper, [worked], open_prs=stack) == Attribution([], [Tie(KEY, Evidence.COMMIT, (3, 5))])
    assert link(lower, [worked], open_prs=stack).ties == [Tie(KEY, Evidence.COMMIT, (4, 5))]


def test_strictly_stronger_evidence_wins_without_a_tie() -> None:
    with_the_trailer = pull(1, commits=(with_trailer(KEY),))
    same_branch = pull(7, commits=(commit(SHA_2),), base_ref="release-1.2")
    both = [with_the_trailer, same_branch]
    assert link(with_the_trailer, [on_branch()], open_prs=both) == Attribution(
        [Link(KEY, Evidence.TRAILER, SHA_1)], []
    )
    assert link(same_branch, [on_branch()], open_prs=both) == Attribution([], [])


def test_a_subagent_of_a_tied_parent_is_tied_through_its_parent() -> None:
    mine, release = pull(1), pull(7, commits=(commit(SHA_2),), base_ref="release-1.2")
    result = link(mine, [on_branch(PARENT), session(CHILD, parent=PARENT)], open_prs=[release])
    assert result == Attribution([], [Tie(PARENT, Evidence.BRANCH, (7,)), Tie(CHILD, Evidence.PARENT, (7,))])


# --- determinism ------------------------------------------------------------------------------


def test_output_order_does_not_depend_on_input_order() -> None:
    pr = pull(1, commits=(with_trailer("codex:t1", SHA_1), commit(SHA_2)))
    candidates = [
        session("codex:t1"),
        session("opencode:c2", commits=(SHA_2,)),
        session("gemini-cli:c1", commits=(SHA_2[:9],)),
        on_branch("cursor:b1"),
        on_branch("claude-code:tied"),
        session("claude-code:sub", parent="codex:t1"),
        session("claude-code:unrelated", branch="other"),
        session("claude-code:a-sub", parent="cursor:b1"),
    ]
    rival = pull(9, commits=(commit(SHA_3),), base_ref="release-1.2")
    older_rival = pull(2, commits=(commit(SHA_3),), base_ref="release-1.1")
    unrelated_pr = pull(8, commits=(commit(SHA_3),), head_ref="feature/z")
    expected = link(pr, candidates, open_prs=[rival, unrelated_pr, older_rival])
    assert [(item.session_key, item.evidence) for item in expected.links] == [
        ("codex:t1", Evidence.TRAILER),
        ("gemini-cli:c1", Evidence.COMMIT),
        ("opencode:c2", Evidence.COMMIT),
        ("claude-code:sub", Evidence.PARENT),
    ]
    assert expected.ties == [
        Tie("claude-code:tied", Evidence.BRANCH, (2, 9)),
        Tie("cursor:b1", Evidence.BRANCH, (2, 9)),
        Tie("claude-code:a-sub", Evidence.PARENT, (2, 9)),
    ]
    shuffler = random.Random(4)
    for _ in range(20):
        shuffler.shuffle(candidates)
        others = shuffler.sample([rival, unrelated_pr, older_rival, pr], 4)
        assert link(pr, candidates, open_prs=others) == expected
