"""Price every model call at its own timestamp; a model we cannot price is counted as unpriced, never as $0.

Prices come from genai-prices (pinned, so a report can be reproduced) and from an optional operator
file of negotiated or unlisted prices, which wins. The library decides which model a logged id
means and which of its prices was in force when the call was made. The arithmetic happens here,
because the library's own `calc_price` validates and decomposes the usage on every call (about
300 µs, so five minutes for a million calls). It follows the library's rules, and
tests/test_pricing.py checks it against `calc_price` for every model of the providers agents use:

- The library's `input_tokens` is the whole prompt. Our `Tokens` split that into uncached input,
  cache reads and cache writes (5-minute and 1-hour), so the prompt size is their sum.
- A tiered (long-context) price is chosen by that whole prompt, cache included, and the tier it
  picks prices every token of the request, output included.

It departs from the library in three places, each filling a hole in the price data:

- 1-hour cache writes cost 2x input. Some entries (Claude Sonnet 4 on Vertex and Bedrock, Opus
  4/4.1 on Bedrock) have a 5-minute write price but no 1-hour one, and there the library would
  charge 1-hour writes at the 5-minute rate of 1.25x.
- Claude Sonnet 4 has no long-context tier in the data. Like Sonnet 4.5, it bills a prompt over
  200k tokens at $6 input / $22.50 output, with the cache multipliers on top.
- An entry with no token prices (GitHub Copilot's "included in the subscription" models) is not a
  price. The call falls through to the vendor's list price, the API-equivalent cost.

A call the log says ran at another tier than the standard one (`Span.tier`: Claude's fast mode,
OpenAI's priority, flex or fast service tiers) is priced at that tier's variant of the table. A
model whose data lists no price for that tier leaves the call unpriced, shown as `model (tier)`:
the standard rate would be a silent undercount (Claude Opus 4.6 fast mode bills 6x). An operator
entry with `tier:` prices it; entries without one price standard calls only.

Web searches the API ran for a call (`Span.web_searches`) are billed at the table's per-search price.

Not modelled: image or audio output rates, since our tokens do not say which modality they were.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import NoReturn

import genai_prices
import yaml
from genai_prices.data_snapshot import find_provider_by_id, get_snapshot
from genai_prices.types import ModelInfo, ModelPrice, TieredPrices

from bot.trace import RunType, Session, Span, Tokens

PRICES_VERSION: str = genai_prices.__version__
"""The genai-prices release whose price data every library-priced call used."""

UNKNOWN_MODEL = "(unknown model)"
"""How a call whose log names no model shows among the unpriced tokens."""

_LIBRARY_REF = f"genai-prices {PRICES_VERSION}"

_PSEUDO_MODELS = frozenset({"auto", "default", "<synthetic>"})
"""Names a tool writes when it picked the model itself, or made no call: no price can be right."""

_PROVIDER_ALIASES = {"github": "github-copilot", "converse": "aws"}
"""Provider names seen in logs that genai-prices' own provider matching does not resolve."""

_BEDROCK = re.compile(r"^(?:[a-z-]+\.)?anthropic\.(?P<model>claude-.+?)(?:-v\d+(?::\d+)?)?$")
"""`jp.anthropic.claude-haiku-4-5-20251001-v1:0`: an optional region, the vendor, a version suffix."""

_VERSION_DOT = re.compile(r"(?<=\d)\.(?=\d)")
_CLAUDE_FAMILIES = frozenset({"opus", "sonnet", "haiku"})
_EFFORT_WORDS = frozenset({"minimal", "low", "medium", "high", "xhigh", "max", "thinking"})
"""Cursor's reasoning-effort suffixes (`claude-4.5-opus-high-thinking`); they do not change the price."""

_GPT5_EFFORT = re.compile(r"^(gpt-5\S*?)-(?:minimal|low|medium|high|xhigh)$")
"""`gpt-5.5-medium` (Cursor). Only for gpt-5: real ids such as `o3-mini-high` end the same way."""

