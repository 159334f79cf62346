"""Read `.github/agentspend.yml` so that a mistake in it reaches its author as one line to fix, never as a crash.

`parse` returns the RepoConfig or a ConfigError value (as Kodiak's `parse_toml` returns the model
or the error), and the check run prints the error; nothing a repository can put in the file makes
`parse` raise. Messages are our own sentences built from pydantic's error types, and their line
numbers come from the YAML node tree, so "line 7: budget.warn must be between 0 and 1, got 1.5"
points where the person typed it.

The file is read from the pull request's base branch (docs/design.md), so a pull request cannot
raise its own budget.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

CONFIG_PATH = ".github/agentspend.yml"
"""Where the config lives in a repository, at the base branch of each pull request."""

MAX_CHARS = 64 * 1024
"""A longer file is refused unread: no real config is near this, and YAML parsing is not free."""


def _fraction(value: float) -> float:
    if not 0 < value <= 1:
        raise PydanticCustomError("fraction", "must be between 0 and 1 (0.8 means 80%)")
    return value


def _version(value: int) -> int:
    if value != 1:
        raise PydanticCustomError("version", "must be 1")
    return value


_LOGIN = re.compile(r"@?[A-Za-z0-9][A-Za-z0-9-]{0,38}")
_TEAM = re.compile(r"@[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")


def _approver(value: str) -> str:
    """A login loses a leading `@` so it compares equal to a webhook's `sender.login`; a team keeps it."""
    if _TEAM.fullmatch(value):
        return value
    if _LOGIN.fullmatch(value):
        return value.removeprefix("@")
    raise PydanticCustomError("approver", "must be a GitHub login (`octocat`) or a team (`@org/team-slug`)")


def _web_address(value: str) -> str:
    if not re.fullmatch(r"https?://\S+", value):
        raise PydanticCustomError("web_address", "must be a web address starting with https://")
    return value


# Strict scalars: YAML that says `pr: "20"` or `pr: true` is a mistake to show, not to coerce.
_Number = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
_Count = Annotated[int, Strict(), Field(ge=1)]
_Fraction = Annotated[float, Strict(), Field(allow_inf_nan=False), AfterValidator(_fraction)]
_Text = Annotated[str, Strict()]


class _Section(BaseModel):
    """Unknown keys are errors, so a typo cannot silently leave a budget unset."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Budget(_Section):
    pr: _Number | None = None
    """USD per pull request; None means no pull-request budget (unless a label gives one)."""

    session: _Number | None = None
    """USD per session, a session's subagents included; an overrun is listed, and fails with `fail_on: session`."""

    warn: _Fraction = 0.8
    """The fraction of the budget at which the status turns to warning."""

    labels: dict[_Text, _Number] = {}
    """Named exceptions: a pull request with one of these labels gets that budget instead of `pr`."""

    approvers: tuple[Annotated[_Text, AfterValidator(_approver)], ...] = ()
    """Logins and `@org/team-slug` teams who may approve an overrun."""

    @field_validator("labels", mode="before")
    @classmethod
    def _no_labels(cls, value: object) -> object:
        """`labels:` with every entry commented out is YAML null; it means "none", not a mistake."""
        return {} if value is None else value

    @field_validator("approvers", mode="before")
    @classmethod
    def _approver_list(cls, value: object) -> object:
        """`approvers: octocat` is a list of one, which is what its author meant; empty is none."""
        if value is None:
            return ()
        return [value] if isinstance(value, str) else value


class Check(_Section):
    fail_on_exceeded: Annotated[bool, Strict()] = True
    """Whether an enforced overrun turns the check run to failure."""

    fail_on: Literal["pr", "session"] = "pr"
    """`session`: a session over `budget.session` fails the check, not only the pull request total."""

    mode: Literal["enforce", "warn"] = "enforce"
    """`warn` reports an overrun as neutral, never failure (for teams trying budgets out)."""


def _off(value: object) -> object:
    """`false` (or YAML's `off`/`no`) turns a detector off; None is how the model says "off"."""
    return None if value is False else value


_Repeats = Annotated[Annotated[int, Strict(), Field(ge=2)] | None, BeforeValidator(_off)]
_Limit = Annotated[_Count | None, BeforeValidator(_off)]
_Minutes = Annotated[Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)] | None, BeforeValidator(_off)]


