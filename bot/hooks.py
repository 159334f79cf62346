"""Git hooks that tie commits to agent sessions (`Agent-Session:` trailers) and upload traces on push.

Trailers are the strongest attribution evidence (docs/design.md, "Attribution"), and only the
developer's machine knows which sessions were running when a commit was made. The hooks must
never cost the developer a commit or a push: whatever goes wrong, they exit 0 and print at most
one line, except that a hook the repository already had keeps running first with its own say.

Three hooks, because git decides whether to commit only after the editor closes:
`prepare-commit-msg` adds the trailers to a message given up front (`-m`, `-F`, `-c`, `--amend`),
which covers `--no-verify` commits too; `commit-msg` adds them to a message written in the editor,
but only when git will commit it, so that quitting the editor without saving still aborts the
commit (a trailer alone would make an empty message look written); `pre-push` runs
`agentspend push`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

from bot import gitmeta, offline
from bot.trace import Session

TRAILER = "Agent-Session"
MARKER = "# agentspend-hook v1"
"""Identifies a hook file as ours, so a second install updates it instead of chaining it."""
CHAINED_SUFFIX = ".agentspend-chained"
HOOKS = ("prepare-commit-msg", "commit-msg", "pre-push")
AFTER_EDIT = "commit-msg"
"""The `source` the commit-msg hook passes: the message is final, as edited by the user."""
DEFAULT_HOURS = 6
LOAD_DEADLINE_S = 10.0
"""A first run over a large log corpus can take minutes; the commit does not wait for it."""
PUSH_TIMEOUT_S = 20

_SKIPPED_SOURCES = frozenset({"merge", "squash"})
"""A merge or squash commit carries other commits' work, not the work of the sessions running now."""
_EDITOR_SOURCES = frozenset({None, "template"})
"""The editor is about to open on an empty or template message: commit-msg decides afterwards."""
_REPLAY_STATE = ("MERGE_HEAD", "SQUASH_MSG", "CHERRY_PICK_HEAD", "rebase-merge", "rebase-apply")
"""Git-dir entries present while git re-creates existing commits (merge, squash, pick, rebase)."""
_SCISSORS = " ------------------------ >8 ------------------------"
_CARRIED = re.compile(rf"^{TRAILER}:\s*(\S+)", re.IGNORECASE | re.MULTILINE)

T = TypeVar("T")


class HookError(Exception):
    """Hooks cannot be installed here; the message says why."""


# -- install ------------------------------------------------------------------------------------


def install(path: Path, agentspend_cmd: list[str], hours: int) -> list[str]:
    """Install (or update) our hooks in the hooks directory of the repository at `path`.

    An existing hook is moved to `<name>.agentspend-chained` and run first by ours, so nothing
    the repository relied on stops happening. Installing again with the same arguments changes
    nothing. Returns one line per hook saying what was done.
    """
    directory = hooks_dir(path)
    directory.mkdir(parents=True, exist_ok=True)
    lines = [_install_hook(directory / name, hook_script(name, agentspend_cmd, hours)) for name in HOOKS]
    if _in_work_tree(directory, _toplevel(path)):
        lines.append(f"note: {directory} is inside the work tree; the changed hooks show in `git status`")
    return lines


def hooks_dir(path: Path) -> Path:
    """Where git looks for this repository's hooks: core.hooksPath if set, else the common git dir.

    Linked worktrees share the common dir's hooks; a relative core.hooksPath is relative to the
    root of the work tree the hook runs in.
    """
    configured = _git(path, "config", "--type=path", "--get", "core.hooksPath", required=False)
    if configured:
        return _toplevel(path) / configured
    return Path(_git(path, "rev-parse", "--path-format=absolute", "--git-common-dir")) / "hooks"


def hook_script(name: str, agentspend_cmd: list[str], hours: int) -> str:
    """The shell script for hook `name`: the chained hook first, then agentspend, best effort."""
    command = shlex.join(agentspend_cmd)
    bodies = {
        "prepare-commit-msg": f'best_effort {command} hook trailers "$1" "${{2-}}" --hours {hours}',
        "commit-msg": f'best_effort {command} hook trailers "$1" {AFTER_EDIT} --hours {hours}',
        "pre-push": (
            f"if command -v timeout >/dev/null 2>&1; then limit='timeout {PUSH_TIMEOUT_S}'; else limit=; fi\n"
            f"best_effort $limit {command} push --quiet"
        ),
    }
    return f"""#!/bin/sh
{MARKER} ({name}): written by `agentspend hook install`.
# A hook that was here before was moved to {name}{CHAINED_SUFFIX}; it runs first and its failure
# still stops git. agentspend itself never does: it prints at most one line and exits 0.
chained="$0{CHAINED_SUFFIX}"
if [ -x "$chained" ]; then
    "$chained" "$@" || exit $?
fi
best_effort() {{
    err=$("$@" 2>&1 >/dev/null </dev/null) || :
    [ -z "$err" ] || printf '%s\\n' "$err" | tail -n 1 >&2
}}
{bodies[name]}
exit 0
"""