_SONNET_4_IDS = frozenset(
    {
        "claude-sonnet-4-0",
        "claude-4-sonnet",
        "regional.anthropic.claude-sonnet-4-20250514-v1:0",
        "global.anthropic.claude-sonnet-4-20250514-v1:0",
    }
)
"""genai-prices' entries for Claude Sonnet 4 (Anthropic, Vertex, Bedrock), all missing the long-context tier."""
_SONNET_4_LONG_CONTEXT = 200_000

_PRICE_KEYS = ("input", "output", "cache_read", "cache_write", "cache_write_1h")
_ENTRY_KEYS = ("model", "provider", "tier", *_PRICE_KEYS, "web_searches", "from", "until")

_TIER_KEYS = ("speed", "service_tier", "processing")
"""The request-context keys genai-prices lists tier prices under: Anthropic's fast mode is
`speed`, OpenAI's tiers `service_tier`, batch `processing`. A tier names its value in one of
them and no vendor uses the same value under two, so it is offered under all three."""


class PriceFileError(ValueError):
    """The operator's price file cannot be used: where it is wrong and how, for the operator to fix."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(line, message)
        self.line = line
        self.message = message
        self.file: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}" if self.file else f"line {self.line}"
        return f"{where}: {self.message}"


def normalize_model(model: str, provider: str | None) -> tuple[str, str | None] | None:
    """The id and genai-prices provider to look a logged model up with; None for a pseudo-model.

    Examples: `converse/jp.anthropic.claude-haiku-4-5-20251001-v1:0` → (`jp.anthropic.claude-haiku-
    4-5-20251001-v1:0`, `aws`). Bedrock ids keep their region because a regional endpoint costs 10%
    more than a global one, and genai-prices has both. Vertex's `claude-sonnet-4@20250514` →
    `google`. Cursor's `claude-4.5-opus-high-thinking` → `claude-opus-4-5`, Copilot's
    `claude-opus-4.6` → `claude-opus-4-6`, `openai/gpt-5` → (`gpt-5`, `openai`). Otherwise the
    provider is the one the log names, if genai-prices knows it. A None provider means "match by
    model alone", which is also the fallback when the named provider does not list the model.
    """
    candidates = _candidates(model, provider)
    return candidates[0] if candidates else None


def _candidates(model: str, provider: str | None) -> list[tuple[str, str | None]]:
    """The lookups to try in order: with the provider the id or the log names, then by model alone."""
    *route, name = model.strip().lower().split("/")
    if not name or name in _PSEUDO_MODELS:
        return []
    if bedrock := _BEDROCK.match(name):
        return [(name, "aws"), (_claude_name(bedrock["model"]), None)]
    if name.startswith("claude-") and "@" in name:
        return [(name, "google"), (_claude_name(name.partition("@")[0]), None)]
    named = [_provider_id(p) for p in route] + [_provider_id(provider) if provider else None]
    hint = next((p for p in named if p), None)
    ref = _claude_name(name) if name.startswith("claude-") else _GPT5_EFFORT.sub(r"\1", name)
    return [(ref, hint), (ref, None)] if hint else [(ref, None)]


def _claude_name(name: str) -> str:
    """Anthropic's own spelling: family before version from Claude 4 on, dashes, no effort words."""
    words = _VERSION_DOT.sub("-", name.partition("[")[0]).split("-")[1:]  # `[1m]`: a context flag
    words = [w for w in words if w not in _EFFORT_WORDS]
    families = [w for w in words if w in _CLAUDE_FAMILIES]
    versions = [w for w in words if w.isdigit() and len(w) <= 2]  # not the 8-digit date
    if len(families) != 1 or not versions:
        return "-".join(["claude", *words])
    rest = [w for w in words if w not in families and w not in versions]
    ordered = families + versions if int(versions[0]) >= 4 else versions + families
    return "-".join(["claude", *ordered, *rest])


@cache
def _provider_id(name: str) -> str | None:
    """genai-prices' id for a provider a log names (`bedrock` → `aws`, `vertex` → `google`), if any."""
    key = name.strip().lower()
    found = find_provider_by_id(get_snapshot().providers, _PROVIDER_ALIASES.get(key, key)) if key else None
    return found.id if found else None