class Waste(_Section):
    """Thresholds of the waste detectors (bot/report/waste.py); `false` turns one off.

    The defaults are meant to make findings few and specific: each names a behaviour a reviewer
    would ask about, and a finding worth less than `min_avoidable_usd` is not shown at all.
    """

    min_avoidable_usd: _Number = 0.01
    """A finding that would have saved less than this (USD) is noise and is dropped."""

    retry_loop: _Repeats = 3
    """The same tool call with the same input failing this many times in a row."""

    repeated_read: _Repeats = 5
    """The same file read this many times with no edit of it in between."""

    model_overkill: _Limit = 800
    """Output tokens (reasoning included) up to which a call is routine; a session on a premium
    model whose every call is routine, and that has at least five, is a finding."""

    subagent_fanout: _Limit = 5
    """More subagents than this running at once (or started by one model call)."""

    subagent_total: _Limit = 10
    """More subagents than this in one session."""

    context_growth: _Limit = 100_000
    """Prompt tokens per call from which a mostly uncached prompt (under half read from cache) is a finding."""

    long_context_premium: _Limit = 1
    """Calls over their model's long-context threshold (billed at the higher rate in full) in a session."""

    tier_premium: _Limit = 1
    """Calls on one model in a session billed at a premium tier (Claude's fast mode, OpenAI's priority or fast tier)."""

    runaway_minutes: _Minutes = 480
    """A session active for longer than this (breaks of `runaway_idle_minutes` or more not counted):
    a working day without an hour's break is an agent left running, not a person at work."""

    runaway_usd: Annotated[_Number | None, BeforeValidator(_off)] = None
    """A session costing more than this is a runaway; off by default, as `budget.session` lists those."""

    runaway_idle_minutes: _Minutes = 60
    """A break this long expires every prompt cache, so resuming the session pays for its context again."""

    @model_validator(mode="before")
    @classmethod
    def _blank_means_default(cls, value: object) -> object:
        """`retry_loop:` with no value keeps the default (`false` is how to turn a detector off)."""
        return {k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value


class RepoConfig(_Section):
    version: Annotated[int, Strict(), AfterValidator(_version)] = 1
    budget: Budget = Budget()
    check: Check = Check()
    waste: Waste = Waste()
    message: Annotated[_Text, Field(max_length=2000)] | None = None
    """The admins' own words, shown in the comment and the check run."""

    docs_url: Annotated[_Text, AfterValidator(_web_address)] | None = None
    """A link to the team's budget policy, shown beside `message`."""

    _present: bool = PrivateAttr(default=True)

    @field_validator("budget", "check", "waste", mode="before")
    @classmethod
    def _empty_section(cls, value: object) -> object:
        """`budget:` with every line below it commented out is YAML null: the section's defaults."""
        return {} if value is None else value

    @classmethod
    def absent(cls) -> RepoConfig:
        """The repository has no config file: report only, no budget."""
        config = cls()
        config._present = False
        return config

    @property
    def present(self) -> bool:
        """False when the repository has no config file (an empty file is present: defaults)."""
        return self._present

    def label_for(self, labels: Iterable[str]) -> str | None:
        """The label whose budget applies: the largest of the matching label budgets.

        A label exception replaces the PR budget (it may be lower: a `docs` label can tighten it),
        and labels compare case-insensitively, as GitHub treats label names. With several matching
        labels the most generous wins, so adding a label never lowers an exception already granted.
        """
        on_pr = {label.casefold() for label in labels}
        matching = [(usd, name) for name, usd in self.budget.labels.items() if name.casefold() in on_pr]
        return max(matching)[1] if matching else None

    def budget_for(self, labels: Iterable[str]) -> float | None:
        """The pull-request budget in USD given the PR's labels; None when there is none."""
        label = self.label_for(labels)
        return self.budget.pr if label is None else self.budget.labels[label]


_SECTIONS: dict[tuple[str, ...], type[BaseModel]] = {
    (): RepoConfig,
    ("budget",): Budget,
    ("check",): Check,
    ("waste",): Waste,
}


@dataclass(frozen=True, slots=True)
class ConfigError:
    """What is wrong with the file, and where; shown to people instead of a budget verdict."""

    line: int | None
    column: int | None
    message: str
    key_path: str | None
    more: int = 0
    """How many further problems the file has (the first one, by line, is the one shown)."""
    path: str = CONFIG_PATH
    """The file the error is in (the organisation config lives elsewhere)."""

    def describe(self) -> str:
        """One line for the check run: "`.github/agentspend.yml` line 7: budget.warn must be …"."""
        where = f"`{self.path}`" + (f" line {self.line}" if self.line is not None else "")
        extra = f" (and {self.more} more problem{'s' if self.more > 1 else ''})" if self.more else ""
        return f"{where}: {self.message}{extra}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "key_path": self.key_path,
            "more": self.more,
            "description": self.describe(),
        }


