"""The `agentspend` command line: each command builds Settings and calls the modules that do the work.

Heavy imports (SQLAlchemy, Jinja2, the price tables) happen inside the commands that need them,
so `agentspend report` over unchanged logs answers from its cache without loading them.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Iterable, Sequence
from typing import BinaryIO
from datetime import UTC, datetime
from pathlib import Path

from bot.settings import InvalidSetting, Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args, Settings.from_env()) or 0)
    except (UsageError, InvalidSetting) as exc:
        print(f"agentspend: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `agentspend report | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit's flush
        return 141  # as if SIGPIPE had ended the process, as it ends other tools


class UsageError(Exception):
    """A mistake the user can fix; printed without a traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentspend", description="The cost of coding agents, per pull request.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    report = commands.add_parser("report", help="offline: cost of this repository's agent sessions from local logs")
    report.add_argument("path", nargs="?", default=".", type=Path, help="a directory inside the git repository (default: .)")
    branch = report.add_mutually_exclusive_group()
    branch.add_argument("--branch", help="only sessions on this branch (default: the current branch)")
    branch.add_argument("--all-branches", action="store_true", help="sessions of every branch of the repository")
    report.add_argument("--all", action="store_true", dest="everything", help="every session found, any repository")
    report.add_argument("--since", type=_date, help="only sessions active on or after this date (YYYY-MM-DD)")
    report.add_argument("--format", choices=("md", "json"), default="md")
    report.add_argument("--no-cache", action="store_true", help="ignore and do not write the parse cache")
    report.set_defaults(run=_report)

    ingest = commands.add_parser("ingest", help="parse native agent logs into the database")
    ingest.add_argument("paths", nargs="+", type=Path, metavar="FILE_OR_DIR")
    ingest.add_argument("--format", help="read every file with this adapter (settles ambiguous files)")
    ingest.set_defaults(run=_ingest)

    sessions = commands.add_parser("sessions", help="the stored sessions with their totals")
    sessions.add_argument("--repo", metavar="OWNER/NAME")
    sessions.add_argument("--format", choices=("table", "json"), default="table")
    sessions.set_defaults(run=_sessions)

    demo = commands.add_parser("demo", help="the whole loop on SQLite with sample traces; GitHub writes recorded")
    demo.add_argument("--out", type=Path, default=Path("agentspend-demo"), help="where comment.md and check.json go")
    demo.set_defaults(run=_demo)

    serve = commands.add_parser("serve", help="run the service (applies migrations first)")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.set_defaults(run=_serve)

    token = commands.add_parser("token", help="ingest tokens for `agentspend push`")
    token_commands = token.add_subparsers(title="token commands", metavar="COMMAND")
    create = token_commands.add_parser("create", help="print a new ingest token for an installation's account")
    create.add_argument("--owner", required=True, metavar="LOGIN")
    create.set_defaults(run=_token_create)

    push = commands.add_parser("push", help="upload new sessions from local logs to a server")
    push.add_argument("--server", default=os.environ.get("AGENTSPEND_SERVER"), help="base URL (or AGENTSPEND_SERVER)")
    push.add_argument("--token", default=os.environ.get("AGENTSPEND_TOKEN"), help="ingest token (or AGENTSPEND_TOKEN)")
    push.add_argument("--quiet", action="store_true")
    push.set_defaults(run=_push)

    deliveries = commands.add_parser("deliveries", help="stored webhook deliveries and their state")
    deliveries.add_argument("--failed", action="store_true", help="only deliveries that gave up")
    deliveries.add_argument("--retry", metavar="ID", help="queue this delivery again")
    deliveries.set_defaults(run=_deliveries)

    hook = commands.add_parser("hook", help="git hooks: Agent-Session trailers on commits, trace upload on push")
    hook_commands = hook.add_subparsers(title="hook commands", metavar="COMMAND")
    hook_install = hook_commands.add_parser("install", help="install the hooks in a repository, chaining any already there")
    hook_install.add_argument("--path", type=Path, default=Path("."), help="a directory inside the git repository (default: .)")
    hook_install.add_argument("--hours", type=int, default=6, help="trailers name the sessions active in the last N hours")
    hook_install.set_defaults(run=_hook_install)
    trailers = hook_commands.add_parser("trailers", help="run by the commit hooks: add Agent-Session trailers to a message file")
    trailers.add_argument("message_file", type=Path)
    trailers.add_argument("source", nargs="?", help="prepare-commit-msg's commit source, or `commit-msg` after editing")
    trailers.add_argument("--hours", type=int, default=6)
    trailers.set_defaults(run=_hook_trailers)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(title="db commands", metavar="COMMAND")
    upgrade = db_commands.add_parser("upgrade", help="apply migrations")
    upgrade.set_defaults(run=_db_upgrade)
    return parser