def _library_model(candidates: Sequence[tuple[str, str | None]]) -> ModelInfo | None:
    """The first genai-prices model that one of the lookups finds and that charges for tokens."""
    snapshot = get_snapshot()
    for ref, provider in candidates:
        try:
            _, model = snapshot.find_provider_model(ref, None, provider, None)
        except LookupError:
            continue
        if _charges_tokens(model):
            return model
    return None


def _charges_tokens(model: ModelInfo) -> bool:
    """False for Copilot's "included in the subscription" entries, which list no token price at all."""
    prices = [model.prices] if isinstance(model.prices, ModelPrice) else [c.prices for c in model.prices]
    return any(p.input_mtok is not None and p.output_mtok is not None for p in prices)


_Band = tuple[float, float, float, float, float, float]
"""USD per million tokens: input, cache read, 5-minute write, 1-hour write, output, reasoning."""


@dataclass(frozen=True, slots=True)
class _Rates:
    """One price table, compiled so that pricing a call is a few multiplications."""

    bands: tuple[tuple[int, _Band], ...]
    """(prompt size a band applies above, its rates), largest first; the last applies above -1."""
    per_call: float = 0.0
    per_search: float = 0.0
    """USD per server-side web search (`Span.web_searches`), billed on top of the tokens."""

    def cost(self, t: Tokens, searches: int = 0) -> float:
        prompt = t.input + t.cache_read + t.cache_write_5m + t.cache_write_1h
        for above, band in self.bands:
            if prompt > above:
                break
        inp, read, write_5m, write_1h, out, reasoning_rate = band
        # Reasoning is part of output; only a model with a reasoning price of its own tells them apart.
        reasoning = min(t.reasoning, t.output)
        return (
            t.input * inp
            + t.cache_read * read
            + t.cache_write_5m * write_5m
            + t.cache_write_1h * write_1h
            + (t.output - reasoning) * out
            + reasoning * reasoning_rate
        ) / 1e6 + self.per_call + searches * self.per_search

    def tier_start(self, t: Tokens) -> int:
        """The prompt size above which the band pricing `t` applies; -1 for the base band."""
        prompt = t.input + t.cache_read + t.cache_write_5m + t.cache_write_1h
        return next(above for above, _ in self.bands if prompt > above)

    def base_cost(self, t: Tokens, searches: int = 0) -> float:
        """What `t` would cost at the base band, whatever its prompt size."""
        return _Rates(self.bands[-1:], self.per_call, self.per_search).cost(t, searches)


def _band(
    inp: float, out: float, read: float | None, write: float | None, write_1h: float | None, reasoning: float | None
) -> _Band:
    """Fill in the prices a table leaves out the way providers bill them."""
    # Tokens a table has no cache price for are ordinary input to the provider (and to genai-prices).
    if write_1h is None:
        # Anthropic bills a 1-hour write at 2x input. Only Claude logs split writes by TTL, so a
        # table that prices writes but not 1-hour ones is a gap in the data, not a cheaper write.
        write_1h = inp if write is None else 2 * inp
    return (
        inp,
        inp if read is None else read,
        inp if write is None else write,
        write_1h,
        out,
        out if reasoning is None else reasoning,
    )


def _compile(prices: ModelPrice, model_id: str) -> _Rates | None:
    """Compile a genai-prices table, one band per long-context tier; None if it has no token prices."""
    if prices.input_mtok is None or prices.output_mtok is None:
        return None
    values = (
        prices.input_mtok,
        prices.output_mtok,
        prices.cache_read_mtok,
        prices.cache_write_mtok,
        prices.cache_write_1h_mtok,
        prices.output_reasoning_mtok,
    )
    starts = sorted({t.start for v in values if isinstance(v, TieredPrices) for t in v.tiers}, reverse=True)
    bands = tuple((start, _band(*(_price_at(v, start + 1) for v in values))) for start in [*starts, -1])
    if model_id in _SONNET_4_IDS and not starts:
        base = bands[0][1]
        bands = ((_SONNET_4_LONG_CONTEXT, _sonnet_4_long_context(base)), *bands)
    per_call = (_price_at(prices.requests_kcount, 0) or 0.0) / 1000
    return _Rates(bands, per_call, (_price_at(prices.web_searches_kcount, 0) or 0.0) / 1000)