def parse(text: str | None) -> RepoConfig | ConfigError:
    """The repository's config (None: no file), or the first thing wrong with it. Never raises."""
    if text is None:
        return RepoConfig.absent()
    parsed = parse_document(text, RepoConfig, _SECTIONS)
    if isinstance(parsed, ConfigError):
        return parsed
    root, config = parsed
    return _cross_check(root, config)


M = TypeVar("M", bound=BaseModel)


def parse_document(
    text: str, model: type[M], sections: dict[tuple[str, ...], type[BaseModel]], path: str = CONFIG_PATH,
    example: str = "budget",
) -> tuple[Node | None, M] | ConfigError:
    """Any of our YAML files into `model`, or its first error with a line: the same messages for every file.

    `sections` maps key paths to the models found there, for "did you mean" suggestions.
    Returns the YAML node tree too, for cross-key checks that want a line.
    """
    if len(text) > MAX_CHARS:
        return ConfigError(None, None, f"the file is over {MAX_CHARS // 1024} KB, which no config needs", None, path=path)
    loaded = _load(text)
    if isinstance(loaded, ConfigError):
        return replace(loaded, path=path)
    root, data = loaded
    if data is None:
        return root, model()
    if not isinstance(data, dict):
        return replace(_error_at(root, (), f"the file must be a mapping of keys such as `{example}:`, got {_shown(data)}"), path=path)
    try:
        return root, model.model_validate(data)
    except ValidationError as exc:
        return replace(_first_error(root, exc.errors(), sections), path=path)