def agentspend_command() -> list[str]:
    """How a hook calls back into this installation: its console script, else `python -m bot`."""
    found = shutil.which(sys.argv[0])
    if found and Path(found).name != "__main__.py":
        return [os.path.abspath(found)]
    return [sys.executable, "-m", "bot"]


def _in_work_tree(directory: Path, worktree: Path) -> bool:
    """A core.hooksPath such as `.githooks` is often committed; `.git/hooks` never is."""
    return directory.is_relative_to(worktree) and directory.relative_to(worktree).parts[:1] != (".git",)


def _install_hook(hook: Path, script: str) -> str:
    if _is_ours(hook):
        if hook.read_text() == script:
            return f"{hook}: already installed"
        _write_executable(hook, script)
        return f"{hook}: updated"
    if not (hook.exists() or hook.is_symlink()):
        _write_executable(hook, script)
        return f"{hook}: installed"
    chained = hook.with_name(hook.name + CHAINED_SUFFIX)
    if chained.exists() or chained.is_symlink():
        return f"{hook}: left alone: it replaced ours after an earlier install and {chained.name} is taken"
    hook.rename(chained)
    _write_executable(hook, script)
    return f"{hook}: installed; the hook that was there runs first, as {chained.name}"


def _is_ours(hook: Path) -> bool:
    try:
        return hook.is_file() and MARKER.encode() in hook.read_bytes()
    except OSError:
        return False


def _write_executable(path: Path, text: str) -> None:
    """Write then rename, so git never runs a half-written hook."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    os.replace(tmp, path)


# -- trailers -----------------------------------------------------------------------------------


def run_trailers(message_file: Path, source: str | None, hours: int) -> int:
    """`agentspend hook trailers`: add this checkout's session trailers; never fails the commit."""
    try:
        _trailers(message_file, source, hours, Path.cwd(), os.environ, Path.home())
    except Exception as exc:  # noqa: BLE001 - any failure must leave the commit as it was
        print(f"agentspend: no {TRAILER} trailer added: {exc}".splitlines()[0][:200], file=sys.stderr)
    return 0


def _trailers(message_file: Path, source: str | None, hours: int, cwd: Path, env: Mapping[str, str], home: Path) -> None:
    message = message_file.read_text(errors="surrogateescape")
    template, comment = _message_settings(cwd) if source == AFTER_EDIT else (None, "#")
    if not wants_trailers(message, source, template, comment) or _replaying(cwd):
        return
    now = datetime.now(UTC)
    sessions = _within(LOAD_DEADLINE_S, lambda: hook_sessions(cwd, env, home, now, hours))
    add_trailers(message_file, source, sessions, now, hours, template=template, comment=comment)


def add_trailers(
    message_file: Path,
    source: str | None,
    sessions: Iterable[Session],
    now: datetime,
    hours: int,
    *,
    template: str | None = None,
    comment: str = "#",
) -> int:
    """Append an `Agent-Session:` trailer for each top-level session active in the last `hours`.

    `source` is prepare-commit-msg's second argument, or AFTER_EDIT from commit-msg. A session
    the message already names is not added again. Returns how many trailers were added.
    """
    message = message_file.read_text(errors="surrogateescape")
    if not wants_trailers(message, source, template, comment):
        return 0
    carried = {key.lower() for key in _CARRIED.findall(message)}
    cutoff = now - timedelta(hours=hours)
    keys = [s.key for s in _by_start(sessions) if _recent_top_level(s, cutoff) and s.key.lower() not in carried]
    keys = list(dict.fromkeys(keys))
    if keys:
        trailers = [arg for key in keys for arg in ("--trailer", f"{TRAILER}: {key}")]
        target = message_file.absolute()
        _git(target.parent, "interpret-trailers", "--in-place", "--if-exists", "addIfDifferent", *trailers, str(target))
    return len(keys)