def _price_at(value: object, prompt: int) -> float | None:
    """A price for a prompt of this size, by genai-prices' rule: the highest tier the prompt exceeds."""
    if value is None:
        return None
    if not isinstance(value, TieredPrices):
        return float(value)
    price = value.base
    for tier in value.tiers:  # sorted ascending by the library
        if prompt > tier.start:
            price = tier.price
    return float(price)


def _sonnet_4_long_context(base: _Band) -> _Band:
    """Anthropic's long-context rule for Sonnet 4: input-side prices double, output goes up by half."""
    inp, read, write_5m, write_1h, out, reasoning = base
    return (2 * inp, 2 * read, 2 * write_5m, 2 * write_1h, 1.5 * out, 1.5 * reasoning)


@dataclass(frozen=True, slots=True)
class _Override:
    """One entry of the operator's price file."""

    pattern: str
    provider: str | None
    tier: str | None
    rates: _Rates
    start: date | None
    end: date | None
    ref: str

    def covers(self, names: set[str], providers: set[str]) -> bool:
        if self.provider is not None and self.provider not in providers:
            return False
        return any(fnmatchcase(name, self.pattern) for name in names)

    def active(self, day: date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)


@dataclass(slots=True)
class _Resolution:
    """What a model as logged resolves to, once. Which price applies still depends on each call's time."""

    overrides: tuple[_Override, ...]
    model: ModelInfo | None
    compiled: dict[object, _Rates | None] = field(default_factory=dict)
    """Compiled tables by the identity of the genai-prices table they came from (and, for a
    tier, of the variants laid over it)."""

    def rates_at(self, at: datetime, tier: str | None) -> tuple[_Rates, str] | None:
        if self.overrides:
            day = (at.astimezone(UTC) if at.tzinfo else at).date()
            for override in self.overrides:
                if override.tier == tier and override.active(day):
                    return override.rates, override.ref
        if self.model is None:
            return None
        # The library picks the table in force at `at`, at whatever granularity its data has (a
        # start date, or a time of day for off-peak prices), so caching by table stays exact.
        standard = self.model.get_prices(at)
        variants = _tier_variants(self.model, at, tier) if tier is not None else ()
        key = (id(standard), *variants) if tier is not None else id(standard)
        if key not in self.compiled:
            if tier is None:
                table: ModelPrice | None = standard
            else:
                table = self.model.get_prices(at, dict.fromkeys(_TIER_KEYS, tier)) if variants else None
            self.compiled[key] = _compile(table, self.model.id) if table is not None else None
        rates = self.compiled[key]
        return (rates, _LIBRARY_REF) if rates is not None else None


def _tier_variants(model: ModelInfo, at: datetime, tier: str) -> tuple[int, ...]:
    """The model's price variants for `tier` in force at `at`, by identity. None at all: the data
    has no price for that tier. A variant's own start date can change the price while the
    standard table stays the same, so the variants are part of the compiled table's key."""
    return tuple(
        id(variant) for variant in model.price_variants or ()
        if set(variant.when.values()) == {tier} and variant.when.keys() <= set(_TIER_KEYS)
        and any(price is not None for price in vars(variant.prices).values())
        and (variant.constraint is None or variant.constraint.active(at))
    )


@dataclass(frozen=True, slots=True)
class LongContext:
    """A call whose prompt passed its model's long-context threshold, so every token of it,
    output included, was billed at the higher tier's rates."""

    threshold: int
    """The prompt size (tokens, cache included) the tier starts above."""
    cost_usd: float
    base_cost_usd: float
    """What the same tokens cost at the model's base rates."""


