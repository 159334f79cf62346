"""`.github/agentspend.yml`: the config or one line saying what to fix, for any input at all."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.github.repo_config import CONFIG_PATH, MAX_CHARS, ConfigError, RepoConfig, parse
from conftest import FUZZ_RANDOM

FULL = """\
version: 1
budget:
  pr: 20            # USD per pull request
  session: 8        # USD per session
  warn: 0.8
  labels:
    incident: 100
    docs: 5
  approvers: [octocat, "@acme/leads"]
check:
  fail_on_exceeded: true
  fail_on: session
  mode: warn
waste:
  retry_loop: 3
  repeated_read: 5
  runaway_usd: 12.5
message: "Ask #agent-budgets before raising a budget."
docs_url: "https://wiki.example.com/agent-budgets"
"""


def test_no_file_is_report_only() -> None:
    config = parse(None)
    assert isinstance(config, RepoConfig)
    assert not config.present
    assert config.budget_for([]) is None


@pytest.mark.parametrize("text", ["", "\n\n", "# budgets come later\n", "---\n", "~\n"])
def test_an_empty_file_is_present_with_defaults(text: str) -> None:
    config = parse(text)
    assert isinstance(config, RepoConfig)
    assert config.present
    assert config.model_dump() == RepoConfig().model_dump()


def test_defaults() -> None:
    config = RepoConfig()
    assert (config.budget.pr, config.budget.session, config.budget.warn) == (None, None, 0.8)
    assert (config.check.fail_on_exceeded, config.check.fail_on, config.check.mode) == (True, "pr", "enforce")
    waste = config.waste
    assert (waste.retry_loop, waste.repeated_read, waste.subagent_fanout, waste.subagent_total) == (3, 5, 5, 10)
    assert (waste.model_overkill, waste.context_growth, waste.long_context_premium) == (800, 100_000, 1)
    assert (waste.runaway_minutes, waste.runaway_idle_minutes, waste.runaway_usd) == (480, 60, None)
    assert waste.min_avoidable_usd == 0.01


def test_every_key() -> None:
    config = parse(FULL)
    assert isinstance(config, RepoConfig), config
    assert config.budget.pr == 20 and config.budget.session == 8
    assert config.budget.labels == {"incident": 100, "docs": 5}
    assert config.budget.approvers == ("octocat", "@acme/leads")
    assert (config.check.fail_on, config.check.mode) == ("session", "warn")
    assert config.waste.runaway_usd == 12.5
    assert config.message == "Ask #agent-budgets before raising a budget."
    assert config.docs_url == "https://wiki.example.com/agent-budgets"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("budget:\n  approvers: octocat\n", ("octocat",)),
        ("budget:\n  approvers: ['@octocat', '@acme/leads']\n", ("octocat", "@acme/leads")),
        ("budget:\n  approvers:\n", ()),
    ],
)
def test_approvers_are_normalised(text: str, expected: tuple[str, ...]) -> None:
    """A login loses its `@` so it compares with `sender.login`; a lone name is a list of one."""
    config = parse(text)
    assert isinstance(config, RepoConfig), config
    assert config.budget.approvers == expected


@pytest.mark.parametrize("word", ["false", "off", "no"])
def test_a_detector_is_turned_off_with_false(word: str) -> None:
    config = parse(f"waste:\n  retry_loop: {word}\n  runaway_usd: {word}\n  repeated_read: 7\n")
    assert isinstance(config, RepoConfig), config
    assert (config.waste.retry_loop, config.waste.runaway_usd, config.waste.repeated_read) == (None, None, 7)


def test_a_threshold_left_blank_keeps_its_default() -> None:
    config = parse("waste:\n  retry_loop:\n  context_growth: 150000\n")
    assert isinstance(config, RepoConfig), config
    assert (config.waste.retry_loop, config.waste.context_growth) == (3, 150_000)


def test_sections_left_empty_mean_defaults() -> None:
    config = parse("budget:\n  labels:\ncheck:\nwaste:\n")
    assert isinstance(config, RepoConfig), config
    assert config.model_dump() == RepoConfig().model_dump()


@pytest.mark.parametrize(
    ("labels", "budget", "label"),
    [
        ([], 20, None),
        (["bug"], 20, None),
        (["incident"], 100, "incident"),
        (["INCIDENT"], 100, "incident"),  # GitHub label names are case-insensitive
        (["docs"], 5, "docs"),  # an exception can tighten the budget too
        (["docs", "incident"], 100, "incident"),  # several: the most generous
    ],
)
def test_budget_for_labels(labels: list[str], budget: float, label: str | None) -> None:
    config = parse(FULL)
    assert isinstance(config, RepoConfig)
    assert config.budget_for(labels) == budget
    assert config.label_for(labels) == label


def test_a_label_budget_applies_without_a_pr_budget() -> None:
    config = parse("budget:\n  labels:\n    incident: 50\n")
    assert isinstance(config, RepoConfig)
    assert config.budget_for(["incident"]) == 50
    assert config.budget_for(["bug"]) is None


# --- errors a person reads: golden files hold the input beside the check run's line ---------

BROKEN = {
    "yaml_unclosed_bracket": "version: 1\nbudget:\n  approvers: [octocat, hubot\n  pr: 20\n",
    "yaml_tab_indent": "budget:\n\tpr: 20\n",
    "unknown_key_typo": "version: 1\nbudgt:\n  pr: 20\n",
    "misplaced_key": "budget:\n  pr: 20\n  fail_on_exceeded: false\n",
    "warn_out_of_range": "version: 1\nbudget:\n  pr: 20\n  session: 8\n\n  # warn at 150%?\n  warn: 1.5\n",
    "label_budget_not_a_number": "budget:\n  pr: 20\n  labels:\n    # for outages\n    incident: lots\n",
    "dollar_sign_in_amount": "budget:\n  pr: $20\n",
    "mode_unknown": "check:\n  fail_on_exceeded: true\n  mode: block\n",
    "version_2": "version: 2\nbudget:\n  pr: 20\n",
    "top_level_list": "- budget: 20\n",
    "team_without_at": "budget:\n  approvers:\n    - octocat\n    - acme/leads\n",
    "fail_on_session_without_session_budget": "budget:\n  pr: 20\ncheck:\n  fail_on: session\n",
    "duplicate_section": "budget:\n  pr: 20\ncheck:\n  mode: warn\nbudget:\n  session: 8\n",
    "several_problems": "budget:\n  pr: twenty\n  session: -1\ncheck:\n  mode: loud\n",
    "waste_retry_loop_of_one": "budget:\n  pr: 20\nwaste:\n  # flag every failure?\n  retry_loop: 1\n",
    "waste_threshold_as_text": "waste:\n  repeated_read: 5\n  context_growth: 100k\n",
    "waste_key_typo": "waste:\n  subagent_fan_out: 4\n",
}


def _side_by_side(text: str, error: ConfigError) -> str:
    numbered = "\n".join(f"{n:>3} | {line}".rstrip() for n, line in enumerate(text.splitlines(), 1))
    return f"{CONFIG_PATH}\n{numbered}\n\ncheck run\n{error.describe()}\n"


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_config_error_text(name: str, golden: Callable[[str, object], None]) -> None:
    error = parse(BROKEN[name])
    assert isinstance(error, ConfigError), error
    golden(f"config/{name}.txt", _side_by_side(BROKEN[name], error))


@pytest.mark.parametrize(
    ("text", "line", "key_path"),
    [
        ("budget:\n  pr: 20\n  labels:\n    docs: 5\n\n    incident: lots\n", 6, "budget.labels.incident"),
        ('budget:\n  labels:\n    "hot fix": []\n', 3, 'budget.labels."hot fix"'),
        ("budget:\n  approvers:\n    - octocat\n    - 42\n", 4, "budget.approvers[1]"),
        ("budget: {pr: 20, warn: 3}\n", 1, "budget.warn"),
        ("message: |\n  two\n  lines\nwaste:\n  retry_loop: 0\n", 5, "waste.retry_loop"),
        ("waste:\n  retry_loop: 3\n\n  runaway_idle_minutes: 0\n", 4, "waste.runaway_idle_minutes"),
        ("waste:\n  min_avoidable_usd: -0.5\n", 2, "waste.min_avoidable_usd"),
        ("waste:\n  long_context_premium: true\n", 2, "waste.long_context_premium"),
        ("check:\n  mode: enforce\n  fail_on_exceeded: maybe\n", 3, "check.fail_on_exceeded"),
        ("budget: 20\n", 1, "budget"),
        ("budget:\n  labels:\n    yes: 5\n", 3, "budget.labels"),  # YAML 1.1 reads `yes` as true
        ("# header\n\nbudget:\n  session:\n    pr: 3\n", 4, "budget.session"),
    ],
)
def test_error_lines_point_at_the_key(text: str, line: int, key_path: str) -> None:
    error = parse(text)
    assert isinstance(error, ConfigError), error
    assert (error.line, error.key_path) == (line, key_path), error.describe()


@pytest.mark.parametrize("breaker", ["\x85", "\u2028", "\r"], ids=["NEL", "line-separator", "lone-CR"])
def test_lines_are_counted_as_github_shows_them(breaker: str) -> None:
    """YAML also ends a line at NEL, U+2028 and a lone CR; the check run points at the line a
    reader sees, where only `\n` does (found by the fuzz test: NEL pushed the line past the end)."""
    error = parse(f"{breaker}{breaker}version: 1\nbudget:\n  pr: -3\n")
    assert isinstance(error, ConfigError), error
    assert (error.line, error.column, error.key_path) == (3, 3, "budget.pr"), error.describe()
    unclosed = parse(f"version: 1{breaker}message: \"open\n")
    assert isinstance(unclosed, ConfigError) and unclosed.line == 1, unclosed


def test_the_topmost_problem_is_shown_and_the_rest_counted() -> None:
    error = parse("check:\n  mode: loud\nbudget:\n  pr: x\n  warn: 9\n")
    assert isinstance(error, ConfigError)
    assert (error.line, error.key_path, error.more) == (2, "check.mode", 2)
    assert error.describe().endswith("(and 2 more problems)")


def test_a_huge_file_is_refused_unread() -> None:
    error = parse("budget:\n  pr: 20\n" + "#" * MAX_CHARS)
    assert isinstance(error, ConfigError)
    assert error.describe() == f"`{CONFIG_PATH}`: the file is over 64 KB, which no config needs"


@pytest.mark.parametrize(
    "text",
    [
        "[" * 30000,  # slow to scan in PyYAML, so cut short
        "- " * 3000,  # deeper than the recursion limit
        "version: " + "9" * 5000,  # more digits than int() converts
        "budget:\n  pr: 1" + "0" * 400,  # an int too large for a float
        "budget:\n  pr: !!float abc\n",
        "budget: &a\n  labels: *a\n",  # a recursive alias
        "a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n",
        "message: 2024-02-30\n",  # would be a date, and an invalid one
        "budget:\n  pr: .nan\n",
        "? [a, b]\n: 1\n",  # an unhashable key
        "budget:\n  pr: 20\n\x00",
        "~: 1\n",
        "a: 1\n---\nb: 2\n",
        "budget:\n  pr: *nowhere\n",
        "!!python/object:os.system {}\n",
    ],
)
def test_hostile_input_is_an_error_value(text: str) -> None:
    result = parse(text)
    assert isinstance(result, ConfigError | RepoConfig)
    if isinstance(result, ConfigError):
        assert "\n" not in result.describe()


# --- no input makes parse raise ---------------------------------------------------------------

_NAMES = ["version", "budget", "pr", "session", "warn", "labels", "approvers", "check", "fail_on_exceeded",
          "fail_on", "mode", "waste", "retry_loop", "repeated_read", "runaway_minutes", "message", "docs_url",
          "model_overkill", "subagent_fanout", "context_growth", "runaway_usd", "min_avoidable_usd"]
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(allow_nan=True), st.text(max_size=20),
    st.sampled_from(["enforce", "warn", "pr", "session", "@acme/leads", "octocat", "https://x.y"]),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(_NAMES) | st.text(max_size=8) | st.integers(), children, max_size=5),
    max_leaves=20,
)
_FUZZ = settings(max_examples=int(os.environ.get("AGENTSPEND_FUZZ_EXAMPLES", "300")), deadline=None,
                 suppress_health_check=[HealthCheck.too_slow], derandomize=not FUZZ_RANDOM)


def _check_never_raises(text: str) -> None:
    result = parse(text)
    assert isinstance(result, RepoConfig | ConfigError)
    if isinstance(result, ConfigError):
        assert "\n" not in result.describe()
        assert result.line is None or 1 <= result.line <= text.count("\n") + 2


@_FUZZ
@given(st.text(max_size=400))
def test_fuzz_any_text(text: str) -> None:
    _check_never_raises(text)


@settings(_FUZZ, max_examples=150)  # generating nested data is the slow part
@given(st.dictionaries(st.sampled_from(_NAMES), _VALUES, max_size=6))
def test_fuzz_yaml_shaped_like_the_schema(data: dict[str, object]) -> None:
    _check_never_raises(yaml.safe_dump(data, allow_unicode=True))


@_FUZZ
@given(st.lists(st.tuples(st.integers(0, len(FULL)), st.integers(0, 3), st.text(max_size=3)), max_size=4))
def test_fuzz_edits_of_a_real_file(edits: list[tuple[int, int, str]]) -> None:
    text = FULL
    for at, cut, insert in edits:
        text = text[:at] + insert + text[at + cut:]
    _check_never_raises(text)
