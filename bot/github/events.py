"""Check that a webhook delivery came from GitHub and read the few fields handlers use into small typed events.

GitHub's own example payloads fail githubkit's strict webhook models (docs/github.md, section 3),
so one schema drift there would turn every delivery into an error. Each event here is a narrow
pydantic model that ignores everything it does not name, proven against every fixture in
`shared/fixtures/github/webhooks/` (Kodiak's `events/` do the same). Free text is parsed at this
edge and dropped: a commit message becomes its `Agent-Session:` trailers and the SHAs it reverts,
a pull request body the pull request it reverts, a comment body its `/agentspend` command.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self, TypeAlias, get_args

from pydantic import (
    AfterValidator,
    AliasPath,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

_SIGNATURE_PREFIX = "sha256="


class EventError(Exception):
    """A delivery of an event we handle whose payload we cannot read; the message names the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def sign(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature-256` GitHub sends for `body`, so tests and the demo replay signed deliveries."""
    return _SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, signature_header: str | None, secrets: Sequence[str]) -> bool:
    """Whether `X-Hub-Signature-256` signs these exact bytes with any configured secret.

    Several secrets are accepted so a secret can be rotated without dropping deliveries. The
    legacy `sha1=` header is never a fallback, and a blank secret (a stray comma in
    GITHUB_WEBHOOK_SECRET) is skipped, since anyone can sign with an empty key.
    """
    if isinstance(secrets, str):
        # A bare string is a Sequence[str] of one-character secrets: trivially forgeable.
        raise TypeError("secrets must be a sequence of secrets, not one string")
    if not signature_header or not signature_header.startswith(_SIGNATURE_PREFIX):
        return False
    given = signature_header.encode()  # bytes: compare_digest refuses non-ASCII str
    return any(hmac.compare_digest(sign(body, secret).encode(), given) for secret in secrets if secret)


# --- free text, parsed at the edge -------------------------------------------------------------

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_TRAILER = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)")
_CHERRY_PICK_NOTE = "(cherry picked from commit "
_REVERTS_COMMIT = re.compile(r"\bThis reverts commit ([0-9a-f]{7,40})\b", re.IGNORECASE)
_REVERTS_PULL = re.compile(r"^[ \t]*Reverts[ \t]+([\w.-]+/[\w.-]+)#(\d+)\b", re.IGNORECASE | re.MULTILINE)
_COMMAND = re.compile(r"/agentspend[ \t]+(\S+)(?:[ \t]+(.*))?", re.IGNORECASE)
_FENCE = re.compile(r"[ \t]*(```|~~~)")


def _trailers(message: str) -> list[tuple[str, str]]:
    """The lower-cased keys and values of the message's trailer block, or nothing.

    Git's rule, simplified: trailers are the last paragraph, never the subject, and a paragraph
    holding one line of prose is not a trailer block. So an `Agent-Session:` quoted mid-body, or
    a `fix: …` subject, is not evidence.
    """
    paragraphs = _PARAGRAPH_BREAK.split(message.replace("\r\n", "\n").strip())
    if len(paragraphs) < 2:
        return []
    found = []
    for line in paragraphs[-1].splitlines():
        if line[:1].isspace() or line.startswith(_CHERRY_PICK_NOTE):
            continue  # a folded value, or the note `git cherry-pick -x` appends inside the block
        match = _TRAILER.fullmatch(line)
        if match is None:
            return []
        found.append((match[1].lower(), match[2].strip()))
    return found


def agent_session_trailers(message: str) -> tuple[str, ...]:
    """The `Agent-Session: <runtime>:<id>` values of a commit message: the strongest attribution evidence."""
    values = (value for key, value in _trailers(message) if key == "agent-session" and value)
    return tuple(dict.fromkeys(values))


def reverted_shas(message: str) -> tuple[str, ...]:
    """The commits a commit reverts, from git's `This reverts commit <sha>.` lines (short SHAs included).

    For a reverted merge git adds "reversing changes made to <sha>": that SHA is the mainline
    parent, which was not reverted, and the pattern does not pick it up.
    """
    return tuple(dict.fromkeys(sha.lower() for sha in _REVERTS_COMMIT.findall(message)))


def reverted_pull(body: str | None) -> tuple[str, int] | None:
    """The `(owner/repo, number)` a pull request reverts, from the body GitHub's Revert button writes."""
    match = _REVERTS_PULL.search(body or "")
    return (match[1].lower(), int(match[2])) if match else None


def slash_command(body: str) -> tuple[str, str] | None:
    """`(verb, rest)` of the first `/agentspend <verb> …` line of a comment.

    Only a line that starts with the command counts, and never one inside a code fence: an
    approver quoting (`> /agentspend …`) or explaining the syntax must not approve by accident.
    """
    fenced = False
    for line in body.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else _COMMAND.fullmatch(line.strip())
        if match:
            return match[1].lower(), (match[2] or "").strip()
    return None


# --- field helpers ----------------------------------------------------------------------------


