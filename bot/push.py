"""`agentspend push`: upload this machine's new or grown sessions to an AgentSpend server.

Incremental: a small state file remembers a fingerprint of every session already sent, so a
push sends only what changed. Sessions go in batches per repository, so a repository the token
may not write (403) is skipped and remembered without holding back the others.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.trace import Session
from bot.wire import to_json

BATCH = 200
TIMEOUT = 30.0


@dataclass
class PushResult:
    server: str
    sent: int = 0
    spans: int = 0
    unchanged: int = 0
    refused: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"pushed {self.sent} session(s) ({self.spans} spans) to {self.server}; {self.unchanged} unchanged"]
        out += [f"not pushed: {repo}: {why}" for repo, why in sorted(self.refused.items())]
        return out + [f"error: {e}" for e in self.errors]


def fingerprint(session: Session) -> str:
    """Changes whenever the session gains spans or usage (logs are append-only)."""
    spans = sorted((s.span_id, s.tokens.total if s.tokens else -1, str(s.status)) for s in session.spans)
    return hashlib.blake2b(repr((session.repo, session.branch, session.commits, spans)).encode(), digest_size=12).hexdigest()


def push(sessions: Iterable[Session], server: str, token: str, state_file: Path, client: httpx.Client | None = None) -> PushResult:
    result = PushResult(server=server.rstrip("/"))
    sent = _load_state(state_file)
    pending: dict[str | None, list[Session]] = defaultdict(list)
    for session in sessions:
        if sent.get(session.key) == fingerprint(session):
            result.unchanged += 1
        else:
            pending[session.repo].append(session)
    http = client or httpx.Client(timeout=TIMEOUT)
    try:
        for repo, group in sorted(pending.items(), key=lambda kv: kv[0] or ""):
            for start in range(0, len(group), BATCH):
                batch = group[start : start + BATCH]
                if not _send(http, result, token, repo, batch):
                    break
                for session in batch:
                    sent[session.key] = fingerprint(session)
                    result.sent += 1
                    result.spans += len(session.spans)
    finally:
        if client is None:
            http.close()
        _save_state(state_file, sent)
    return result


def _send(http: httpx.Client, result: PushResult, token: str, repo: str | None, batch: list[Session]) -> bool:
    try:
        response = http.post(f"{result.server}/api/v1/sessions", content=to_json(batch),
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        result.errors.append(f"{result.server} unreachable: {exc.__class__.__name__}")
        return False
    if response.status_code == 403:
        result.refused[repo or "(unknown repository)"] = _message(response)
        return False
    if response.status_code >= 400:
        result.errors.append(f"{response.status_code} from the server: {_message(response)}")
        return False
    return True


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", response.text))
    except ValueError:
        return response.text[:200]


def _load_state(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_state(path: Path, state: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)
