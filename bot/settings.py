"""Settings, built once from the environment by the CLI and passed to everything else.

Nothing reads the environment at import time: tests construct `Settings(...)` directly.
A NamedTuple rather than a dataclass: every command builds one, and `dataclasses` (with the
`inspect` it imports) costs 11 ms of start-up, a tenth of a warm `agentspend report`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./agentspend.db"


class InvalidSetting(ValueError):
    """An environment variable with a value we cannot use; the message names it."""


class Settings(NamedTuple):
    database_url: str = DEFAULT_DATABASE_URL
    """`postgresql://…` (driven by asyncpg) or `sqlite+aiosqlite:///…` (the embedded default)."""

    prices_path: Path | None = None
    """YAML file of operator price overrides (negotiated or unlisted models); `AGENTSPEND_PRICES`."""

    github_app_id: str | None = None
    """The GitHub App's id; required by `serve` unless dry-run."""

    github_private_key: str | None = None
    """The App's PEM private key text (from `GITHUB_APP_PRIVATE_KEY` or the file at `…_PATH`)."""

    webhook_secrets: tuple[str, ...] = ()
    """Webhook secrets; several during rotation (`GITHUB_WEBHOOK_SECRET`, comma-separated)."""

    github_api_url: str = "https://api.github.com"
    """REST base URL: GitHub Enterprise Server, or a test server on loopback."""

    dry_run: bool = False
    """Record GitHub writes instead of sending them (`AGENTSPEND_DRY_RUN=1`)."""

    lease: timedelta = timedelta(minutes=2)
    """How long a worker holds a claimed delivery or refresh (`AGENTSPEND_LEASE_SECONDS`). Work
    of a worker that died is picked up by another once its lease runs out, so keep it above the
    longest refresh (a few seconds, more under GitHub retries)."""

    github_client_id: str | None = None
    """The App's OAuth client id, for dashboard sign-in (`GITHUB_CLIENT_ID`); without it nobody can sign in."""

    github_client_secret: str | None = None
    """The App's OAuth client secret (`GITHUB_CLIENT_SECRET`)."""

    session_secret: str | None = None
    """Encrypts the dashboard's session cookie and signs CSRF tokens (`AGENTSPEND_SESSION_SECRET`).
    Unset: a random one per process, so sign-ins do not survive a restart or span instances."""

    public_url: str = "http://localhost:8000"
    """Where people reach the service (`AGENTSPEND_PUBLIC_URL`): the OAuth callback is built from it, and
    an `https://` address makes the cookies `Secure`."""

    allow_http_webhooks: bool = False
    """Let alert webhooks from the organisation config use plain `http://` (`AGENTSPEND_ALLOW_HTTP_WEBHOOKS=1`;
    for a receiver on a private network, and for tests)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        prices = env.get("AGENTSPEND_PRICES")
        return cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            prices_path=Path(prices) if prices else None,
            github_app_id=env.get("GITHUB_APP_ID") or None,
            github_private_key=_private_key(env),
            webhook_secrets=tuple(s.strip() for s in env.get("GITHUB_WEBHOOK_SECRET", "").split(",") if s.strip()),
            github_api_url=(env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/"),
            dry_run=_flag(env, "AGENTSPEND_DRY_RUN"),
            lease=timedelta(seconds=_positive(env, "AGENTSPEND_LEASE_SECONDS", 120.0)),
            github_client_id=env.get("GITHUB_CLIENT_ID") or None,
            github_client_secret=env.get("GITHUB_CLIENT_SECRET") or None,
            session_secret=env.get("AGENTSPEND_SESSION_SECRET") or None,
            public_url=(env.get("AGENTSPEND_PUBLIC_URL") or "http://localhost:8000").rstrip("/"),
            allow_http_webhooks=_flag(env, "AGENTSPEND_ALLOW_HTTP_WEBHOOKS"),
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _private_key(env: Mapping[str, str]) -> str | None:
    if env.get("GITHUB_APP_PRIVATE_KEY"):
        return env["GITHUB_APP_PRIVATE_KEY"]
    path = env.get("GITHUB_APP_PRIVATE_KEY_PATH")
    return Path(path).read_text() if path else None


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise InvalidSetting(f"{name} must be a number of seconds, not {raw!r}") from None
    if value <= 0:
        raise InvalidSetting(f"{name} must be positive, not {raw!r}")
    return value