class PriceBook:
    """Prices model calls. Build it once and reuse it: it remembers every lookup it makes."""

    def __init__(self, overrides: Sequence[_Override] = (), overrides_file: str | None = None) -> None:
        self._overrides = tuple(overrides)
        self._resolutions: dict[tuple[str | None, str | None], _Resolution] = {}
        self.source = _LIBRARY_REF + (f" + overrides from {overrides_file}" if overrides_file else "")
        """For the report's footnote: `genai-prices 0.2.3 + overrides from prices.yml`."""

    @classmethod
    def load(cls, overrides_path: Path | None) -> PriceBook:
        """The library's prices, plus the operator's file if given. Raises PriceFileError or OSError."""
        if overrides_path is None:
            return cls()
        try:
            overrides = _parse_overrides(overrides_path.read_bytes(), f"override:{overrides_path.name}")
        except PriceFileError as exc:
            exc.file = overrides_path.name
            raise
        return cls(overrides, overrides_path.name)

    def price_span(self, span: Span) -> None:
        """Set a model call's `cost_usd` and `price_ref`, or clear them when it cannot be priced.

        Other spans, and calls whose usage is unknown (`tokens is None`), are left as they are.
        """
        if span.run_type is RunType.LLM and span.tokens is not None:
            self._price(span, span.started_at)

    def price_sessions(self, sessions: Iterable[Session]) -> Counter[str]:
        """Price every model call; return the tokens left unpriced, by model as the log names it.

        A call whose log gave it no time is priced at its session's start, the nearest time known.
        """
        unpriced: Counter[str] = Counter()
        for session in sessions:
            for span in session.spans:
                if span.run_type is not RunType.LLM or span.tokens is None:
                    continue
                if not self._price(span, span.started_at or session.started_at) and span.tokens.total:
                    unpriced[unpriced_name(span)] += span.tokens.total
        return unpriced

    def reprice(
        self, span: Span, at: datetime | None, *, model: str | None = None, tokens: Tokens | None = None,
        standard_tier: bool = False,
    ) -> float | None:
        """What the same call would have cost as `model` (of the call's provider), with other
        `tokens`, or at the standard tier instead of its own, at the price in force at `at`:
        waste findings weigh what a change would save. None when that cannot be priced, so an
        estimate is never made against $0."""
        usage = span.tokens if tokens is None else tokens
        if usage is None:
            return None
        found = self._lookup(model or span.model, span.provider, at, None if standard_tier else span.tier)
        return None if found is None else found[0].cost(usage, span.web_searches)

    def long_context(self, span: Span, at: datetime | None) -> LongContext | None:
        """How a call billed at a long-context tier was billed: None for a call at the base rate."""
        found = self._lookup(span.model, span.provider, at, span.tier) if span.tokens is not None else None
        if found is None or span.tokens is None:
            return None
        rates = found[0]
        start = rates.tier_start(span.tokens)
        if start < 0:
            return None
        searches = span.web_searches
        return LongContext(start, rates.cost(span.tokens, searches), rates.base_cost(span.tokens, searches))

    def _lookup(
        self, model: str | None, provider: str | None, at: datetime | None, tier: str | None,
    ) -> tuple[_Rates, str] | None:
        resolution = self._resolutions.get((model, provider)) or self._resolve(model, provider)
        return resolution.rates_at(at or datetime.now(UTC), tier)

    def _price(self, span: Span, at: datetime | None) -> bool:
        found = self._lookup(span.model, span.provider, at, span.tier)
        if found is None:
            span.cost_usd = span.price_ref = None
            return False
        rates, span.price_ref = found
        span.cost_usd = rates.cost(span.tokens, span.web_searches)
        return True

    def _resolve(self, model: str | None, provider: str | None) -> _Resolution:
        candidates = _candidates(model, provider) if model else []
        names = {model.strip().lower(), *(ref for ref, _ in candidates)} if model else set()
        providers = {p for _, p in candidates if p} | ({provider.strip().lower()} if provider else set())
        resolution = _Resolution(
            tuple(o for o in self._overrides if o.covers(names, providers)),
            _library_model(candidates),
        )
        self._resolutions[(model, provider)] = resolution
        return resolution


def unpriced_name(span: Span) -> str:
    """How an unpriced call shows among the unpriced tokens: its model as logged, and the tier
    it ran at when that is what has no price."""
    model = span.model or UNKNOWN_MODEL
    return f"{model} ({span.tier})" if span.tier else model