def wants_trailers(message: str, source: str | None, template: str | None = None, comment: str = "#") -> bool:
    """Whether this commit message should get trailers at all, decided before any log is read.

    After editing, only a message git will commit qualifies (not empty, not sign-offs only, not
    the untouched template), and not one that already names a session: prepare-commit-msg or the
    agent's harness took care of it.
    """
    source = source or None
    if source in _SKIPPED_SOURCES or source in _EDITOR_SOURCES:
        return False
    if source != AFTER_EDIT:
        return True
    body = _body(message, comment)
    substance = [line for line in body if not line.startswith("Signed-off-by:")]
    untouched = template is not None and body == _body(template, comment)
    return bool(substance) and not untouched and not _CARRIED.search(message)


def hook_sessions(repo_path: Path, env: Mapping[str, str], home: Path, now: datetime, hours: int) -> list[Session]:
    """The top-level sessions of this checkout active in the last `hours`, oldest first.

    A session counts when it belongs to this repository (remote or cwd inside the work tree) and
    ran on the checked-out branch, or recorded no branch but ran inside this work tree. On a
    detached HEAD only the latter remain: no branch says which sessions made the commit.
    """
    worktree = _toplevel(repo_path)
    branch = _git(repo_path, "symbolic-ref", "--quiet", "--short", "HEAD", required=False) or None
    cutoff = now - timedelta(hours=hours)
    in_repo = offline.Scope(repo=gitmeta.repo_of_directory(str(worktree)), worktree=worktree, since=cutoff)
    in_worktree = offline.Scope(worktree=worktree)
    sessions, _skipped = offline.load_sessions(env, home, offline.default_cache_dir(env))
    kept = [
        s for s in sessions
        if s.parent_key is None and in_repo.keeps(s) and (s.branch == branch if s.branch else in_worktree.keeps(s))
    ]
    return _by_start(kept)


def _recent_top_level(session: Session, cutoff: datetime) -> bool:
    """Subagents are reached through their parent's trailer; a session's last activity dates it."""
    last = session.ended_at or session.started_at
    return session.parent_key is None and last is not None and last >= cutoff


def _by_start(sessions: Iterable[Session]) -> list[Session]:
    return sorted(sessions, key=lambda s: (s.started_at or datetime.min.replace(tzinfo=UTC), s.key))


def _body(message: str, comment: str) -> list[str]:
    """The lines git keeps of a message: above the scissors, without comments, trimmed."""
    lines: list[str] = []
    for line in message.splitlines():
        if line == comment + _SCISSORS:
            break
        if not line.startswith(comment):
            lines.append(line.rstrip())
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def _message_settings(cwd: Path) -> tuple[str | None, str]:
    """The commit template's text (if configured and readable) and the comment character."""
    comment = _git(cwd, "config", "--get", "core.commentChar", required=False)
    template_path = _git(cwd, "config", "--type=path", "--get", "commit.template", required=False)
    try:
        template = (cwd / template_path).read_text(errors="surrogateescape") if template_path else None
    except OSError:
        template = None
    return template, comment if len(comment) == 1 else "#"


def _replaying(cwd: Path) -> bool:
    """A merge, squash, cherry-pick or rebase is re-creating commits made earlier."""
    git_dir = Path(_git(cwd, "rev-parse", "--absolute-git-dir"))
    return any((git_dir / entry).exists() for entry in _REPLAY_STATE)


def _within(seconds: float, work: Callable[[], T]) -> T:
    """`work()`, or TimeoutError after `seconds` while it goes on in a thread the exit abandons.

    What it finished meanwhile (the parse cache) is kept, so a later commit gets further.
    """
    result: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if errors:
        raise errors[0]
    if not result:
        raise TimeoutError(f"reading agent logs took over {seconds:g}s (the next commit continues from the cache)")
    return result[0]


# -- git ------------------------------------------------------------------------------------------


def _toplevel(path: Path) -> Path:
    return Path(_git(path, "rev-parse", "--show-toplevel"))


def _git(cwd: Path, *args: str, required: bool = True) -> str:
    """Run git in `cwd`; its stdout stripped. A failure raises HookError unless not `required`."""
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise HookError(f"git {args[0]}: {exc}") from exc
    if done.returncode != 0 and required:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit status {done.returncode}"
        raise HookError(f"{cwd}: git {args[0]}: {reason}")
    return done.stdout.strip() if done.returncode == 0 else ""