def _at(*path: str | int, **field: Any) -> Any:
    """A field read from `path` in the payload, so events stay flat while the payload is nested."""
    return Field(validation_alias=AliasPath(*path), **field)


def _text(parse: Callable[[str], object], *, nullable: bool = False) -> BeforeValidator:
    """Keep only what `parse` finds in a text field, never the text."""

    def validate(value: object) -> object:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return parse(value)

    return BeforeValidator(validate)


def _each(key: str) -> BeforeValidator:
    """Read a list of objects as the list of one field of each (label names, repository names)."""

    def pluck(items: object) -> object:
        if not isinstance(items, list):
            return items  # the tuple validation reports the wrong type
        for index, item in enumerate(items):
            if not isinstance(item, dict) or key not in item:
                raise ValueError(f"item {index} has no {key!r}")
        return [item[key] for item in items]

    return BeforeValidator(pluck)


def _present(value: object) -> bool:
    return value is not None


def _null_is_false(value: object) -> object:
    return False if value is None else value


RepoName = Annotated[str, AfterValidator(str.lower)]
"""`owner/name`, lower-cased: GitHub names are case-insensitive and every table stores them lower-cased."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Sender(_Model):
    login: str
    type: str
    """User, Bot or Organization."""


class _Event(_Model):
    """What every delivery to the App carries: the installation whose token acts on it, and who caused it."""

    installation_id: int = _at("installation", "id")
    sender: Sender

    _needs: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """Fields optional in general that a given action cannot do without."""

    @model_validator(mode="after")
    def _has_what_the_action_needs(self) -> Self:
        action = getattr(self, "action", None)
        missing = [name for name in self._needs.get(action, ()) if getattr(self, name) is None]
        if missing:
            paths = ", ".join(_payload_path(type(self), name) for name in missing)
            raise ValueError(f"action {action!r} needs {paths}")
        return self


class _RepositoryEvent(_Event):
    repo: RepoName = _at("repository", "full_name")


class PullRequestEvent(_RepositoryEvent):
    action: Literal["opened", "reopened", "synchronize", "edited", "labeled", "unlabeled", "closed"]
    number: int
    head_sha: str = _at("pull_request", "head", "sha")
    head_ref: str = _at("pull_request", "head", "ref")
    head_repo: RepoName | None = _at("pull_request", "head", "repo", "full_name", default=None)
    """None when the fork the pull request came from was deleted."""
    base_sha: str = _at("pull_request", "base", "sha")
    base_ref: str = _at("pull_request", "base", "ref")
    author: str | None = _at("pull_request", "user", "login", default=None)
    labels: Annotated[tuple[str, ...], _each("name")] = _at("pull_request", "labels")
    state: str = _at("pull_request", "state")
    merged: Annotated[bool, BeforeValidator(_null_is_false)] = _at("pull_request", "merged")
    merged_at: datetime | None = _at("pull_request", "merged_at")
    created_at: datetime = _at("pull_request", "created_at")
    closed_at: datetime | None = _at("pull_request", "closed_at")
    merge_commit_sha: str | None = _at("pull_request", "merge_commit_sha", default=None)
    """Read from the raw payload: githubkit's 2026-03-10 models dropped it. Optional, so that if
    GitHub drops it from webhooks too, deliveries still parse and outcomes fall back to commits."""
    reverts: Annotated[tuple[str, int] | None, _text(reverted_pull, nullable=True)] = _at("pull_request", "body")
    """The `(owner/repo, number)` this pull request reverts; the body itself is not kept."""
    base_changed: Annotated[bool, BeforeValidator(_present)] = _at("changes", "base", default=False)
    """An `edited` that retargeted the base: the budget must be re-read from the new base."""
    before: str | None = None
    after: str | None = None

    _needs = {"synchronize": ("before", "after")}

    @property
    def is_fork(self) -> bool:
        """The head branch lives elsewhere, so a same-named branch of the base repository is no evidence."""
        return self.head_repo != self.repo


class PushedCommit(_Model):
    id: str
    agent_sessions: Annotated[tuple[str, ...], _text(agent_session_trailers)] = Field(validation_alias="message")
    reverts: Annotated[tuple[str, ...], _text(reverted_shas)] = Field(validation_alias="message")
    """SHAs (full or short) this commit reverts."""


class PushEvent(_RepositoryEvent):
    ref: str
    before: str
    after: str
    deleted: bool
    forced: bool
    commits: tuple[PushedCommit, ...]
    head_commit_id: str | None = _at("head_commit", "id", default=None)
    """None when the push deleted the ref."""
    default_branch: str | None = _at("repository", "default_branch", default=None)
    """Reverts count only once they land here."""

    @property
    def branch(self) -> str | None:
        """The branch pushed to; None for a tag or any other ref, which never bears on a pull request."""
        return self.ref.removeprefix("refs/heads/") if self.ref.startswith("refs/heads/") else None


class CheckRunEvent(_RepositoryEvent):
    action: Literal["rerequested", "requested_action"]
    check_run_id: int = _at("check_run", "id")
    name: str = _at("check_run", "name")
    head_sha: str = _at("check_run", "head_sha")
    app_id: int | None = _at("check_run", "app", "id", default=None)
    """Tells our own check from everyone else's."""
    pull_numbers: Annotated[tuple[int, ...], _each("number")] = _at("check_run", "pull_requests")
    """Empty for a fork's pull request: map the head SHA to the pull request from our own table."""
    requested_action: str | None = _at("requested_action", "identifier", default=None)
    """The identifier of the button that was pressed."""

    _needs = {"requested_action": ("requested_action",)}