def _parse_overrides(raw: bytes, ref: str) -> list[_Override]:
    """The operator's YAML price file (format: tests/data/pricing/overrides.yml) as overrides."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PriceFileError(raw[: exc.start].count(b"\n") + 1, "the file is not UTF-8 text") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc) from None
    if root is None:
        return []
    top = _mapping(root, "the file must be a mapping with a `models:` list")
    for key, (key_node, _) in top.items():
        if key != "models":
            _fail(key_node, f"unknown key `{key}`; the file has one key, `models`")
    if "models" not in top:
        _fail(root, "the file has no `models:` list")
    entries = top["models"][1]
    if not isinstance(entries, yaml.SequenceNode):
        _fail(entries, "`models` must be a list of entries, each starting with `- model: …`")
    return [_override(entry, ref) for entry in entries.value]


def _yaml_error(exc: yaml.YAMLError) -> PriceFileError:
    """Where the parser gave up, and where the construct it was reading began (an unclosed `[`)."""
    problem, context = getattr(exc, "problem", None), getattr(exc, "context", None)
    problem_mark, context_mark = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
    message = f"not valid YAML: {problem or exc}"
    if context and context_mark:
        message += f" ({context} on line {context_mark.line + 1})"
    mark = problem_mark or context_mark
    return PriceFileError(mark.line + 1 if mark else 1, message)


def _override(node: yaml.Node, ref: str) -> _Override:
    """One `models:` entry; its prices fill their gaps like a library table's (see `_band`)."""
    fields = _mapping(node, "each entry of `models` must be a mapping of model, input, output, …")
    for key, (key_node, _) in fields.items():
        if key not in _ENTRY_KEYS:
            _fail(key_node, f"unknown key `{key}`; expected one of {', '.join(_ENTRY_KEYS)}")
    for key in ("model", "input", "output"):
        if key not in fields:
            _fail(node, f"the entry has no `{key}`")
    prices = {key: _usd(fields[key][1], key) for key in _PRICE_KEYS if key in fields}
    searches = _usd(fields["web_searches"][1], "web_searches", "1,000 searches") if "web_searches" in fields else 0.0
    start = _date(fields["from"][1], "from") if "from" in fields else None
    end = _date(fields["until"][1], "until") if "until" in fields else None
    if start and end and start > end:
        _fail(fields["until"][1], f"`until` ({end}) is before `from` ({start})")
    provider = _text(fields["provider"][1], "provider") if "provider" in fields else None
    tier = _text(fields["tier"][1], "tier").lower() if "tier" in fields else None
    band = _band(
        prices["input"],
        prices["output"],
        prices.get("cache_read"),
        prices.get("cache_write"),
        prices.get("cache_write_1h"),
        None,
    )
    return _Override(
        pattern=_text(fields["model"][1], "model").lower(),
        provider=(_provider_id(provider) or provider.lower()) if provider else None,
        tier=tier,
        rates=_Rates(((-1, band),), per_search=searches / 1000),
        start=start,
        end=end,
        ref=ref,
    )


def _mapping(node: yaml.Node, message: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        _fail(node, message)
    fields: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            _fail(key, "a key must be a plain word")
        if key.value in fields:
            _fail(key, f"`{key.value}` is given twice")
        fields[key.value] = (key, value)
    return fields


def _usd(node: yaml.Node, key: str, per: str = "million tokens") -> float:
    try:
        usd = float(node.value) if isinstance(node, yaml.ScalarNode) else math.nan
    except ValueError:
        usd = math.nan
    if not math.isfinite(usd) or usd < 0:
        _fail(node, f"`{key}` must be a price in USD per {per} (a number, 0 or more), got {_shown(node)}")
    return usd


def _date(node: yaml.Node, key: str) -> date:
    if isinstance(node, yaml.ScalarNode):
        try:
            return date.fromisoformat(node.value)
        except ValueError:
            pass
    _fail(node, f"`{key}` must be a date like 2026-01-31, got {_shown(node)}")


def _text(node: yaml.Node, key: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str" or not node.value.strip():
        _fail(node, f"`{key}` must be a non-empty name")
    return node.value.strip()


def _shown(node: yaml.Node) -> str:
    return repr(node.value) if isinstance(node, yaml.ScalarNode) else "a list or mapping"


def _fail(node: yaml.Node, message: str) -> NoReturn:
    raise PriceFileError(node.start_mark.line + 1, message)
