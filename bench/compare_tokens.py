#!/usr/bin/env python3
"""Token totals per model: agentspend vs ccusage, for Claude Code and Codex, cell by cell.

    .venv/bin/python bench/compare_tokens.py /work/shared/fixtures/agents/claude-code /work/shared/fixtures/agents/codex
    .venv/bin/python bench/compare_tokens.py /work/shared/fixtures/agents      # both, same thing
    .venv/bin/python bench/compare_tokens.py bench/out/corpus-100mb              # a bench corpus

Each argument is a fixture folder (copied into a temp dir laid out for the tools), a bench
corpus (`claude/projects`, `codex/sessions`), a CLAUDE_CONFIG_DIR or a CODEX_HOME. Each agent
is run on its own (the other agent's root points at an empty dir), so `by_model` rows belong
to one agent. Exit status 1 when any compared cell differs.

Conventions (all columns are in ours):
  input        uncached input. Claude: both tools' input is already uncached (Anthropic usage).
               Codex: the rollout's input_tokens INCLUDES cached_input_tokens; we store
               input − cached. ccusage's codex inputTokens is checked against its totalTokens
               per row (inclusive if total = input + output, exclusive if total = input +
               cache_read + output) and converted to uncached when inclusive; the header says
               which one this ccusage build uses.
  cache_read   Claude cache_read_input_tokens / Codex cached_input_tokens (both tools).
  cache_write  Claude cache_creation_input_tokens (5m + 1h); Codex has none.
  output       includes reasoning for both tools.
  reasoning    Codex reasoning_output_tokens (part of output); ccusage reports none for Claude.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    TOKEN_KEYS,
    Roots,
    agentspend_cmd,
    ccusage_by_model,
    ccusage_cmd,
    ensure_ccusage,
    normalize_model,
    ours_by_model,
    ours_calls,
    resolve_roots,
    run_json,
    tool_env,
)

LABEL = {"claude": "Claude Code", "codex": "Codex"}


def compare(roots: Roots, agent: str, cache: Path) -> tuple[list[str], int]:
    env_roots = roots.only(agent)
    ours = run_json(agentspend_cmd(no_cache=True), tool_env(env_roots, cache))
    peer_raw = run_json(ccusage_cmd(agent), tool_env(env_roots))
    peer = ccusage_by_model(agent, peer_raw)
    mine = ours_by_model(ours)

    lines = [f"### {LABEL[agent]}", ""]
    if agent == "codex":
        convention = {True: "INCLUDES cached input → converted to uncached (input − cache_read)",
                      False: "is already uncached (input − cached) → compared as is",
                      None: "could not be decided from totalTokens → compared as is"}[peer.input_includes_cached]
        lines += [f"ccusage codex `inputTokens` {convention}; agentspend `input` is uncached "
                  "(rollout input_tokens − cached_input_tokens). `output` includes reasoning in both.", ""]
    else:
        lines += ["Both tools: `input` = uncached input_tokens, `cache_write` = cache_creation_input_tokens, "
                  "`output` as logged (thinking inside). ccusage has no reasoning split for Claude.", ""]
    lines += [f"agentspend: {len(ours.get('sessions', []))} sessions, {ours_calls(ours)} calls, "
              f"${ours.get('total_cost_usd', 0):.4f} (genai-prices) · ccusage: {peer.sessions} sessions, "
              f"${peer.cost:.4f} (its own price table, offline)", ""]

    # Join on a normalised name; several spellings of one model (a Bedrock id and the plain
    # id) are summed on each side, and the row lists every spelling seen.
    shared = set(mine) & set(peer.models)
    ours_g, peer_g = _group(mine, shared), _group(peer.models, shared)
    lines += ["| model | tokens | agentspend | ccusage | diff (ours − peer) | |", "|---|---|--:|--:|--:|:-:|"]
    differing = 0
    fields = TOKEN_KEYS if agent == "codex" else TOKEN_KEYS[:4]
    totals = {k: [0, 0] for k in fields}
    for key in sorted(set(ours_g) | set(peer_g)):
        our_names, our_row = ours_g.get(key, ([], {}))
        peer_names, peer_row = peer_g.get(key, ([], {}))
        label = " + ".join(our_names) or "–"
        if sorted(peer_names) != sorted(our_names):
            label = f"ours: {label}<br>ccusage: {' + '.join(peer_names) or '–'}"
        for field in fields:
            a, b = our_row.get(field, 0), peer_row.get(field, 0)
            totals[field][0] += a
            totals[field][1] += b
            ok = a == b
            differing += not ok
            lines.append(f"| {label} | {field} | {a:,} | {b:,} | {a - b:+,} | {'✓' if ok else '✗'} |")
            label = ""
    for field in fields:
        a, b = totals[field]
        lines.append(f"| **all models** | {field} | **{a:,}** | **{b:,}** | {a - b:+,} | {'✓' if a == b else '✗'} |")
    if agent == "claude":
        lines.append(f"| **all models** | reasoning | {sum(r['reasoning'] for r in mine.values()):,} | n/a | | – |")
    lines.append("")
    return lines, differing


def _group(models: dict[str, dict[str, int]], shared: set[str]) -> dict[str, tuple[list[str], dict[str, int]]]:
    """Rows keyed by the exact name when both tools use it, else by the normalised name."""
    groups: dict[str, tuple[list[str], dict[str, int]]] = {}
    for name, row in sorted(models.items()):
        key = name if name in shared else "~" + normalize_model(name)
        names, summed = groups.setdefault(key, ([], dict.fromkeys(TOKEN_KEYS, 0)))
        names.append(name)
        for k in TOKEN_KEYS:
            summed[k] += row.get(k, 0)
    return groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR_OR_FIXTURES")
    args = parser.parse_args()
    ensure_ccusage()
    with tempfile.TemporaryDirectory(prefix="agentspend-compare-") as tmp:
        roots = Roots()
        for i, arg in enumerate(args.dirs):
            found = resolve_roots(arg, Path(tmp) / f"tree{i}")
            roots.claude = found.claude or roots.claude
            roots.codex = found.codex or roots.codex
        out = ["## Token totals per model: agentspend vs ccusage", ""]
        out += [f"- Claude logs: `{roots.claude}`" if roots.claude else "- Claude logs: none",
                f"- Codex logs: `{roots.codex}`" if roots.codex else "- Codex logs: none", ""]
        differing = 0
        for agent in ("claude", "codex"):
            if getattr(roots, agent) is None:
                continue
            lines, bad = compare(roots, agent, Path(tmp) / f"cache-{agent}")
            out += lines
            differing += bad
        out.append(f"{differing} cell(s) differ." if differing else "All cells agree.")
        print("\n".join(out))
    return 1 if differing else 0


if __name__ == "__main__":
    raise SystemExit(main())
