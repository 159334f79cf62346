"""Read the organisation's `agentspend.yml` (in its `.github` repository): teams, time-window alerts, the weekly review.

The same machinery as the repository config (`repo_config.parse_document`): unknown keys are
errors with a "did you mean", and every error names its line, so the dashboard can show the
admin exactly what to fix. AgentSpend is not a proxy: these budgets warn, they never block.

    version: 1
    teams:
      backend: [alice, bob]          # logins…
      platform: ["@acme/platform"]   # …or GitHub teams, resolved through the API
    alerts:
      webhook_url: https://hooks.slack.com/services/T000/B000/XXXX   # Slack-compatible
      tiers: [0.5, 0.8, 1.0]         # early warnings, each sent once per window
      users: {alice: {daily: 40}, "*": {daily: 25}}   # "*": every user without a line of their own
      teams: {backend: {weekly: 300}}
      repos: {widgets: {monthly: 1000}}                # a repository of the organisation, by name
      org: {monthly: 5000}
    review:
      expensive_usd: 1               # a session costing at least this is "expensive" in the weekly review
      heavy_waste: 0.2               # avoidable share of a session's cost that makes it wasteful
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, Strict, field_validator
from pydantic_core import PydanticCustomError

from bot.github.repo_config import (
    ConfigError,
    _approver,
    _Fraction,
    _Number,
    _Section,
    _Text,
    _version,
    parse_document,
)

CONFIG_REPO = ".github"
CONFIG_FILE = "agentspend.yml"
"""At the root of the organisation's `.github` repository, on its default branch."""
PATH = f"{CONFIG_REPO}/{CONFIG_FILE}"
PERIODS: tuple[Literal["hourly", "daily", "weekly", "monthly"], ...] = ("hourly", "daily", "weekly", "monthly")
EVERYONE = "*"


def _webhook(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/]+\S*", value):
        raise PydanticCustomError("webhook", "must be a web address starting with https://")
    return value


def _tier(value: float) -> float:
    if not 0 < value <= 10:
        raise PydanticCustomError("tier", "must be a fraction of the budget above 0 (0.8 means 80%)")
    return value


class Limits(_Section):
    """USD per window; a window left out has no budget."""

    hourly: _Number | None = None
    daily: _Number | None = None
    weekly: _Number | None = None
    monthly: _Number | None = None

    def items(self) -> list[tuple[str, float]]:
        return [(period, getattr(self, period)) for period in PERIODS if getattr(self, period) is not None]


class Alerts(_Section):
    webhook_url: Annotated[_Text, AfterValidator(_webhook)] | None = None
    """Slack incoming webhook, or anything that accepts Slack's `{"text": …}` (Mattermost, Rocket.Chat…)."""

    tiers: tuple[Annotated[float, Strict(), Field(allow_inf_nan=False), AfterValidator(_tier)], ...] = (0.5, 0.8, 1.0)
    """Fractions of a budget at which a warning goes out, once per window each."""

    users: dict[_Text, Limits] = {}
    teams: dict[_Text, Limits] = {}
    repos: dict[_Text, Limits] = {}
    org: Limits | None = None

    @field_validator("users", "teams", "repos", mode="before")
    @classmethod
    def _none_is_empty(cls, value: object) -> object:
        return {} if value is None else value


class Review(_Section):
    expensive_usd: _Number = 1.0
    """A session costing at least this much in the week is "expensive"."""

    heavy_waste: _Fraction = 0.2
    """Avoidable spend (waste findings) at or above this share of a session's cost makes it wasteful."""


Member = Annotated[_Text, AfterValidator(_approver)]


class OrgConfig(_Section):
    version: Annotated[int, Strict(), AfterValidator(_version)] = 1
    teams: dict[_Text, tuple[Member, ...]] = {}
    """Team name → logins and `@org/team-slug` GitHub teams."""
    alerts: Alerts = Alerts()
    review: Review = Review()

    @field_validator("alerts", "review", mode="before")
    @classmethod
    def _empty_section(cls, value: object) -> object:
        return {} if value is None else value

    @field_validator("teams", mode="before")
    @classmethod
    def _team_lists(cls, value: object) -> object:
        """`platform: "@acme/platform"` is a team of one entry, as its author meant."""
        if value is None:
            return {}
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else ([] if v is None else v) for k, v in value.items()}
        return value

    def github_teams(self) -> list[tuple[str, str, str]]:
        """(team name, org, slug) of every GitHub team a team is made of."""
        return [(name, *ref[1:].split("/", 1)) for name, refs in self.teams.items() for ref in refs if ref.startswith("@")]


_SECTIONS: dict[tuple[str, ...], type[BaseModel]] = {(): OrgConfig, ("alerts",): Alerts, ("review",): Review}


def parse(text: str | None) -> OrgConfig | ConfigError:
    """The organisation config (None: no file, so no teams and no alerts), or its first error. Never raises."""
    if text is None:
        return OrgConfig()
    parsed = parse_document(text, OrgConfig, _SECTIONS, path=PATH, example="alerts")
    return parsed if isinstance(parsed, ConfigError) else parsed[1]
