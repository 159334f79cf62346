"""Outcomes decided from pull request states and revert signals, whatever order they arrived in."""

from __future__ import annotations

from bot.outcomes import PullState, Signal, commit_key, decide, number_key, pull_key

REPO = "acme/api"
M1, M2 = "1" * 40, "2" * 40
R1, R2 = "a" * 40, "b" * 40


def _outcomes(pulls: list[PullState], signals: list[Signal]) -> dict[int, tuple]:
    return {d.pull_id: (d.outcome, d.reverted_by, d.reverts) for d in decide(pulls, signals)}


def test_merged_closed_open() -> None:
    pulls = [PullState(1, REPO, 1, "closed", True, M1), PullState(2, REPO, 2, "closed", False), PullState(3, REPO, 3, "open", False)]
    assert _outcomes(pulls, []) == {1: ("accepted", None, None), 2: ("abandoned", None, None), 3: ("open", None, None)}


def test_git_revert_of_the_merge_commit_and_its_revert() -> None:
    pulls = [PullState(1, REPO, 1, "closed", True, M1)]
    reverted = [Signal(REPO, commit_key(R1), commit_key(M1))]
    assert _outcomes(pulls, reverted)[1] == ("reverted", "aaaaaaa", None)
    restored = [*reverted, Signal(REPO, commit_key(R2), commit_key(R1[:7]))]  # a short SHA, as people write
    assert _outcomes(pulls, restored)[1] == ("accepted", None, None)


def test_git_revert_of_a_commit_of_the_pull_request() -> None:
    pulls = [PullState(1, REPO, 1, "closed", True, None, commits=(M2,))]
    assert _outcomes(pulls, [Signal(REPO, commit_key(R1), commit_key(M2[:10]))])[1][0] == "reverted"


def test_revert_button_and_a_revert_of_the_revert() -> None:
    original = PullState(1, REPO, 1, "closed", True, M1)
    revert = PullState(2, REPO, 2, "closed", True, M2)
    again = PullState(3, REPO, 3, "closed", True, R1)
    one = [Signal(REPO, pull_key(2), number_key(REPO, 1))]
    assert _outcomes([original, revert], one) == {1: ("reverted", "#2", None), 2: ("revert", None, "#1")}
    two = [*one, Signal(REPO, pull_key(3), number_key(REPO, 2))]
    assert _outcomes([original, revert, again], two) == {
        1: ("accepted", None, None), 2: ("reverted", "#3", None), 3: ("revert", None, "#2")}


def test_an_unmerged_revert_reverts_nothing() -> None:
    pulls = [PullState(1, REPO, 1, "closed", True, M1), PullState(2, REPO, 2, "open", False)]
    assert _outcomes(pulls, [Signal(REPO, pull_key(2), number_key(REPO, 1))])[1][0] == "accepted"


def test_a_revert_commit_inside_a_merged_pull_request_makes_it_the_revert() -> None:
    """`git revert` on a branch, merged through a pull request: the PR's own cost is the revert's cost."""
    pulls = [PullState(1, REPO, 1, "closed", True, M1), PullState(2, REPO, 2, "closed", True, M2, commits=(R1,))]
    signals = [Signal(REPO, commit_key(R1), commit_key(M1))]  # seen in the push of the merge to main
    assert _outcomes(pulls, signals) == {1: ("reverted", "#2", None), 2: ("revert", None, "#1")}


def test_reopened_is_open_again() -> None:
    assert _outcomes([PullState(1, REPO, 1, "open", False)], [])[1][0] == "open"
