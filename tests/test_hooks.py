"""`agentspend hook install`: chained, idempotent hooks, trailers on real commits, and a push never blocked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import hooks
from bot.trace import Runtime, Session

REMOTE = "git@github.com:Acme/Widgets.git"
NOW = datetime.now(UTC)


# -- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home with a Codex log dir and its own cache; git sees no global config."""
    home = tmp_path / "home"
    (home / ".codex/sessions/2026/05/12").mkdir(parents=True)
    for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "XDG_DATA_HOME", "OPENCODE_DATA_DIR", "GIT_DIR", "GIT_WORK_TREE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("AGENTSPEND_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PUSH_MARKER", str(tmp_path / "pushed"))
    return home


@pytest.fixture
def repo(machine: Path, tmp_path: Path) -> Path:
    path = tmp_path / "widgets"
    path.mkdir()
    for command in (
        ["init", "-q", "-b", "main"],
        ["config", "user.name", "Dev"],
        ["config", "user.email", "dev@example.com"],
        ["remote", "add", "origin", REMOTE],
    ):
        _git(path, *command)
    return path


@pytest.fixture
def agentspend(tmp_path: Path) -> list[str]:
    """Stands in for the console script: dispatches the two calls the hooks make, as bot/cli.py will."""
    script = tmp_path / "bin" / "agentspend"
    script.parent.mkdir()
    script.write_text(f"""#!{sys.executable}
import os, sys
from pathlib import Path
from bot import hooks
argv = sys.argv[1:]
if argv[:2] == ["hook", "trailers"]:
    sys.exit(hooks.run_trailers(Path(argv[2]), argv[3] or None, int(argv[argv.index("--hours") + 1])))
if argv[:1] == ["push"]:
    Path(os.environ["PUSH_MARKER"]).write_text(" ".join(argv))
""")
    script.chmod(0o755)
    return [str(script)]


def _git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=check)


def _commit(repo: Path, message: str = "Change things", *extra: str) -> subprocess.CompletedProcess[str]:
    (repo / "file.txt").write_text(f"{time.monotonic_ns()}\n")
    _git(repo, "add", "file.txt")
    return _git(repo, "commit", "-q", *extra, "-m", message, check=False)


def _last_message(repo: Path) -> str:
    return _git(repo, "log", "-1", "--format=%B").stdout.removesuffix("\n")  # log ends each entry with one


def _trailers(repo: Path) -> list[str]:
    return [line for line in _last_message(repo).splitlines() if line.startswith("Agent-Session:")]


def _rollout(home: Path, sid: str, at: datetime, *, cwd: str, branch: str | None = "main",
             repo_url: str | None = "https://github.com/acme/widgets", parent: str | None = None) -> None:
    """A minimal Codex rollout: session_meta, turn_context and one token_count, ending at `at`."""
    git = {"branch": branch, "repository_url": repo_url} if branch or repo_url else None
    meta = {"id": sid, "timestamp": _ts(at - timedelta(minutes=5)), "cwd": cwd, "model_provider": "openai"}
    meta |= {"git": git} if git else {}
    meta |= {"source": {"subagent": {"thread_spawn": {"parent_thread_id": parent}}}} if parent else {}
    usage = {"input_tokens": 500, "cached_input_tokens": 100, "output_tokens": 50, "total_tokens": 550}
    lines = [
        {"timestamp": _ts(at - timedelta(minutes=5)), "type": "session_meta", "payload": meta},
        {"timestamp": _ts(at - timedelta(minutes=5)), "type": "turn_context", "payload": {"cwd": cwd, "model": "gpt-5"}},
        {"timestamp": _ts(at), "type": "event_msg", "payload": {"type": "token_count", "info": {
            "total_token_usage": usage, "last_token_usage": usage}}},
    ]
    path = home / ".codex/sessions/2026/05/12" / f"rollout-{sid}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _ts(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _hook(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode) for p in directory.iterdir()}


def _session(key: str, ended: datetime, parent: str | None = None) -> Session:
    return Session(key=key, runtime=Runtime.CODEX, parent_key=parent, started_at=ended - timedelta(minutes=30), ended_at=ended)


# -- install ----------------------------------------------------------------------------------------


def test_install_creates_executable_hooks(repo: Path) -> None:
    lines = hooks.install(repo, ["/opt/agent spend/bin/agentspend"], 6)

    assert lines == [f"{repo}/.git/hooks/{name}: installed" for name in hooks.HOOKS]
    for name in hooks.HOOKS:
        hook = repo / ".git/hooks" / name
        assert os.access(hook, os.X_OK)
        assert hooks.MARKER in hook.read_text()
        assert "'/opt/agent spend/bin/agentspend'" in hook.read_text()
    assert "hook trailers \"$1\" \"${2-}\" --hours 6" in (repo / ".git/hooks/prepare-commit-msg").read_text()


