"""`python -m bot` is `agentspend`."""

from bot.cli import main

raise SystemExit(main())