_MAX_FLOW_DEPTH = 32


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as text and stops deep bracket nesting before it gets slow.

    Nothing in the schema is a date, and `2024-02-30` as a date would raise.
    """

    def fetch_flow_collection_start(self, TokenClass: type) -> None:  # noqa: N803 - PyYAML's name
        # PyYAML's scanner rechecks every open bracket at each token, so a file of nothing but
        # `[` takes seconds before the composer's recursion fails; a config needs a few levels.
        if self.flow_level >= _MAX_FLOW_DEPTH:
            problem = f"brackets nested more than {_MAX_FLOW_DEPTH} deep"
            raise yaml.scanner.ScannerError(None, None, problem, self.get_mark())
        super().fetch_flow_collection_start(TokenClass)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)


def _load(text: str) -> tuple[Node | None, object] | ConfigError:
    """Compose the node tree (kept for line numbers) and construct the data from it, in one pass."""
    loader = None
    try:
        loader = _Loader(text)
        root = loader.get_single_node()
        duplicate = _duplicate_key(root)
        if duplicate is not None:
            return duplicate
        return root, loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        return _syntax_error(exc)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        message = f"invalid YAML: control character #x{_ord(exc.character):02x} is not allowed"
        return ConfigError(line, None, message, None)
    # PyYAML also fails outside its own error types (RecursionError on very deep nesting,
    # ValueError from `!!float abc`), and no file may take the bot down.
    except RecursionError:
        return ConfigError(None, None, "invalid YAML: nested too deeply", None)
    except Exception as exc:  # noqa: BLE001
        return ConfigError(None, None, f"invalid YAML: {_clip(str(exc))}", None)
    finally:
        if loader is not None:
            loader.dispose()


def _line_column(mark: yaml.Mark) -> tuple[int, int]:
    """1-based line and column as GitHub shows the file, where only `\n` ends a line: YAML also
    breaks lines at a lone `\r`, NEL and the Unicode line separators, so its own count can
    point past the end of the file a reader sees."""
    text, at = mark.buffer, mark.pointer
    if text is None:
        return mark.line + 1, mark.column + 1
    return text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)


def _ord(character: str | int) -> int:
    return character if isinstance(character, int) else ord(character)


def _syntax_error(exc: yaml.MarkedYAMLError) -> ConfigError:
    """YAML's own wording, at the line where the problem starts.

    A bracket or quote left open is only noticed at the end of the file; the line where it was
    opened (YAML's context mark) is the one to fix.
    """
    problem = exc.problem or "malformed YAML"
    at_end = "<stream end>" in problem or "end of stream" in problem
    mark = (exc.context_mark if at_end else None) or exc.problem_mark or exc.context_mark
    if "'\\t'" in problem:
        problem += " (indent with spaces; YAML does not allow tabs)"
    line, column = _line_column(mark) if mark else (None, None)
    context = f"{exc.context}, " if exc.context else ""
    if exc.context and exc.context_mark and (started := _line_column(exc.context_mark)[0]) != line:
        context = f"{exc.context} (started on line {started}), "
    return ConfigError(line, column, _clip(f"invalid YAML: {context}{problem}", 200), None)


def _duplicate_key(root: Node | None) -> ConfigError | None:
    """A key given twice silently keeps the last value in YAML; in a budget file that hides a mistake."""
    seen_nodes: set[int] = set()
    pending = [root] if root is not None else []
    while pending:
        node = pending.pop()
        # Aliases share nodes: visit each once, or `&a [*a, *a]` chains take exponential time.
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, MappingNode):
            first: dict[tuple[str, str], Node] = {}
            for key, value in node.value:
                if isinstance(key, ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    earlier = first.setdefault((key.tag, key.value), key)
                    if earlier is not key:
                        where = _line_column(earlier.start_mark)[0]
                        message = f"the key `{_clip(key.value)}` appears twice (first on line {where}); keep one"
                        return ConfigError(*_line_column(key.start_mark), message, None)
                pending += [key, value]
        elif isinstance(node, SequenceNode):
            pending += node.value
    return None


def _first_error(root: Node | None, errors: list[ErrorDetails], sections: dict[tuple[str, ...], type[BaseModel]]) -> ConfigError:
    """All problems are counted, the topmost is described: fixing the file top-down then converges."""
    found = []
    for error in errors:
        node = _locate(root, error["loc"])
        holder = _key_holder(error)
        found.append(_error_from(node, _sentence(error, node, sections), _path(error["loc"] if holder is None else holder)))
    first = min(found, key=lambda e: e.line if e.line is not None else 1 << 30)
    return ConfigError(first.line, first.column, first.message, first.key_path, len(found) - 1)


def _cross_check(root: Node | None, config: RepoConfig) -> RepoConfig | ConfigError:
    """Rules that span two keys, which pydantic would report without a line."""
    if config.check.fail_on == "session" and config.budget.session is None:
        return _error_at(root, ("check", "fail_on"), "check.fail_on is `session` but budget.session is not set")
    return config


def _error_at(root: Node | None, loc: tuple[int | str, ...], message: str) -> ConfigError:
    return _error_from(_locate(root, loc), message, _path(loc))


def _error_from(node: Node | None, message: str, path: str) -> ConfigError:
    if node is None:
        return ConfigError(None, None, message, path or None)
    return ConfigError(*_line_column(node.start_mark), message, path or None)


def _locate(root: Node | None, loc: tuple[int | str, ...]) -> Node | None:
    """The node a pydantic location points at; for a mapping entry, its key.

    The key, not the value: `budget:` and its nested block start on different lines, and the
    person looks for the name they typed. A step the tree does not have (a default, a key
    brought in by a `<<` merge) stops the walk at the deepest node found so far.
    """
    found, node = root, root
    for step in loc:
        if step == "[key]":
            break
        if isinstance(node, MappingNode):
            entry = next((pair for pair in reversed(node.value) if _is_key(pair[0], step)), None)
            if entry is None:
                break
            found, node = entry
        elif isinstance(node, SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            found = node = node.value[step]
        else:
            break
    return found


def _is_key(key: Node, step: int | str) -> bool:
    """Whether a YAML key node is the key pydantic names; `yes:` arrives as True, pydantic says 'True'."""
    if not isinstance(key, ScalarNode):
        return False
    if key.value == str(step):
        return True
    if key.tag == "tag:yaml.org,2002:str":
        return False
    value = _Loader("").construct_object(key)
    return value == step or str(value) == str(step)


def _path(loc: tuple[int | str, ...]) -> str:
    """`budget.labels.incident`, `budget.approvers[1]`, `budget.labels."hot fix"`."""
    path = ""
    for step in loc:
        if step == "[key]":
            continue
        if isinstance(step, int):
            path += f"[{step}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", step):
            path += f".{step}" if path else step
        else:
            path += f".{json.dumps(step)}" if path else json.dumps(step)
    return path


_PHRASES = {
    "float_type": "must be a number",
    "int_type": "must be a whole number",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "dict_type": "must be a mapping of names to values",
    "model_type": "must be a mapping of keys (indented below it)",
    "model_attributes_type": "must be a mapping of keys (indented below it)",
    "tuple_type": "must be a list",
    "finite_number": "must be a finite number",
}


def _key_holder(error: ErrorDetails) -> tuple[int | str, ...] | None:
    """For an error about a key itself (not its value): the location of the mapping holding it."""
    loc = error["loc"]
    if loc and loc[-1] == "[key]":
        return loc[:-2]
    if error["type"] == "invalid_key":
        return loc[:-1]
    return None


def _sentence(error: ErrorDetails, node: Node | None, sections: dict[tuple[str, ...], type[BaseModel]]) -> str:
    """Our wording for one pydantic error: the key path, what it must be, and what it was."""
    loc, kind = error["loc"], error["type"]
    if kind == "extra_forbidden":
        return _unknown_key(loc, sections)
    holder = _key_holder(error)
    if holder is not None:
        # pydantic has turned the key into 1 or 'None'; the node has it as typed (`yes`, `~`).
        typed = node.value if isinstance(node, ScalarNode) else str(loc[len(holder)])
        where = f" in `{_path(holder)}`" if holder else ""
        return f"the key `{_clip(typed)}`{where} must be text; put it in quotes"
    return f"{_path(loc)} {_phrase(error)}, got {_shown(error['input'])}"


def _phrase(error: ErrorDetails) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _PHRASES:
        return _PHRASES[kind]
    if kind == "greater_than_equal":
        return f"must be {_number(ctx['ge'])} or more"
    if kind == "greater_than":
        return f"must be more than {_number(ctx['gt'])}"
    if kind == "literal_error":
        return "must be " + ctx["expected"].replace("'", "`")
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters"
    # Our own PydanticCustomError messages are already phrased "must be …".
    message = error["msg"]
    return message if message.startswith("must") else f"is not valid: {message[:1].lower()}{message[1:]}"


def _unknown_key(loc: tuple[int | str, ...], sections: dict[tuple[str, ...], type[BaseModel]]) -> str:
    """Unknown key, with the nearest known key at that level, or the section where it does belong."""
    parent, key = loc[:-1], str(loc[-1])
    here = sections.get(tuple(str(step) for step in parent))
    close = difflib.get_close_matches(key.lower(), list(here.model_fields), n=1, cutoff=0.6) if here else []
    if close:
        suggestion = _path((*parent, close[0]))
    else:
        suggestion = next((_path((*path, key)) for path, model in sections.items() if key in model.model_fields), "")
    hint = f" (did you mean `{suggestion}`?)" if suggestion else ""
    return f"unknown key `{_clip(_path(loc), 80)}`{hint}"


def _number(value: float) -> str:
    return f"{value:g}"


def _shown(value: object) -> str:
    """A value as the person typed it, roughly: YAML spellings, quoted text, no giant dumps."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, int):
        # str() of a many-thousand-digit int raises; nobody needs those digits echoed back.
        return str(value) if abs(value) < 10**15 else "a very large number"
    if isinstance(value, str):
        return json.dumps(_clip(value), ensure_ascii=False)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _clip(text: str, limit: int = 60) -> str:
    """Short and on one line: the error is a check-run title, and the text came from the file."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