def test_install_twice_changes_nothing_and_never_chains_itself(repo: Path, agentspend: list[str]) -> None:
    hooks_dir = repo / ".git/hooks"
    _hook(hooks_dir / "pre-push", "echo original")
    hooks.install(repo, agentspend, 6)
    before = _snapshot(hooks_dir)

    lines = hooks.install(repo, agentspend, 6)

    assert lines == [f"{hooks_dir}/{name}: already installed" for name in hooks.HOOKS]
    assert _snapshot(hooks_dir) == before
    assert (hooks_dir / "pre-push.agentspend-chained").read_text() == "#!/bin/sh\necho original\n"
    assert not (hooks_dir / "prepare-commit-msg.agentspend-chained").exists()


def test_install_with_new_arguments_updates_in_place(repo: Path, agentspend: list[str]) -> None:
    hooks.install(repo, agentspend, 6)
    lines = hooks.install(repo, agentspend, 2)
    assert lines[0].endswith("prepare-commit-msg: updated")
    assert "--hours 2" in (repo / ".git/hooks/prepare-commit-msg").read_text()
    assert not list((repo / ".git/hooks").glob("*.agentspend-chained"))


def test_a_hook_that_replaced_ours_is_left_alone_when_the_chain_slot_is_taken(repo: Path, agentspend: list[str]) -> None:
    hooks_dir = repo / ".git/hooks"
    _hook(hooks_dir / "commit-msg", "echo first")
    hooks.install(repo, agentspend, 6)
    _hook(hooks_dir / "commit-msg", "echo second")  # another tool overwrote ours

    lines = hooks.install(repo, agentspend, 6)

    assert "commit-msg: left alone" in lines[1]
    assert (hooks_dir / "commit-msg").read_text() == "#!/bin/sh\necho second\n"
    assert (hooks_dir / "commit-msg.agentspend-chained").read_text() == "#!/bin/sh\necho first\n"


def test_core_hooks_path_is_respected_relative_to_the_work_tree(repo: Path, agentspend: list[str]) -> None:
    _git(repo, "config", "core.hooksPath", ".githooks")
    (repo / "src").mkdir()

    lines = hooks.install(repo / "src", agentspend, 6)

    assert all(os.access(repo / ".githooks" / name, os.X_OK) for name in hooks.HOOKS)
    assert not (repo / ".git/hooks/prepare-commit-msg").exists()
    assert lines[-1].startswith(f"note: {repo / '.githooks'} is inside the work tree")


def test_worktrees_share_the_common_hooks_and_use_their_own_branch(repo: Path, machine: Path, agentspend: list[str]) -> None:
    assert _commit(repo, "Initial").returncode == 0
    linked = repo.parent / "widgets-feature"
    _git(repo, "worktree", "add", "-q", "-b", "feature", str(linked))
    _rollout(machine, "on-feature", NOW - timedelta(minutes=10), cwd="/elsewhere", branch="feature")
    _rollout(machine, "on-main", NOW - timedelta(minutes=10), cwd="/elsewhere", branch="main")

    hooks.install(linked, agentspend, 6)

    assert (repo / ".git/hooks/prepare-commit-msg").is_file()
    assert _commit(linked, "Feature work").returncode == 0
    assert _trailers(linked) == ["Agent-Session: codex:on-feature"]


