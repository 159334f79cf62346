"""Webhook signatures, and every shared webhook fixture read into our narrow event models."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from bot.github.events import (
    HANDLED,
    CheckRunEvent,
    CheckSuiteEvent,
    EventError,
    InstallationEvent,
    InstallationRepositoriesEvent,
    IssueCommentEvent,
    PingEvent,
    PullRequestEvent,
    PushEvent,
    agent_session_trailers,
    parse,
    reverted_pull,
    reverted_shas,
    sign,
    slash_command,
    verify,
)
from conftest import FIXTURES

WEBHOOKS = FIXTURES / "github" / "webhooks"
FIXTURE_FILES = sorted(WEBHOOKS.glob("*.json"))

HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
BASE = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
MERGE = "c4295bd74fb0f4fda03689c3df3f2803b658fd85"

MODEL_OF_EVENT = {
    "check_run": CheckRunEvent,
    "check_suite": CheckSuiteEvent,
    "installation": InstallationEvent,
    "installation_repositories": InstallationRepositoriesEvent,
    "issue_comment": IssueCommentEvent,
    "ping": PingEvent,
    "pull_request": PullRequestEvent,
    "push": PushEvent,
}


def event_name(path: Path) -> str:
    """The X-GitHub-Event header a fixture was delivered with (SOURCES.md: the part before the first dot)."""
    return path.name.split(".", 1)[0]


def payload(name: str) -> dict[str, Any]:
    return json.loads((WEBHOOKS / name).read_bytes())


def parsed(name: str, payload_: dict[str, Any] | None = None) -> Any:
    path = WEBHOOKS / name
    return parse(event_name(path), path.read_bytes() if payload_ is None else payload_)


def without(data: dict[str, Any], *path: str | int) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    target: Any = changed
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return changed


def with_value(data: dict[str, Any], path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    changed = copy.deepcopy(data)
    target: Any = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return changed


# --- signatures ---------------------------------------------------------------------------------

GITHUB_VECTOR_SECRET = "It's a Secret to Everybody"
GITHUB_VECTOR_BODY = b"Hello, World!"
GITHUB_VECTOR_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_sign_reproduces_githubs_published_vector() -> None:
    assert sign(GITHUB_VECTOR_BODY, GITHUB_VECTOR_SECRET) == GITHUB_VECTOR_SIGNATURE


def test_verify_accepts_githubs_published_vector() -> None:
    assert verify(GITHUB_VECTOR_BODY, GITHUB_VECTOR_SIGNATURE, [GITHUB_VECTOR_SECRET])


def test_verify_accepts_old_and_new_secret_while_both_are_configured() -> None:
    body = (WEBHOOKS / "pull_request.opened.json").read_bytes()
    secrets = ["new-secret", "old-secret"]
    assert verify(body, sign(body, "old-secret"), secrets)
    assert verify(body, sign(body, "new-secret"), secrets)
    assert not verify(body, sign(body, "old-secret"), ["new-secret"])


@pytest.mark.parametrize(
    ("body", "header", "secrets"),
    [
        pytest.param(GITHUB_VECTOR_BODY, sign(GITHUB_VECTOR_BODY, "wrong"), [GITHUB_VECTOR_SECRET], id="wrong-secret"),
        pytest.param(b"Hello, World?", GITHUB_VECTOR_SIGNATURE, [GITHUB_VECTOR_SECRET], id="tampered-body"),
        pytest.param(GITHUB_VECTOR_BODY, None, [GITHUB_VECTOR_SECRET], id="missing-header"),
        pytest.param(GITHUB_VECTOR_BODY, "", [GITHUB_VECTOR_SECRET], id="empty-header"),
        pytest.param(GITHUB_VECTOR_BODY, GITHUB_VECTOR_SIGNATURE, [], id="no-secrets"),
        pytest.param(
            GITHUB_VECTOR_BODY, GITHUB_VECTOR_SIGNATURE.removeprefix("sha256="), [GITHUB_VECTOR_SECRET], id="no-prefix"
        ),
        pytest.param(GITHUB_VECTOR_BODY, GITHUB_VECTOR_SIGNATURE.upper(), [GITHUB_VECTOR_SECRET], id="wrong-case"),
        pytest.param(GITHUB_VECTOR_BODY, "sha256=é" + "0" * 63, [GITHUB_VECTOR_SECRET], id="non-ascii-header"),
        pytest.param(b"x", sign(b"x", ""), ["", "real-secret"], id="blank-secret-is-skipped"),
    ],
)
def test_verify_rejects(body: bytes, header: str | None, secrets: list[str]) -> None:
    assert verify(body, header, secrets) is False


def test_verify_never_accepts_the_legacy_sha1_header() -> None:
    sha1 = "sha1=" + hmac.new(GITHUB_VECTOR_SECRET.encode(), GITHUB_VECTOR_BODY, hashlib.sha1).hexdigest()
    assert not verify(GITHUB_VECTOR_BODY, sha1, [GITHUB_VECTOR_SECRET])


def test_verify_refuses_one_string_as_the_secrets() -> None:
    # Iterating "ab" would accept anything signed with "a" or with "b".
    with pytest.raises(TypeError):
        verify(b"x", sign(b"x", "a"), "ab")


# --- every fixture parses -----------------------------------------------------------------------


def test_the_fixture_directory_is_there() -> None:
    assert len(FIXTURE_FILES) >= 23, f"webhook fixtures missing under {WEBHOOKS}"


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: path.name)
def test_every_fixture_parses_into_its_model(path: Path) -> None:
    event = parse(event_name(path), path.read_bytes())
    assert isinstance(event, MODEL_OF_EVENT[event_name(path)])
    assert parse(event_name(path), json.loads(path.read_bytes())) == event


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda path: path.name)
def test_every_fixture_is_a_handled_event_and_action(path: Path) -> None:
    assert (event_name(path), json.loads(path.read_bytes()).get("action")) in HANDLED


def test_handled_pairs() -> None:
    assert HANDLED == {
        ("pull_request", "opened"),
        ("pull_request", "reopened"),
        ("pull_request", "synchronize"),
        ("pull_request", "edited"),
        ("pull_request", "labeled"),
        ("pull_request", "unlabeled"),
        ("pull_request", "closed"),
        ("push", None),
        ("check_run", "rerequested"),
        ("check_run", "requested_action"),
        ("check_suite", "requested"),
        ("check_suite", "rerequested"),
        ("issue_comment", "created"),
        ("installation", "created"),
        ("installation", "deleted"),
        ("installation", "suspend"),
        ("installation", "unsuspend"),
        ("installation_repositories", "added"),
        ("installation_repositories", "removed"),
        ("ping", None),
    }


# --- the facts each fixture carries ---------------------------------------------------------------


PR_2 = {
    "installation_id": 1,
    "repo": "codertocat/hello-world",
    "number": 2,
    "head_sha": HEAD,
    "head_ref": "changes",
    "head_repo": "codertocat/hello-world",
    "is_fork": False,
    "base_sha": BASE,
    "base_ref": "master",
    "author": "Codertocat",
    "labels": ("bug",),
    "reverts": None,
}

FACTS: dict[str, dict[str, object]] = {
    "pull_request.opened.json": {**PR_2, "action": "opened", "state": "open", "merged": False, "base_changed": False},
    "pull_request.reopened.json": {**PR_2, "action": "reopened", "closed_at": None},
    "pull_request.synchronize.json": {**PR_2, "action": "synchronize", "before": BASE, "after": HEAD},
    "pull_request.edited.json": {**PR_2, "action": "edited", "base_changed": False},
    "pull_request.edited.base-changed.json": {**PR_2, "action": "edited", "base_changed": True},
    "pull_request.labeled.json": {**PR_2, "action": "labeled", "labels": ("bug",)},
    "pull_request.closed.merged.json": {
        **PR_2,
        "state": "closed",
        "merged": True,
        "merge_commit_sha": MERGE,
    },
    "pull_request.closed.unmerged.json": {**PR_2, "state": "closed", "merged": False, "merged_at": None},
    "push.branch.json": {
        "branch": "master",
        "deleted": False,
        "head_commit_id": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    },
    "push.tag.json": {"branch": None, "deleted": True, "commits": (), "head_commit_id": None},
    "push.revert.json": {"branch": "master", "before": MERGE, "forced": False},
    "push.trailers.json": {"branch": "changes", "before": HEAD, "installation_id": 1},
    "check_run.requested_action.json": {
        "repo": "electron/electron",
        "installation_id": 690857,
        "check_run_id": 1494503112,
        "name": "API Review",
        "head_sha": "5bd5f196a46b8222fb7484f05faba41a73cf34bd",
        "app_id": 25811,
        "pull_numbers": (26764,),
        "requested_action": "lgtm|26764",
    },
    "check_run.rerequested.json": {"check_run_id": 4, "app_id": 2, "pull_numbers": (), "requested_action": None},
    "check_suite.requested.json": {"action": "requested", "head_sha": BASE, "head_branch": "master"},
    "check_suite.rerequested.json": {"head_sha": HEAD, "head_branch": "changes", "app_id": 29310, "pull_numbers": (2,)},
    "issue_comment.created.json": {"is_pull_request": True, "issue_number": 1, "comment_id": 492700400},
    "issue_comment.created.on-issue.json": {"is_pull_request": False, "command": None, "by_bot": False},
    "installation.created.json": {
        "installation_id": 957387,
        "account_login": "Codertocat",
        "account_type": "User",
        "repositories": ("codertocat/hello-world",),
    },
    "installation.deleted.json": {"action": "deleted", "installation_id": 2, "account_login": "octocat"},
    "installation_repositories.added.json": {
        "account_login": "Codertocat",
        "repositories_added": ("codertocat/space",),
        "repositories_removed": (),
    },
    "installation_repositories.removed.json": {
        "repositories_added": (),
        "repositories_removed": ("octocat/hello-world",),
    },
    "ping.json": {
        "hook_id": 109948940,
        "zen": "Anything added dilutes everything else.",
        "installation_id": None,
        "repo": "octocoders/hello-world",
    },
}


@pytest.mark.parametrize(("name", "facts"), FACTS.items(), ids=FACTS.keys())
def test_fixture_facts(name: str, facts: dict[str, object]) -> None:
    event = parsed(name)
    assert {field: getattr(event, field) for field in facts} == facts


def test_every_fixture_has_its_facts_checked() -> None:
    assert {path.name for path in FIXTURE_FILES} == set(FACTS)


def test_sender_is_read() -> None:
    sender = parsed("check_suite.rerequested.json").sender
    assert (sender.login, sender.type) == ("octocoders-linter[bot]", "Bot")


def test_merged_pull_request_times_are_aware_datetimes() -> None:
    event = parsed("pull_request.closed.merged.json")
    assert event.merged_at.isoformat() == "2019-05-15T15:21:18+00:00"
    assert event.closed_at == event.merged_at
    assert event.created_at.isoformat() == "2019-05-15T15:20:33+00:00"


def test_revert_push_names_the_merged_pull_requests_merge_commit() -> None:
    (commit,) = parsed("push.revert.json").commits
    assert commit.id == "d96f85306c006b83588679f1d82e8dadc15070df"
    assert commit.reverts == (parsed("pull_request.closed.merged.json").merge_commit_sha,)
    assert commit.agent_sessions == ()


def test_trailer_push_keeps_no_message_and_finds_no_agent_session_among_other_trailers() -> None:
    commits = parsed("push.trailers.json").commits
    assert [commit.id for commit in commits] == [
        "10106f46730a4219ad99c09a290ec3d9225c3f20",
        "4079573131ccb88c6e1788a8063f126185d4e15b",
    ]
    assert all(commit.agent_sessions == () and commit.reverts == () for commit in commits)
    assert not hasattr(commits[0], "message")


def test_agent_session_trailer_in_a_pushed_commit() -> None:
    data = payload("push.trailers.json")
    message = data["commits"][0]["message"] + "\nAgent-Session: claude-code:0b6f3c1e"
    event = parsed("push.trailers.json", with_value(data, ("commits", 0, "message"), message))
    assert event.commits[0].agent_sessions == ("claude-code:0b6f3c1e",)
    assert event.commits[1].agent_sessions == ()


def test_pull_request_body_becomes_the_pull_request_it_reverts() -> None:
    data = with_value(payload("pull_request.opened.json"), ("pull_request", "body"), "Reverts Codertocat/Hello-World#2")
    event = parsed("pull_request.opened.json", data)
    assert event.reverts == ("codertocat/hello-world", 2)
    assert "body" not in event.model_dump()


def test_null_pull_request_body_reverts_nothing() -> None:
    data = with_value(payload("pull_request.opened.json"), ("pull_request", "body"), None)
    assert parsed("pull_request.opened.json", data).reverts is None


def test_pull_request_from_a_fork() -> None:
    data = with_value(
        payload("pull_request.opened.json"), ("pull_request", "head", "repo", "full_name"), "Someone/Hello-World"
    )
    event = parsed("pull_request.opened.json", data)
    assert event.head_repo == "someone/hello-world"
    assert event.is_fork


def test_pull_request_from_a_deleted_fork() -> None:
    data = with_value(payload("pull_request.closed.unmerged.json"), ("pull_request", "head", "repo"), None)
    event = parsed("pull_request.closed.unmerged.json", data)
    assert event.head_repo is None
    assert event.is_fork


def test_pull_request_without_merge_commit_sha_still_parses() -> None:
    # githubkit's 2026-03-10 models already dropped it; if webhooks follow, outcomes fall back to commits.
    data = without(payload("pull_request.closed.merged.json"), "pull_request", "merge_commit_sha")
    event = parsed("pull_request.closed.merged.json", data)
    assert event.merged and event.merge_commit_sha is None


def test_null_merged_reads_as_not_merged() -> None:
    data = with_value(payload("pull_request.opened.json"), ("pull_request", "merged"), None)
    assert parsed("pull_request.opened.json", data).merged is False


def test_comment_command_and_bot_author() -> None:
    data = payload("issue_comment.created.json")
    data = with_value(data, ("comment", "body"), "Over budget for a reason.\n/agentspend approve incident 4711")
    data = with_value(data, ("comment", "user", "type"), "Bot")
    data = with_value(data, ("comment", "performed_via_github_app"), {"id": 4242, "slug": "agentspend"})
    event = parsed("issue_comment.created.json", data)
    assert event.command == ("approve", "incident 4711")
    assert event.by_bot
    assert event.via_app_id == 4242
    assert "body" not in event.model_dump()


def test_null_markers_read_as_absent() -> None:
    comment = with_value(payload("issue_comment.created.json"), ("issue", "pull_request"), None)
    assert parsed("issue_comment.created.json", comment).is_pull_request is False
    edit = with_value(payload("pull_request.edited.base-changed.json"), ("changes", "base"), None)
    assert parsed("pull_request.edited.base-changed.json", edit).base_changed is False


def test_pull_request_author_may_be_a_deleted_user() -> None:
    data = with_value(payload("pull_request.opened.json"), ("pull_request", "user"), None)
    assert parsed("pull_request.opened.json", data).author is None


# --- what parse refuses, and what it ignores -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path", "named"),
    [
        ("pull_request.opened.json", ("action",), "action"),
        ("pull_request.opened.json", ("installation",), "installation.id"),
        ("pull_request.opened.json", ("repository", "full_name"), "repository.full_name"),
        ("pull_request.opened.json", ("sender",), "sender"),
        ("pull_request.opened.json", ("number",), "number"),
        ("pull_request.opened.json", ("pull_request", "head", "sha"), "pull_request.head.sha"),
        ("pull_request.opened.json", ("pull_request", "base", "ref"), "pull_request.base.ref"),
        ("pull_request.opened.json", ("pull_request", "labels", 0, "name"), "pull_request.labels"),
        ("pull_request.opened.json", ("pull_request", "created_at"), "pull_request.created_at"),
        ("pull_request.opened.json", ("pull_request", "body"), "pull_request.body"),
        ("pull_request.closed.merged.json", ("pull_request", "merged"), "pull_request.merged"),
        ("pull_request.closed.merged.json", ("pull_request", "merged_at"), "pull_request.merged_at"),
        ("pull_request.synchronize.json", ("before",), "before"),
        ("pull_request.synchronize.json", ("after",), "after"),
        ("push.branch.json", ("ref",), "ref"),
        ("push.branch.json", ("deleted",), "deleted"),
        ("push.branch.json", ("commits", 0, "message"), "commits.0.message"),
        ("push.branch.json", ("commits", 0, "id"), "commits.0.id"),
        ("check_run.requested_action.json", ("requested_action",), "requested_action.identifier"),
        ("check_run.rerequested.json", ("check_run", "head_sha"), "check_run.head_sha"),
        ("check_run.rerequested.json", ("check_run", "pull_requests"), "check_run.pull_requests"),
        ("check_suite.requested.json", ("check_suite", "head_branch"), "check_suite.head_branch"),
        ("issue_comment.created.json", ("comment", "body"), "comment.body"),
        ("issue_comment.created.json", ("issue", "number"), "issue.number"),
        ("installation.created.json", ("installation", "account", "login"), "installation.account.login"),
        ("installation_repositories.added.json", ("repositories_added", 0, "full_name"), "repositories_added"),
        ("installation_repositories.removed.json", ("repositories_removed",), "repositories_removed"),
        ("ping.json", ("hook_id",), "hook_id"),
    ],
    ids=lambda value: ".".join(map(str, value)) if isinstance(value, tuple) else value,
)
def test_missing_required_field_is_an_event_error_naming_it(
    name: str, path: tuple[str | int, ...], named: str
) -> None:
    with pytest.raises(EventError) as raised:
        parsed(name, without(payload(name), *path))
    assert named in raised.value.message


@pytest.mark.parametrize(
    ("name", "path", "value", "named"),
    [
        ("pull_request.opened.json", ("number",), "two", "number"),
        ("pull_request.opened.json", ("pull_request", "head", "sha"), 123, "pull_request.head.sha"),
        ("pull_request.opened.json", ("pull_request", "labels"), "bug", "pull_request.labels"),
        ("pull_request.opened.json", ("pull_request", "created_at"), "yesterday", "pull_request.created_at"),
        ("pull_request.opened.json", ("pull_request", "body"), ["Reverts a/b#1"], "pull_request.body"),
        ("pull_request.opened.json", ("pull_request",), [], "pull_request"),
        ("pull_request.synchronize.json", ("after",), None, "after"),
        ("push.branch.json", ("commits", 0, "message"), 5, "commits.0.message"),
        ("push.branch.json", ("commits",), None, "commits"),
        ("check_run.requested_action.json", ("requested_action", "identifier"), None, "requested_action.identifier"),
        ("check_run.rerequested.json", ("check_run", "pull_requests"), [{"id": 1}], "check_run.pull_requests"),
        ("issue_comment.created.json", ("comment", "id"), {"id": 1}, "comment.id"),
        ("pull_request.opened.json", ("action",), 5, "action"),
    ],
    ids=lambda value: ".".join(map(str, value)) if isinstance(value, tuple) else None,
)
def test_wrong_type_is_an_event_error_naming_the_field(
    name: str, path: tuple[str | int, ...], value: object, named: str
) -> None:
    with pytest.raises(EventError) as raised:
        parsed(name, with_value(payload(name), path, value))
    assert named in raised.value.message


@pytest.mark.parametrize("body", [b"", b"not json", b'{"action": "opened"', b"\xff\xfe\x00", b"[]", b'"text"', b"null"])
def test_body_that_is_not_a_json_object_is_an_event_error(body: bytes) -> None:
    with pytest.raises(EventError):
        parse("pull_request", body)


def test_unknown_event_is_ignored_without_reading_the_body() -> None:
    assert parse("deployment_status", b"not even json") is None
    assert parse("pull_request_review", payload("pull_request.opened.json")) is None


@pytest.mark.parametrize(
    ("name", "action"),
    [
        ("pull_request.opened.json", "assigned"),
        ("pull_request.opened.json", "ready_for_review"),
        ("check_run.rerequested.json", "created"),
        ("check_run.rerequested.json", "completed"),
        ("check_suite.requested.json", "completed"),
        ("issue_comment.created.json", "edited"),
        ("installation.created.json", "new_permissions_accepted"),
    ],
)
def test_unknown_action_is_ignored(name: str, action: str) -> None:
    assert parsed(name, with_value(payload(name), ("action",), action)) is None


def test_unknown_action_is_ignored_even_when_the_payload_lacks_our_fields() -> None:
    assert parse("pull_request", {"action": "assigned"}) is None


# --- free text: trailers, reverts, commands -------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            "Add budget check\n\nLonger explanation.\n\n"
            "Agent-Session: claude-code:abc\nCo-authored-by: Claude <noreply@anthropic.com>",
            ("claude-code:abc",),
            id="among-other-trailers",
        ),
        pytest.param(
            "Fix\n\nAgent-Session: claude-code:abc\nSigned-off-by: A <a@b>\nAgent-Session: codex:0199",
            ("claude-code:abc", "codex:0199"),
            id="several",
        ),
        pytest.param("Fix\n\nagent-session: opencode:ses_1", ("opencode:ses_1",), id="lowercase-key"),
        pytest.param("Fix\n\nAGENT-SESSION:   gemini-cli:x  ", ("gemini-cli:x",), id="uppercase-key-padded"),
        pytest.param(
            "Fix\n\nAgent-Session: claude-code:abc\nAgent-Session: claude-code:abc",
            ("claude-code:abc",),
            id="duplicate",
        ),
        pytest.param("Fix\r\n\r\nAgent-Session: codex:1\r\n", ("codex:1",), id="crlf"),
        pytest.param(
            "Fix\n\nAgent-Session: codex:1\n(cherry picked from commit 6113728f27ae82c7b1a177c8d03f9e96e0adf246)",
            ("codex:1",),
            id="cherry-picked",
        ),
        pytest.param(
            "Fix\n\nCo-authored-by: A <a@b>\n  continued\nAgent-Session: codex:1", ("codex:1",), id="folded-value"
        ),
        pytest.param(
            "Fix\n\nWe tried Agent-Session: claude-code:abc here\nAgent-Session: claude-code:abc\n\n"
            "Signed-off-by: A <a@b>",
            (),
            id="mid-body-ignored",
        ),
        pytest.param(
            "Fix\n\nAgent-Session: claude-code:abc\n\nSome closing prose.", (), id="not-in-the-last-paragraph"
        ),
        pytest.param(
            "Fix\n\nAgent-Session: claude-code:abc\nand a line of prose", (), id="paragraph-with-prose-is-no-block"
        ),
        pytest.param("Agent-Session: claude-code:abc", (), id="subject-is-never-a-trailer"),
        pytest.param("Fix\n\nAgent-Session:", (), id="empty-value"),
        pytest.param("", (), id="empty-message"),
    ],
)
def test_agent_session_trailers(message: str, expected: tuple[str, ...]) -> None:
    assert agent_session_trailers(message) == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(
            f'Revert "Update README"\n\nThis reverts commit {MERGE}.', (MERGE,), id="git-revert"
        ),
        pytest.param(
            f'Revert "Update the README with new information." (#3)\n\nThis reverts commit {MERGE}.\n\n'
            "Co-authored-by: Octocat <583231+octocat@users.noreply.github.com>",
            (MERGE,),
            id="squash-merged-revert",
        ),
        pytest.param(
            f"Revert two\n\n* Revert a\n\nThis reverts commit {MERGE}.\n\n* Revert b\n\n"
            f"This reverts commit {HEAD}.\n",
            (MERGE, HEAD),
            id="several",
        ),
        pytest.param("Revert x\n\nThis reverts commit c4295bd.", ("c4295bd",), id="short-sha"),
        pytest.param("Revert x\n\nThis reverts commit C4295BD74F.", ("c4295bd74f",), id="uppercase-sha"),
        pytest.param(
            f"Revert merge\n\nThis reverts commit {MERGE}, reversing\nchanges made to {BASE}.",
            (MERGE,),
            id="reverted-merge-keeps-mainline",
        ),
        pytest.param(
            f"Revert x\n\nThis reverts commit {MERGE}.\nThis reverts commit {MERGE}.", (MERGE,), id="duplicate"
        ),
        pytest.param("Revert x\n\nThis reverts commit c4295b.", (), id="six-hex-is-too-short"),
        pytest.param("Revert x\n\nThis reverts commit c4295bz.", (), id="not-hex"),
        pytest.param("Revert x\n\nThis reverts commit " + "a" * 41 + ".", (), id="longer-than-a-sha"),
        pytest.param("Fix the revert logic", (), id="no-revert-line"),
    ],
)
def test_reverted_shas(message: str, expected: tuple[str, ...]) -> None:
    assert reverted_shas(message) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Reverts Codertocat/Hello-World#2", ("codertocat/hello-world", 2)),
        ("Reverts acme/web.site#1234\n\nBroke the build.", ("acme/web.site", 1234)),
        ("Context first.\n\nReverts acme/api#7", ("acme/api", 7)),
        ("This PR Reverts acme/api#7 in spirit", None),
        ("Reverts #7", None),
        ("", None),
        (None, None),
    ],
)
def test_reverted_pull(body: str | None, expected: tuple[str, int] | None) -> None:
    assert reverted_pull(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/agentspend approve hotfix for incident 42", ("approve", "hotfix for incident 42")),
        ("Looks fine.\n  /agentspend approve  release blocker  \nthanks", ("approve", "release blocker")),
        ("/AgentSpend APPROVE Reason", ("approve", "Reason")),
        ("/agentspend approve", ("approve", "")),
        ("/agentspend refresh\n/agentspend approve x", ("refresh", "")),
        ("/agentspend\n/agentspend approve x", ("approve", "x")),
        ("> /agentspend approve quoted", None),
        ("Please run /agentspend approve x", None),
        ("/agentspendapprove x", None),
        ("Usage:\n```\n/agentspend approve <reason>\n```", None),
        ("~~~\n/agentspend approve x\n~~~\n/agentspend approve real", ("approve", "real")),
        ("", None),
    ],
)
def test_slash_command(body: str, expected: tuple[str, str] | None) -> None:
    assert slash_command(body) == expected
