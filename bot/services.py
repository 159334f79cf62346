"""What the running service shares — settings, database, GitHub client, prices — built once.

`create_app` builds it; routes reach it through the app state and jobs receive it as an
argument, so nothing is configured at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.intake import Intake
from bot.github.client import GitHubApi, GitHubUsers
from bot.pricing import PriceBook
from bot.settings import Settings


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    github: GitHubApi
    prices: PriceBook
    users: GitHubUsers
    """GitHub as signed-in people see it (dashboard sign-in and access checks)."""
    intake: Intake
    """Stores verified webhook deliveries, many to a commit under load."""