def test_install_outside_a_repository_is_an_error(tmp_path: Path, machine: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(hooks.HookError, match="not a git repository"):
        hooks.install(tmp_path / "plain", ["agentspend"], 6)


# -- chaining ---------------------------------------------------------------------------------------


def test_existing_hooks_run_first_and_keep_their_input(repo: Path, tmp_path: Path, agentspend: list[str]) -> None:
    marker = tmp_path / "marker"
    _hook(repo / ".git/hooks/prepare-commit-msg", f'echo "prepare $2" >> {marker}')
    _hook(repo / ".git/hooks/pre-push", f'echo "pre-push $1 $2" >> {marker}; cat >> {marker}')
    hooks.install(repo, agentspend, 6)

    assert _commit(repo).returncode == 0
    pushed = subprocess.run(
        [str(repo / ".git/hooks/pre-push"), "origin", REMOTE],
        input="refs/heads/main abc refs/heads/main def\n", capture_output=True, text=True, cwd=repo,
    )

    assert pushed.returncode == 0
    assert marker.read_text() == "prepare message\npre-push origin " + REMOTE + "\nrefs/heads/main abc refs/heads/main def\n"
    assert Path(os.environ["PUSH_MARKER"]).read_text() == "push --quiet"


def test_a_failing_existing_pre_push_still_fails_the_push(repo: Path, agentspend: list[str]) -> None:
    _hook(repo / ".git/hooks/pre-push", "echo 'no pushing on Fridays' >&2; exit 3")
    hooks.install(repo, agentspend, 6)

    pushed = subprocess.run([str(repo / ".git/hooks/pre-push"), "origin", REMOTE], input="", capture_output=True, text=True, cwd=repo)

    assert pushed.returncode == 3
    assert "no pushing on Fridays" in pushed.stderr
    assert not Path(os.environ["PUSH_MARKER"]).exists()


def test_a_failing_existing_prepare_commit_msg_still_fails_the_commit(repo: Path, agentspend: list[str]) -> None:
    _hook(repo / ".git/hooks/prepare-commit-msg", "exit 1")
    hooks.install(repo, agentspend, 6)
    assert _commit(repo).returncode != 0
    assert _git(repo, "rev-parse", "--verify", "-q", "HEAD", check=False).returncode != 0


# -- trailers on real commits -----------------------------------------------------------------------


def test_commit_gets_this_branchs_recent_top_level_sessions(repo: Path, machine: Path, agentspend: list[str]) -> None:
    recent = NOW - timedelta(hours=1)
    _rollout(machine, "a", recent, cwd="/elsewhere")  # remote matches, current branch
    _rollout(machine, "d", recent, cwd=str(repo), branch=None, repo_url=None)  # no git info, cwd in the work tree
    _rollout(machine, "b", recent, cwd="/elsewhere", branch="other")  # another branch
    _rollout(machine, "c", NOW - timedelta(hours=7), cwd="/elsewhere")  # older than 6 hours
    _rollout(machine, "e", recent, cwd="/elsewhere", parent="a")  # a subagent: its parent stands for it
    _rollout(machine, "f", recent, cwd="/elsewhere", repo_url="https://github.com/acme/other")
    assert [s.key for s in hooks.hook_sessions(repo, os.environ, machine, NOW, 6)] == ["codex:a", "codex:d"]
    hooks.install(repo, agentspend, 6)

    assert _commit(repo, "Add widgets").returncode == 0

    assert _last_message(repo) == "Add widgets\n\nAgent-Session: codex:a\nAgent-Session: codex:d\n"


def test_hours_bound_the_window(repo: Path, machine: Path, agentspend: list[str]) -> None:
    _rollout(machine, "three-hours-ago", NOW - timedelta(hours=3), cwd="/elsewhere")
    hooks.install(repo, agentspend, 2)
    assert _commit(repo).returncode == 0
    assert _trailers(repo) == []


def test_merge_commits_get_no_trailer(repo: Path, machine: Path, agentspend: list[str]) -> None:
    assert _commit(repo, "Initial").returncode == 0
    _git(repo, "checkout", "-q", "-b", "side")
    (repo / "side.txt").write_text("side\n")
    _git(repo, "add", "side.txt")
    _git(repo, "commit", "-q", "-m", "Side")
    _git(repo, "checkout", "-q", "main")
    _rollout(machine, "a", NOW - timedelta(minutes=5), cwd="/elsewhere")
    hooks.install(repo, agentspend, 6)

    _git(repo, "merge", "-q", "--no-ff", "--no-edit", "side")

    assert _git(repo, "rev-list", "--parents", "-n1", "HEAD").stdout.count(" ") == 2
    assert _trailers(repo) == []


def test_editor_commit_gets_trailers_only_when_git_will_commit(repo: Path, machine: Path, agentspend: list[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    _rollout(machine, "a", NOW - timedelta(minutes=5), cwd="/elsewhere")
    hooks.install(repo, agentspend, 6)
    (repo / "file.txt").write_text("x\n")
    _git(repo, "add", "file.txt")

    monkeypatch.setenv("GIT_EDITOR", "true")  # the user quits without writing a message
    aborted = _git(repo, "commit", "-q", check=False)
    monkeypatch.setenv("GIT_EDITOR", "printf 'Written in the editor\\n' >")
    written = _git(repo, "commit", "-q", check=False)

    assert aborted.returncode != 0 and "empty commit message" in aborted.stderr
    assert written.returncode == 0
    assert _last_message(repo) == "Written in the editor\n\nAgent-Session: codex:a\n"


def test_a_broken_agentspend_never_blocks_a_commit_or_push(repo: Path, tmp_path: Path) -> None:
    noisy = _hook(tmp_path / "noisy", "echo one >&2; echo two >&2; echo 'three: it broke' >&2; exit 1")
    for command in (["/bin/false"], [str(tmp_path / "missing")], [str(noisy)]):
        hooks.install(repo, command, 6)
        committed = _commit(repo, f"With {command[0]}")
        pushed = subprocess.run([str(repo / ".git/hooks/pre-push"), "origin", REMOTE], input="", capture_output=True,
                                text=True, cwd=repo)

        assert committed.returncode == 0 and _last_message(repo) == f"With {command[0]}\n"
        assert pushed.returncode == 0
        assert len(pushed.stderr.splitlines()) <= 1
    assert pushed.stderr == "three: it broke\n"
    assert committed.stderr == "three: it broke\n" * 2  # one line from each of the two commit hooks


def test_slow_log_reading_gives_up_without_touching_the_message(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    message = tmp_path / "COMMIT_EDITMSG"
    message.write_text("Subject\n")
    monkeypatch.chdir(repo)
    monkeypatch.setattr(hooks, "LOAD_DEADLINE_S", 0.05)
    monkeypatch.setattr(hooks, "hook_sessions", lambda *args: time.sleep(2) or [_session("codex:late", NOW)])

    assert hooks.run_trailers(message, "message", 6) == 0

    assert message.read_text() == "Subject\n"
    assert capsys.readouterr().err.count("\n") == 1


def test_an_error_while_reading_logs_is_named_in_its_one_line(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    message = tmp_path / "COMMIT_EDITMSG"
    message.write_text("Subject\n")
    monkeypatch.chdir(repo)

    def unreadable(*args: object) -> list[Session]:
        raise OSError("cache unreadable\nsecond line")

    monkeypatch.setattr(hooks, "hook_sessions", unreadable)

    assert hooks.run_trailers(message, "message", 6) == 0

    assert capsys.readouterr().err == "agentspend: no Agent-Session trailer added: cache unreadable\n"


def test_any_error_exits_zero_with_one_line(tmp_path: Path, machine: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "plain").mkdir()
    message = tmp_path / "msg"
    message.write_text("Subject\n")
    monkeypatch.chdir(tmp_path / "plain")

    assert hooks.run_trailers(message, "message", 6) == 0

    assert message.read_text() == "Subject\n"
    err = capsys.readouterr().err
    assert err.startswith("agentspend: no Agent-Session trailer added") and err.count("\n") == 1


# -- add_trailers without logs ----------------------------------------------------------------------


def test_add_trailers_keeps_recent_top_level_sessions_not_already_named(tmp_path: Path) -> None:
    message = tmp_path / "msg"
    message.write_text("Fix the parser\n\nLonger text.\n\nAgent-Session: codex:named\n")
    sessions = [
        _session("codex:new", NOW - timedelta(hours=1)),
        _session("codex:named", NOW - timedelta(hours=1)),
        _session("codex:child", NOW - timedelta(hours=1), parent="codex:new"),
        _session("codex:stale", NOW - timedelta(hours=6, minutes=1)),
        _session("claude-code:edge", NOW - timedelta(hours=6)),
    ]

    assert hooks.add_trailers(message, "message", sessions, NOW, 6) == 2

    assert message.read_text() == (
        "Fix the parser\n\nLonger text.\n\n"
        "Agent-Session: codex:named\nAgent-Session: claude-code:edge\nAgent-Session: codex:new\n"
    )


@pytest.mark.parametrize("source", ["merge", "squash", None, "", "template"])
def test_add_trailers_skips_merges_squashes_and_messages_not_yet_written(tmp_path: Path, source: str | None) -> None:
    message = tmp_path / "msg"
    message.write_text("Merge branch 'side'\n")
    assert hooks.add_trailers(message, source, [_session("codex:a", NOW)], NOW, 6) == 0
    assert message.read_text() == "Merge branch 'side'\n"


@pytest.mark.parametrize(
    ("text", "template"),
    [
        ("\n# Please enter the commit message.\n", None),
        ("\nSigned-off-by: Dev <dev@example.com>\n# Please enter the commit message.\n", None),
        ("Subject:\n\nWhy:\n# lines starting with '#' are ignored\n", "Subject:\n\nWhy:\n"),
        ("Done\n\nAgent-Session: codex:from-harness\n", None),
    ],
    ids=["empty", "sign-off-only", "untouched-template", "already-named"],
)
def test_after_editing_only_a_message_git_commits_gets_trailers(tmp_path: Path, text: str, template: str | None) -> None:
    message = tmp_path / "msg"
    message.write_text(text)
    assert hooks.add_trailers(message, hooks.AFTER_EDIT, [_session("codex:a", NOW)], NOW, 6, template=template) == 0
    assert message.read_text() == text


def test_after_editing_trailers_go_above_comments_and_the_scissors(tmp_path: Path) -> None:
    message = tmp_path / "msg"
    message.write_text(
        "Subject\n\n# Please enter the commit message.\n"
        "# ------------------------ >8 ------------------------\ndiff --git a/x b/x\n"
    )

    assert hooks.add_trailers(message, hooks.AFTER_EDIT, [_session("codex:a", NOW)], NOW, 6, template="Other\n") == 1

    assert message.read_text().startswith("Subject\n\nAgent-Session: codex:a\n")
    assert message.read_text().endswith("# ------------------------ >8 ------------------------\ndiff --git a/x b/x\n")