def _date(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (expected YYYY-MM-DD)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from bot import offline

    env, home = os.environ, Path.home()
    path = args.path.expanduser().resolve()
    if not path.exists():
        raise UsageError(f"{path}: no such directory")
    scope = offline.scope_for(path, args.branch, args.all_branches, args.everything, args.since)
    if not scope.everything and scope.repo is None and scope.worktree is None:
        raise UsageError(f"{path} is not inside a git repository; pass --all for every session on this machine")
    cache_dir = None if args.no_cache else offline.default_cache_dir(env)
    prices_stamp = _stamp(settings.prices_path)
    config_text = _local_config(scope.worktree)
    extra = (scope, args.format, prices_stamp, WASTE_VERSION, config_text)
    key = offline.fingerprint(home, extra) if cache_dir else ""
    if cache_dir and (cached := offline.cached_output(cache_dir, key, env, home)) is not None:
        with cached:
            _copy_out(cached)
        return 0
    rendered = _render_report(offline.load_sessions(env, home, cache_dir), scope, settings, args.format, config_text)
    _write_out(offline.store_output(cache_dir, key, rendered) if cache_dir else rendered)
    return 0


def _write_out(chunks: Iterable[bytes]) -> None:
    """A report as UTF-8 bytes, the same whether it was rendered now or cached."""
    sys.stdout.flush()
    out = sys.stdout.buffer
    for chunk in chunks:
        out.write(chunk)
    out.flush()


def _copy_out(cached: BinaryIO) -> None:
    """A cached report, copied to the output by the kernel (`sendfile`): on the path that must
    answer fastest, reading 10 MB into this process and writing it out again took 10-30 ms.
    Where the output takes no `sendfile` (a terminal, a test's captured stream), it is copied."""
    sys.stdout.flush()
    out = sys.stdout.buffer
    out.flush()
    if not _sent_whole(cached, out):
        _write_out(iter(lambda: cached.read(1 << 20), b""))


def _sent_whole(cached: BinaryIO, out: BinaryIO) -> bool:
    """Whether `sendfile` copied all of `cached` to `out`; False, having copied nothing, where
    `out` has no file behind it (io.UnsupportedOperation) or takes no `sendfile`."""
    try:
        target = out.fileno()
    except (AttributeError, OSError):
        return False
    size, sent = os.fstat(cached.fileno()).st_size, 0
    try:
        while sent < size and (n := os.sendfile(target, cached.fileno(), sent, size - sent)):
            sent += n
    except OSError as exc:
        if sent or exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise
        return False
    return True


WASTE_VERSION = "waste-1"
"""Part of the offline output cache key: a rendering cached before the findings changed is stale."""


def _render_report(
    loaded: tuple, scope: object, settings: Settings, fmt: str, config_text: str | None,
) -> Iterable[bytes]:
    from bot.github import repo_config
    from bot.report import build, render, waste

    sessions, skipped = loaded
    del loaded
    kept = build.keep_sessions(sessions, scope.keeps)
    del sessions
    prices = _price_book(settings)
    prices.price_sessions(kept)
    thresholds, described = waste.thresholds(repo_config.parse(config_text), "in this checkout")
    findings = waste.find(kept, thresholds, prices)
    # The report holds figures only: its rows take the memory of the spans they sum up, and the
    # rendering that of the rest, instead of adding to the run's peak.
    report = build.build(kept, prices.source, dict(skipped), release_spans=True)
    del kept
    report.findings, report.waste_thresholds = findings, described
    if fmt == "json":
        return render.json_chunks(report)
    return (render.comment(report, scope=scope.describe()).encode(),)


LOCAL_CONFIG = ".github/agentspend.yml"
"""`repo_config.CONFIG_PATH`, spelled out: importing that module (pydantic) would slow the cached path."""


def _local_config(worktree: Path | None) -> str | None:
    """The checkout's own `.github/agentspend.yml` (its `waste:` thresholds apply offline), if any."""
    if worktree is None:
        return None
    try:
        return (worktree / LOCAL_CONFIG).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _price_book(settings: Settings):  # noqa: ANN202 (PriceBook import is lazy on purpose)
    from bot.pricing import PriceBook, PriceFileError

    try:
        return PriceBook.load(settings.prices_path)
    except PriceFileError as exc:
        raise UsageError(f"AGENTSPEND_PRICES: {exc}") from exc
    except OSError as exc:
        raise UsageError(f"AGENTSPEND_PRICES: cannot read {settings.prices_path}: {exc.strerror}") from exc


def _stamp(path: Path | None) -> tuple[str, int] | None:
    if path is None:
        return None
    try:
        return (str(path), path.stat().st_mtime_ns)
    except OSError:
        return (str(path), -1)


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from bot import adapters
    from bot.adapters.base import FormatError
    from bot.db.engine import make_engine, upgrade
    from bot.ingest import ingest, plan

    try:
        forced = adapters.by_name(args.format) if args.format else None
    except FormatError as exc:
        raise UsageError(str(exc)) from exc
    prices = _price_book(settings)
    units, errors = plan(args.paths, forced)
    for error in errors:
        print(f"agentspend: {error}", file=sys.stderr)
    upgrade(settings.database_url)

    async def run() -> object:
        engine = make_engine(settings.database_url)
        try:
            with _progress(len(units)) as step:
                return await ingest(engine, units, prices, on_unit=lambda _path: step())
        finally:
            await engine.dispose()

    import asyncio

    summary = asyncio.run(run())
    print(f"read {summary.units} log unit(s): {summary.sessions_added} session(s) and {summary.spans_added} span(s) added")
    if summary.skipped:
        print("skipped lines: " + ", ".join(f"{n} {reason}" for reason, n in summary.skipped.most_common()))
    if summary.unpriced_tokens:
        print("unpriced tokens: " + ", ".join(f"{n} of {model}" for model, n in summary.unpriced_tokens.most_common()))
    return 1 if errors and not units else 0


class _progress:
    """A progress bar on a terminal for long runs; silent when output is piped or the run is short."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar = None

    def __enter__(self):  # noqa: ANN204
        if sys.stderr.isatty() and self.total > 20:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, unit="file", file=sys.stderr, leave=False)
        return self.step

    def step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def _sessions(args: argparse.Namespace, settings: Settings) -> int:
    from bot.db import queries

    rows = _with_db(settings, lambda db: queries.session_totals(db, args.repo))
    if args.format == "json":
        import json

        print(json.dumps([_totals_dict(r) for r in rows], indent=2))
        return 0
    header = ("session", "runtime", "repo", "branch", "input", "output", "cache_read", "cache_write", "cost_usd", "unpriced")
    table = [header] + [
        (r.key, r.runtime, r.repo or "-", r.branch or "-", str(r.input), str(r.output), str(r.cache_read),
         str(r.cache_write), f"{r.cost_usd:.4f}", str(r.unpriced_tokens) + (f" (+{r.unknown_usage_calls} unknown calls)" if r.unknown_usage_calls else ""))
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _totals_dict(r: object) -> dict[str, object]:
    from dataclasses import asdict

    data = asdict(r)
    data["started_at"] = data["started_at"].isoformat() if data["started_at"] else None
    data["tokens"] = {k: data.pop(k) for k in ("input", "output", "cache_read", "cache_write", "reasoning")}
    return data


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from bot import demo

    import asyncio

    comment, check = asyncio.run(demo.run(args.out.resolve()))
    sys.stdout.write(comment)
    print(f"\ncheck run AgentSpend: {check['conclusion']} — {check['title']}")
    print(f"wrote {args.out / 'comment.md'}, {args.out / 'check.json'} and {args.out / 'report.json'}")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from bot.app import create_app
    from bot.db.engine import upgrade

    missing = [name for name, value in (("GITHUB_WEBHOOK_SECRET", settings.webhook_secrets),
                                        ("GITHUB_APP_ID", settings.github_app_id or settings.dry_run),
                                        ("GITHUB_APP_PRIVATE_KEY", settings.github_private_key or settings.dry_run)) if not value]
    if missing:
        raise UsageError(f"serve needs {', '.join(missing)} (or AGENTSPEND_DRY_RUN=1 for the App identity)")
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # two lines a second per tick otherwise
    upgrade(settings.database_url)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def _token_create(args: argparse.Namespace, settings: Settings) -> int:
    from bot.db import tokens

    token = _with_db(settings, lambda db: tokens.create(db, args.owner))
    print(token)
    print(f"ingest token for {args.owner}: shown once, stored only as a hash", file=sys.stderr)
    return 0


def _push(args: argparse.Namespace, settings: Settings) -> int:
    from bot import offline, push

    if not args.server or not args.token:
        raise UsageError("push needs --server and --token (or AGENTSPEND_SERVER and AGENTSPEND_TOKEN)")
    cache_dir = offline.default_cache_dir(os.environ)
    sessions, _ = offline.load_sessions(os.environ, Path.home(), cache_dir)
    result = push.push(sessions, args.server, args.token, cache_dir / "pushed.json")
    if not args.quiet or result.errors:
        for line in result.lines():
            print(line, file=sys.stderr if result.errors else sys.stdout)
    return 1 if result.errors else 0


def _deliveries(args: argparse.Namespace, settings: Settings) -> int:
    from bot.db import deliveries

    if args.retry:
        if not _with_db(settings, lambda db: deliveries.retry(db, args.retry)):
            raise UsageError(f"no delivery {args.retry!r}")
        print(f"delivery {args.retry} queued again; a running `agentspend serve` will process it")
        return 0
    rows = _with_db(settings, lambda db: deliveries.listing(db, failed_only=args.failed))
    for r in rows:
        error = f"  {r.last_error}" if r.last_error and r.state != "done" else ""
        print(f"{r.id}  {r.received_at:%Y-%m-%d %H:%M:%S}  {r.event}.{r.action or '-'}  {r.state}  attempts={r.attempts}{error}")
    return 0


def _with_db(settings: Settings, work):  # noqa: ANN001, ANN202 - a one-shot unit of work for CLI commands
    from bot.db.engine import make_engine, session_scope, upgrade

    upgrade(settings.database_url)

    async def run():  # noqa: ANN202
        engine = make_engine(settings.database_url)
        try:
            async with session_scope(engine) as db:
                return await work(db)
        finally:
            await engine.dispose()

    import asyncio

    return asyncio.run(run())


def _hook_install(args: argparse.Namespace, settings: Settings) -> int:
    from bot import hooks

    if args.hours < 1:
        raise UsageError("--hours must be at least 1")
    try:
        lines = hooks.install(args.path.expanduser().resolve(), hooks.agentspend_command(), args.hours)
    except hooks.HookError as exc:
        raise UsageError(str(exc)) from exc
    print("\n".join(lines))
    return 0


def _hook_trailers(args: argparse.Namespace, settings: Settings) -> int:
    from bot import hooks

    return hooks.run_trailers(args.message_file, args.source or None, args.hours)


def _db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from bot.db.engine import upgrade

    upgrade(settings.database_url)
    print("database is at the latest revision")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