class CheckSuiteEvent(_RepositoryEvent):
    action: Literal["requested", "rerequested"]
    head_sha: str = _at("check_suite", "head_sha")
    head_branch: str | None = _at("check_suite", "head_branch")
    app_id: int | None = _at("check_suite", "app", "id", default=None)
    pull_numbers: Annotated[tuple[int, ...], _each("number")] = _at("check_suite", "pull_requests")
    """Empty for a fork's pull request, as for check runs."""


class IssueCommentEvent(_RepositoryEvent):
    action: Literal["created"]
    issue_number: int = _at("issue", "number")
    is_pull_request: Annotated[bool, BeforeValidator(_present)] = _at("issue", "pull_request", default=False)
    """A pull request's conversation comments are issue comments; only those concern us."""
    comment_id: int = _at("comment", "id")
    command: Annotated[tuple[str, str] | None, _text(slash_command)] = _at("comment", "body")
    """`(verb, rest)` of an `/agentspend` command; the comment itself is not kept."""
    author: str | None = _at("comment", "user", "login", default=None)
    author_type: str | None = _at("comment", "user", "type", default=None)
    via_app_id: int | None = _at("comment", "performed_via_github_app", "id", default=None)

    @property
    def by_bot(self) -> bool:
        """Bots' comments, our own report included, never carry commands."""
        return self.author_type == "Bot"


class InstallationEvent(_Event):
    action: Literal["created", "deleted", "suspend", "unsuspend"]
    account_login: str = _at("installation", "account", "login")
    account_type: str = _at("installation", "account", "type")
    repositories: Annotated[tuple[RepoName, ...], _each("full_name")] = ()


class InstallationRepositoriesEvent(_Event):
    action: Literal["added", "removed"]
    account_login: str = _at("installation", "account", "login")
    repositories_added: Annotated[tuple[RepoName, ...], _each("full_name")]
    repositories_removed: Annotated[tuple[RepoName, ...], _each("full_name")]


class PingEvent(_Model):
    """Sent when the hook is created; an App-level ping has no installation and no repository."""

    hook_id: int
    zen: str | None = None
    installation_id: int | None = _at("installation", "id", default=None)
    repo: RepoName | None = _at("repository", "full_name", default=None)
    sender: Sender | None = None


Event: TypeAlias = (
    PullRequestEvent
    | PushEvent
    | CheckRunEvent
    | CheckSuiteEvent
    | IssueCommentEvent
    | InstallationEvent
    | InstallationRepositoriesEvent
    | PingEvent
)

_MODELS: dict[str, type[Event]] = {
    "pull_request": PullRequestEvent,
    "push": PushEvent,
    "check_run": CheckRunEvent,
    "check_suite": CheckSuiteEvent,
    "issue_comment": IssueCommentEvent,
    "installation": InstallationEvent,
    "installation_repositories": InstallationRepositoriesEvent,
    "ping": PingEvent,
}


def _actions(model: type[Event]) -> tuple[str | None, ...]:
    field = model.model_fields.get("action")
    return get_args(field.annotation) if field else (None,)


HANDLED: frozenset[tuple[str, str | None]] = frozenset(
    (event, action) for event, model in _MODELS.items() for action in _actions(model)
)
"""(X-GitHub-Event, action) pairs we read; action None for events that have none (push, ping)."""


def parse(event: str, body: bytes | dict[str, Any]) -> Event | None:
    """The typed event for a delivery, or None for an event or action we do not handle.

    GitHub adds actions over time, so an unknown action is ignored, not an error. A handled
    event whose payload lacks a field we need raises EventError, which names the field.
    """
    model = _MODELS.get(event)
    if model is None:
        return None
    payload = _load(event, body) if isinstance(body, bytes) else body
    if not isinstance(payload, dict):
        raise EventError(f"{event}: the payload is not a JSON object")
    action = payload.get("action")
    if isinstance(action, str) and (event, action) not in HANDLED:
        return None
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise EventError(f"{event}: {_explain(error)}") from error


def _load(event: str, body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise EventError(f"{event}: the payload is not JSON ({error})") from error


def _explain(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, detail['loc']))}: {detail['msg']}" if detail["loc"] else detail["msg"]
        for detail in error.errors(include_url=False)
    )


def _payload_path(model: type[BaseModel], name: str) -> str:
    alias = model.model_fields[name].validation_alias
    return ".".join(map(str, alias.path)) if isinstance(alias, AliasPath) else name
