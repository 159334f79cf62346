"""Acceptance: `agentspend serve` as a process, GitHub faked on loopback, traces pushed by the CLI.

Nothing is called in-process: the service, `agentspend token create` and `agentspend push` run
as the operator and developers would run them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest
from fakes.github import Commit, FakeGitHub, private_key_pem

from bot.github.events import sign
from conftest import FIXTURES
from processes import AGENTSPEND, free_port, stop, until, wait_healthy

REPO = "Codertocat/Hello-World"
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
SECRET = "serve-secret"


def _rollout(home: Path) -> None:
    """A developer's Codex session on the PR's branch, before the PR was opened."""
    usage = {"input_tokens": 40000, "cached_input_tokens": 10000, "output_tokens": 3000,
             "reasoning_output_tokens": 1000, "total_tokens": 43000}
    lines = [
        {"timestamp": "2019-05-15T14:00:00.000Z", "type": "session_meta", "payload": {
            "id": "serve-session-1", "cwd": "/work/hello", "model_provider": "openai",
            "git": {"branch": "changes", "repository_url": "https://github.com/Codertocat/Hello-World.git"}}},
        {"timestamp": "2019-05-15T14:00:01.000Z", "type": "turn_context", "payload": {"model": "gpt-5"}},
        {"timestamp": "2019-05-15T14:00:09.000Z", "type": "event_msg", "payload": {"type": "token_count", "info": {
            "total_token_usage": usage, "last_token_usage": usage}}},
    ]
    folder = home / ".codex/sessions/2019/05/15"
    folder.mkdir(parents=True)
    (folder / "rollout-2019-05-15T14-00-00-serve-session-1.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))


@pytest.fixture
def env(tmp_path: Path, fake_github: FakeGitHub) -> dict[str, str]:
    fake_github.seed_hello_world(commits=[Commit(HEAD, "Update README\n", date="2019-05-15T15:10:00Z")])
    fake_github.add_file(REPO, ".github/agentspend.yml", "version: 1\nbudget:\n  pr: 0.05\n", ref="master")
    home = tmp_path / "home"
    _rollout(home)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "AGENTSPEND_", "CODEX_", "CLAUDE_"))}
    return base | {
        "HOME": str(home), "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "AGENTSPEND_CACHE_DIR": str(tmp_path / "cache"), "GITHUB_APP_ID": str(fake_github.app.id),
        "GITHUB_APP_PRIVATE_KEY": private_key_pem(), "GITHUB_WEBHOOK_SECRET": f"{SECRET},old-secret",
        "GITHUB_API_URL": fake_github.url,
    }


def test_serve_push_and_publish(env: dict[str, str], fake_github: FakeGitHub) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*AGENTSPEND, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(url, server)
        body = (FIXTURES / "github/webhooks/pull_request.opened.json").read_bytes()
        headers = {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "serve-1", "Content-Type": "application/json"}
        assert httpx.post(f"{url}/webhooks/github", content=body,
                          headers=headers | {"X-Hub-Signature-256": sign(body, "wrong")}).status_code == 401
        assert httpx.post(f"{url}/webhooks/github", content=body,
                          headers=headers | {"X-Hub-Signature-256": sign(body, "old-secret")}).status_code == 202
        until(lambda: len(fake_github.check_runs_for(REPO, HEAD, "AgentSpend")) == 1)  # "no traces yet"

        token = subprocess.run([*AGENTSPEND, "token", "create", "--owner", "codertocat"], env=env,
                               capture_output=True, text=True, check=True).stdout.strip()
        pushed = subprocess.run([*AGENTSPEND, "push", "--server", url, "--token", token], env=env,
                                capture_output=True, text=True)
        assert pushed.returncode == 0, pushed.stderr
        assert "pushed 1 session(s)" in pushed.stdout

        until(lambda: len(fake_github.comments_on(REPO, 2)) == 1)
        [comment] = fake_github.comments_on(REPO, 2)
        report_url = f"{url}/api/v1/repos/codertocat/hello-world/pulls/2/report"
        assert httpx.get(report_url).status_code == 401  # behind the dashboard's access rule
        as_user = {"Authorization": f"Bearer {fake_github.user_token('Codertocat')}"}
        report = httpx.get(report_url, headers=as_user).json()
        expected = (30000 * 1.25 + 10000 * 0.125 + 3000 * 10) / 1e6  # gpt-5 list prices per MTok
        assert report["total_cost_usd"] == pytest.approx(expected, rel=1e-6)
        assert f"${expected:,.2f}" in comment.body and "serve-session-1" in comment.body
        until(lambda: fake_github.check_runs_for(REPO, HEAD, "AgentSpend")[0].conclusion == "failure")
        assert len(fake_github.check_runs_for(REPO, HEAD, "AgentSpend")) == 1

        again = subprocess.run([*AGENTSPEND, "push", "--server", url, "--token", token], env=env,
                               capture_output=True, text=True, check=True)
        assert "pushed 0 session(s)" in again.stdout and "1 unchanged" in again.stdout
        assert fake_github.strays == []
    finally:
        stop(server, timeout=20)
