"""What the running service shares — settings, database, GitHub client, prices — built once.

`create_app` builds it; routes reach it through the app state and jobs receive it as an
argument, so nothing is configured at import time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.github.client import GitHubApi
from bot.pricing import PriceBook
from bot.settings import Settings


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    github: GitHubApi
    prices: PriceBook
    work: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a delivery or a trace arrives, so the worker wakes without waiting for its tick."""
