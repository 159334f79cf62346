"""What became of each change: accepted, abandoned, reverted — so spend can be weighed against changes that stuck.

Merged → accepted; closed unmerged → abandoned; reopened → open again. A landed change is
reverted when a landed revert names it: GitHub's Revert button writes "Reverts owner/repo#N" in
the new pull request's body, `git revert` writes "This reverts commit <sha>." where the SHA is
the merge commit or one of the pull request's commits. A revert of a revert restores the
original, to any depth, because a revert only counts while it is itself in effect. A merged
pull request that reverts something is a `revert`: its spend is the price of undoing work, not
an accepted change.

Pure: the signals are stored as they arrive (handlers, refresh) and `decide` runs over all of
them, so the order in which webhooks and refreshes come does not matter.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["open", "accepted", "abandoned", "reverted", "revert"]
MIN_SHA = 7
"""git's shortest abbreviation; shorter "SHAs" in a message are not evidence."""


@dataclass(frozen=True, slots=True)
class PullState:
    id: int
    repo: str
    number: int
    state: str
    merged: bool
    merge_commit_sha: str | None = None
    commits: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Signal:
    """`source` undoes `target` once `source` has landed (keys as in `bot.db.models.Revert`)."""

    repo: str
    source: str
    target: str


@dataclass(frozen=True, slots=True)
class Decision:
    pull_id: int
    outcome: Outcome
    reverted_by: str | None = None
    reverts: str | None = None


def commit_key(sha: str) -> str:
    return f"commit:{sha.lower()}"


def pull_key(pull_id: int) -> str:
    return f"pull:{pull_id}"


def number_key(repo: str, number: int) -> str:
    return f"number:{repo.lower()}#{number}"


Node = tuple[str, str]
"""("pull", id) | ("commit", sha) | ("unknown", key)."""


class _Graph:
    def __init__(self, pulls: Sequence[PullState], signals: Iterable[Signal]) -> None:
        self.pulls = {p.id: p for p in pulls}
        self.by_number = {(p.repo.lower(), p.number): p.id for p in pulls}
        # Which pull request a SHA belongs to, best evidence first: the merge commit of a merged
        # pull request, a commit of a merged one, a commit of any other.
        ranked: list[tuple[int, str, int]] = []
        for p in pulls:
            if p.merged and p.merge_commit_sha:
                ranked.append((0, p.merge_commit_sha.lower(), p.id))
            ranked += [(1 if p.merged else 2, sha.lower(), p.id) for sha in p.commits]
        self.shas = sorted(ranked)
        self.signals = list(signals)
        self.commit_sources = sorted({s.source[7:] for s in self.signals if s.source.startswith("commit:")})
        self.undoers: dict[Node, list[Node]] = defaultdict(list)
        self.undoes: dict[Node, list[Node]] = defaultdict(list)
        for signal in self.signals:
            source, target = self.node(signal.source), self.node(signal.target)
            if source != target:
                self.undoers[target].append(source)
                self.undoes[source].append(target)
        self._effective: dict[Node, bool] = {}

    def node(self, key: str) -> Node:
        kind, _, value = key.partition(":")
        if kind == "pull" and value.isdigit() and int(value) in self.pulls:
            return ("pull", value)
        if kind == "number":
            repo, _, number = value.rpartition("#")
            pull_id = self.by_number.get((repo, int(number))) if number.isdigit() else None
            return ("pull", str(pull_id)) if pull_id is not None else ("unknown", key)
        if kind == "commit" and len(value) >= MIN_SHA:
            owners = [pull_id for rank, sha, pull_id in self.shas if sha.startswith(value)]
            if owners:
                return ("pull", str(owners[0]))
            landed = [sha for sha in self.commit_sources if sha.startswith(value)]
            return ("commit", landed[0] if len(landed) == 1 else value)
        return ("unknown", key)

    def landed(self, node: Node) -> bool:
        """Pull requests land by merging; commit sources were seen on the default branch."""
        if node[0] == "pull":
            return self.pulls[int(node[1])].merged
        return node[0] == "commit" and node[1] in self.commit_sources

    def effective(self, node: Node) -> bool:
        """Landed and not undone by anything itself in effect. A cycle (impossible in git) counts as not in effect."""
        if node in self._effective:
            return self._effective[node]
        self._effective[node] = False
        value = self.landed(node) and not any(self.effective(u) for u in self.undoers.get(node, ()))
        self._effective[node] = value
        return value

    def label(self, node: Node, repo: str) -> str:
        if node[0] == "pull":
            pr = self.pulls[int(node[1])]
            return f"#{pr.number}" if pr.repo.lower() == repo.lower() else f"{pr.repo}#{pr.number}"
        if node[0] == "commit":
            return node[1][:MIN_SHA]
        return node[1].partition(":")[2]


def decide(pulls: Sequence[PullState], signals: Iterable[Signal]) -> list[Decision]:
    """The outcome of every pull request in `pulls`, given every revert signal seen."""
    graph = _Graph(pulls, signals)
    decisions = []
    for pr in pulls:
        node: Node = ("pull", str(pr.id))
        if pr.state == "open" and not pr.merged:
            decisions.append(Decision(pr.id, "open"))
        elif not pr.merged:
            decisions.append(Decision(pr.id, "abandoned"))
        elif undone := [u for u in graph.undoers.get(node, ()) if graph.effective(u)]:
            decisions.append(Decision(pr.id, "reverted", reverted_by=graph.label(undone[0], pr.repo)))
        elif targets := graph.undoes.get(node):
            decisions.append(Decision(pr.id, "revert", reverts=graph.label(targets[0], pr.repo)))
        else:
            decisions.append(Decision(pr.id, "accepted"))
    return decisions
