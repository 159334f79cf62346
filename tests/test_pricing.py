"""bot.pricing: hand-computed costs, model id normalisation, operator overrides, never $0 for unknowns.

Every expected figure is written out as arithmetic on list prices (USD per million tokens) from
genai-prices 0.2.3's data, which matches the vendors' price pages quoted in each comment.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import ModelPrice

from bot import pricing
from bot.pricing import PRICES_VERSION, PriceBook, PriceFileError, normalize_model
from bot.trace import Runtime, RunType, Session, Span, Tokens

DATA = Path(__file__).parent / "data" / "pricing"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
REL = 1e-12


def _call(
    model: str | None, tokens: Tokens | None, provider: str | None = None, at: datetime | None = T0
) -> Span:
    return Span("call-1", RunType.LLM, "model call", started_at=at, model=model, provider=provider, tokens=tokens)


def _priced(
    model: str | None, tokens: Tokens, provider: str | None = None, at: datetime = T0, book: PriceBook | None = None
) -> Span:
    span = _call(model, tokens, provider, at)
    (book or PriceBook.load(None)).price_span(span)
    return span


def _cost(
    model: str, tokens: Tokens, provider: str | None = None, at: datetime = T0, book: PriceBook | None = None
) -> float | None:
    return _priced(model, tokens, provider, at, book).cost_usd


def _library_usage(t: Tokens) -> Usage:
    """Our tokens as genai-prices counts them: its `input_tokens` is the whole prompt, cache included."""
    return Usage(
        input_tokens=t.input + t.cache_read + t.cache_write,
        cache_read_tokens=t.cache_read,
        cache_write_tokens=t.cache_write,
        cache_write_1h_tokens=t.cache_write_1h,
        output_tokens=t.output,
        output_reasoning_tokens=t.reasoning,
    )


def _library_cost(model: str, t: Tokens, provider: str = "anthropic", at: datetime = T0) -> float:
    return float(calc_price(_library_usage(t), model, provider_id=provider, genai_request_timestamp=at).total_price)


# --- Claude: input, output, cache reads, 5-minute and 1-hour writes ------------------------------
# Claude Sonnet 4.5 list price: $3 input, $15 output, cache read $0.30 (0.1x), 5-minute write
# $3.75 (1.25x), 1-hour write $6 (2x) per million tokens.


def test_plain_input_and_output() -> None:
    expected = (1000 * 3 + 400 * 15) / 1e6
    span = _priced("claude-sonnet-4-5-20250929", Tokens(input=1000, output=400))
    assert span.cost_usd == pytest.approx(expected, rel=REL)
    assert span.price_ref == f"genai-prices {PRICES_VERSION}" == "genai-prices 0.2.3"


def test_cache_read_is_a_tenth_of_input() -> None:
    expected = (1000 * 3 + 10_000 * 3 * 0.1 + 400 * 15) / 1e6
    tokens = Tokens(input=1000, cache_read=10_000, output=400)
    assert _cost("claude-sonnet-4-5-20250929", tokens) == pytest.approx(expected, rel=REL)


def test_five_minute_write_is_one_and_a_quarter_input() -> None:
    expected = (1000 * 3 + 2000 * 3 * 1.25 + 400 * 15) / 1e6
    tokens = Tokens(input=1000, cache_write_5m=2000, output=400)
    assert _cost("claude-sonnet-4-5-20250929", tokens) == pytest.approx(expected, rel=REL)


def test_one_hour_write_is_twice_input_and_the_library_agrees() -> None:
    tokens = Tokens(input=1000, cache_read=10_000, cache_write_5m=2000, cache_write_1h=500, output=400)
    expected = (1000 * 3 + 10_000 * 0.3 + 2000 * 3 * 1.25 + 500 * 3 * 2 + 400 * 15) / 1e6
    assert _cost("claude-sonnet-4-5-20250929", tokens) == pytest.approx(expected, rel=REL)
    # genai-prices has `cache_write_1h_mtok` for Anthropic's own models and applies it this way.
    assert _library_cost("claude-sonnet-4-5", tokens) == pytest.approx(expected, rel=REL)


def test_one_hour_write_where_the_data_has_no_one_hour_price() -> None:
    # Bedrock's Claude Sonnet 4 entry has $3 / $15 / read $0.30 / write $3.75 but no 1-hour price;
    # the library would bill the 1-hour write at $3.75. Anthropic bills it at 2x input, $6.
    model = "us.anthropic.claude-sonnet-4-20250514-v1:0"
    tokens = Tokens(input=1000, cache_read=10_000, cache_write_5m=2000, cache_write_1h=500, output=400)
    expected = (1000 * 3 + 10_000 * 0.3 + 2000 * 3.75 + 500 * 3 * 2 + 400 * 15) / 1e6
    library = (1000 * 3 + 10_000 * 0.3 + 2000 * 3.75 + 500 * 3.75 + 400 * 15) / 1e6
    assert _cost(model, tokens) == pytest.approx(expected, rel=REL)
    assert _library_cost(model, tokens, provider="aws") == pytest.approx(library, rel=REL)


# --- Long context: the whole request at one tier, decided by the whole prompt --------------------
# Claude Sonnet 4.5 over 200k prompt tokens: input $6, output $22.50, read $0.60, 5-minute write
# $7.50, 1-hour write $12 (every token of the request); at or under 200k the base prices above.


def test_long_context_over_the_threshold_prices_every_token_at_the_higher_tier() -> None:
    # 1 + 150,000 + 40,000 + 10,000 = 200,001 prompt tokens: cache reads and writes count.
    tokens = Tokens(input=1, cache_read=150_000, cache_write_5m=40_000, cache_write_1h=10_000, output=2000)
    expected = (1 * 6 + 150_000 * 0.6 + 40_000 * 7.5 + 10_000 * 12 + 2000 * 22.5) / 1e6
    assert _cost("claude-sonnet-4-5-20250929", tokens) == pytest.approx(expected, rel=REL)
    assert _library_cost("claude-sonnet-4-5", tokens) == pytest.approx(expected, rel=REL)


def test_long_context_just_under_the_threshold_stays_at_the_base_tier() -> None:
    # 0 + 150,000 + 40,000 + 10,000 = exactly 200,000 prompt tokens: not over, base prices.
    tokens = Tokens(input=0, cache_read=150_000, cache_write_5m=40_000, cache_write_1h=10_000, output=2000)
    expected = (150_000 * 0.3 + 40_000 * 3.75 + 10_000 * 6 + 2000 * 15) / 1e6
    assert _cost("claude-sonnet-4-5-20250929", tokens) == pytest.approx(expected, rel=REL)


def test_sonnet_4_long_context_tier_missing_from_the_data_is_applied() -> None:
    # Claude Sonnet 4 (1M context beta) bills like Sonnet 4.5 over 200k; genai-prices 0.2.3 has it flat.
    over = Tokens(input=1, cache_read=150_000, cache_write_5m=50_000, output=2000)
    under = Tokens(input=0, cache_read=150_000, cache_write_5m=50_000, output=2000)
    assert _cost("claude-sonnet-4-20250514", over) == pytest.approx(
        (1 * 6 + 150_000 * 0.6 + 50_000 * 7.5 + 2000 * 22.5) / 1e6, rel=REL
    )
    assert _cost("claude-sonnet-4-20250514", under) == pytest.approx(
        (150_000 * 0.3 + 50_000 * 3.75 + 2000 * 15) / 1e6, rel=REL
    )


# --- OpenAI and Gemini -------------------------------------------------------------------------


def test_openai_gpt_5_from_codex_shaped_tokens() -> None:
    # Codex `last_token_usage`: input_tokens 12,000 of which cached_input_tokens 8,000; output_tokens
    # 500 of which reasoning_output_tokens 300. The adapter stores uncached input 4,000.
    # GPT-5 list price: input $1.25, cached input $0.125, output $10 (reasoning is output).
    tokens = Tokens(input=12_000 - 8000, cache_read=8000, output=500, reasoning=300)
    expected = (4000 * 1.25 + 8000 * 0.125 + 500 * 10) / 1e6
    assert _cost("gpt-5", tokens, provider="openai") == pytest.approx(expected, rel=REL)
    assert _cost("gpt-5-codex", tokens, provider="openai") == pytest.approx(expected, rel=REL)


def test_gemini_with_reasoning() -> None:
    # Gemini CLI `tokens`: input 8,000 of which cached 3,000, output 400 plus thoughts 800; our
    # output includes the thoughts. Gemini 2.5 Pro (prompts up to 200k): input $1.25, cached
    # $0.125, output (thinking included) $10.
    tokens = Tokens(input=8000 - 3000, cache_read=3000, output=400 + 800, reasoning=800)
    expected = (5000 * 1.25 + 3000 * 0.125 + 1200 * 10) / 1e6
    assert _cost("gemini-2.5-pro", tokens, provider="google") == pytest.approx(expected, rel=REL)


# --- Prices that change over time --------------------------------------------------------------


def test_a_price_change_is_applied_at_each_calls_own_time() -> None:
    # Gemini 3.6 Flash: introductory $0.75 input / $3.75 output through 2026-12-31 (UTC), then
    # $1.50 / $7.50. One book prices both sides, so its caches must not freeze the first price.
    book = PriceBook.load(None)
    tokens = Tokens(input=10_000, output=1000)
    before = (10_000 * 0.75 + 1000 * 3.75) / 1e6
    after = (10_000 * 1.5 + 1000 * 7.5) / 1e6
    new_year = datetime(2027, 1, 1, tzinfo=UTC)
    last_second = new_year - timedelta(seconds=1)
    assert _cost("gemini-3.6-flash", tokens, at=last_second, book=book) == pytest.approx(before, rel=REL)
    assert _cost("gemini-3.6-flash", tokens, at=new_year, book=book) == pytest.approx(after, rel=REL)
    new_york_evening = datetime(2026, 12, 31, 20, 0, tzinfo=timezone(timedelta(hours=-5)))  # 01:00 UTC
    assert _cost("gemini-3.6-flash", tokens, at=new_york_evening, book=book) == pytest.approx(after, rel=REL)


def test_a_long_context_premium_that_was_removed() -> None:
    # Claude Sonnet 4.6 had the 200k tier ($6 / $22.50) until Anthropic dropped it on 2026-03-13.
    book = PriceBook.load(None)
    tokens = Tokens(input=300_000, output=1000)
    assert _cost("claude-sonnet-4-6", tokens, at=datetime(2026, 3, 12, 23, tzinfo=UTC), book=book) == pytest.approx(
        (300_000 * 6 + 1000 * 22.5) / 1e6, rel=REL
    )
    assert _cost("claude-sonnet-4-6", tokens, at=datetime(2026, 3, 13, 0, tzinfo=UTC), book=book) == pytest.approx(
        (300_000 * 3 + 1000 * 15) / 1e6, rel=REL
    )


def test_off_peak_prices_within_one_day() -> None:
    # DeepSeek Chat: $0.27 / $1.10 from 00:30 to 16:30 UTC, half that ($0.135 / $0.55) off-peak. A
    # cache keyed by day would get one of these wrong.
    book = PriceBook.load(None)
    tokens = Tokens(input=10_000, output=1000)
    day = datetime(2026, 5, 1, tzinfo=UTC)
    assert _cost("deepseek-chat", tokens, at=day + timedelta(hours=10), book=book) == pytest.approx(
        (10_000 * 0.27 + 1000 * 1.1) / 1e6, rel=REL
    )
    assert _cost("deepseek-chat", tokens, at=day + timedelta(hours=18), book=book) == pytest.approx(
        (10_000 * 0.135 + 1000 * 0.55) / 1e6, rel=REL
    )


# --- Never $0: unknown and pseudo-models --------------------------------------------------------


def test_unknown_model_is_unpriced_and_counted() -> None:
    known = _call("claude-haiku-4-5-20251001", Tokens(input=100, output=10))
    unknown = _call("acme-secret-model-9", Tokens(input=100, cache_read=20, output=50))
    stale = _call("gmini-pro", Tokens(input=7, output=3))
    stale.cost_usd, stale.price_ref = 0.5, "genai-prices 0.0.1"  # priced before; must be cleared
    nameless = _call(None, Tokens(input=5, output=5))
    session = Session("claude-code:s1", Runtime.CLAUDE_CODE, spans=[known, unknown, stale, nameless])

    unpriced = PriceBook.load(None).price_sessions([session])

    assert unpriced == {"acme-secret-model-9": 170, "gmini-pro": 10, "(unknown model)": 10}
    assert known.cost_usd == pytest.approx((100 * 1 + 10 * 5) / 1e6, rel=REL)  # Haiku 4.5: $1 / $5
    for span in (unknown, stale, nameless):
        assert (span.cost_usd, span.price_ref) == (None, None)


@pytest.mark.parametrize("model", ["<synthetic>", "auto", "default", "sonnet", "claude-opus-9-9"])
def test_pseudo_and_ambiguous_models_are_unpriced(model: str) -> None:
    span = _call(model, Tokens(input=1000, output=10))
    unpriced = PriceBook.load(None).price_sessions([Session("cursor:s", Runtime.CURSOR, spans=[span])])
    assert span.cost_usd is None
    assert unpriced == {model: 1010}


def test_zero_usage_call_of_an_unknown_model_adds_no_unpriced_row() -> None:
    span = _call("<synthetic>", Tokens())
    assert PriceBook.load(None).price_sessions([Session("claude-code:s", Runtime.CLAUDE_CODE, spans=[span])]) == {}
    assert span.cost_usd is None


def test_unknown_usage_and_other_spans_are_left_alone() -> None:
    unknown_usage = _call("claude-sonnet-4-5-20250929", None)
    tool = Span("t1", RunType.TOOL, "Read", started_at=T0, tokens=Tokens(input=5))
    book = PriceBook.load(None)
    for span in (unknown_usage, tool):
        book.price_span(span)
        assert (span.cost_usd, span.price_ref) == (None, None)
    assert book.price_sessions([Session("claude-code:s", Runtime.CLAUDE_CODE, spans=[unknown_usage, tool])]) == {}


def test_a_call_without_a_time_is_priced_at_its_sessions_start() -> None:
    span = _call("claude-sonnet-4-6", Tokens(input=300_000), at=None)
    started = datetime(2026, 3, 1, tzinfo=UTC)
    session = Session("claude-code:s", Runtime.CLAUDE_CODE, started_at=started, spans=[span])
    PriceBook.load(None).price_sessions([session])
    assert span.cost_usd == pytest.approx(300_000 * 6 / 1e6, rel=REL)  # still the long-context tier


def test_copilot_included_model_gets_its_api_equivalent_price() -> None:
    # genai-prices lists Copilot's gpt-4o with no token price ("included in the subscription");
    # the report shows what it would cost at OpenAI's list price: $2.50 input, $10 output.
    assert _cost("gpt-4o", Tokens(input=1000, output=100), provider="github") == pytest.approx(
        (1000 * 2.5 + 100 * 10) / 1e6, rel=REL
    )


# --- Model ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "provider", "expected"),
    [
        # Bedrock: the id keeps its region, because regional endpoints cost 10% more than global.
        ("converse/jp.anthropic.claude-haiku-4-5-20251001-v1:0", None, ("jp.anthropic.claude-haiku-4-5-20251001-v1:0", "aws")),
        ("converse/eu.anthropic.claude-sonnet-4-6-v1:0", "anthropic", ("eu.anthropic.claude-sonnet-4-6-v1:0", "aws")),
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", None, ("anthropic.claude-sonnet-4-5-20250929-v1:0", "aws")),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "bedrock", ("us.anthropic.claude-sonnet-4-20250514-v1:0", "aws")),
        ("apac.anthropic.claude-sonnet-4-20250514-v1:0", None, ("apac.anthropic.claude-sonnet-4-20250514-v1:0", "aws")),
        ("global.anthropic.claude-haiku-4-5-20251001-v1:0", None, ("global.anthropic.claude-haiku-4-5-20251001-v1:0", "aws")),
        # Vertex AI
        ("claude-sonnet-4@20250514", None, ("claude-sonnet-4@20250514", "google")),
        ("claude-opus-4-1@20250805", "vertex", ("claude-opus-4-1@20250805", "google")),
        # Cursor: version before family, effort and thinking suffixes
        ("claude-4.5-opus-high-thinking", None, ("claude-opus-4-5", None)),
        ("claude-4.6-sonnet-medium-thinking", "cursor", ("claude-sonnet-4-6", "cursor")),
        ("claude-4-sonnet-thinking", None, ("claude-sonnet-4", None)),
        ("gpt-5.5-medium", None, ("gpt-5.5", None)),
        ("gpt-5.1-codex-max-high", None, ("gpt-5.1-codex-max", None)),
        ("o3-mini-high", None, ("o3-mini-high", None)),  # a real id, not an effort suffix
        # Copilot: dotted versions
        ("claude-opus-4.6", "github", ("claude-opus-4-6", "github-copilot")),
        ("claude-haiku-4.5", "copilot", ("claude-haiku-4-5", "github-copilot")),
        # Provider prefixes, case, context flags, Claude 3's own order
        ("openai/gpt-5", None, ("gpt-5", "openai")),
        ("anthropic/claude-sonnet-4-5", None, ("claude-sonnet-4-5", "anthropic")),
        ("Claude-Sonnet-4-5-20250929", "Anthropic", ("claude-sonnet-4-5-20250929", "anthropic")),
        ("claude-sonnet-4-5-20250929[1m]", None, ("claude-sonnet-4-5-20250929", None)),
        ("claude-3.5-sonnet", None, ("claude-3-5-sonnet", None)),
        ("gpt-5", "opencode", ("gpt-5", None)),  # a provider genai-prices does not know is no hint
        # Pseudo-models
        ("auto", None, None),
        ("default", "cursor", None),
        ("<synthetic>", None, None),
        ("", None, None),
    ],
)
def test_normalize_model(model: str, provider: str | None, expected: tuple[str, str | None] | None) -> None:
    assert normalize_model(model, provider) == expected


@pytest.mark.parametrize(
    ("model", "provider", "input_price"),
    [
        ("converse/jp.anthropic.claude-haiku-4-5-20251001-v1:0", None, 1.1),  # Bedrock regional: list + 10%
        ("global.anthropic.claude-haiku-4-5-20251001-v1:0", None, 1.0),  # Bedrock global: list
        ("claude-haiku-4-5-20251001", None, 1.0),
        ("claude-haiku-4.5", "copilot", 1.0),
        ("claude-4.5-opus-high-thinking", "cursor", 5.0),
        ("claude-4.6-sonnet-medium-thinking", "cursor", 3.0),
        ("claude-opus-4.6", "github", 5.0),  # not in Copilot's table: Anthropic's list price
        ("claude-sonnet-4@20250514", "vertex", 3.0),
        ("openai/gpt-5", None, 1.25),
        ("gpt-5.5-medium", None, 5.0),
        ("composer-2.5-fast", "cursor", 3.0),  # Cursor's own model has a published price
    ],
)
def test_normalised_ids_find_their_price(model: str, provider: str | None, input_price: float) -> None:
    # 100k tokens: under every long-context threshold
    assert _cost(model, Tokens(input=100_000), provider) == pytest.approx(100_000 * input_price / 1e6, rel=REL)


# --- Operator overrides ------------------------------------------------------------------------


def test_example_override_file() -> None:
    book = PriceBook.load(DATA / "overrides.yml")
    assert book.source == "genai-prices 0.2.3 + overrides from overrides.yml"

    # An unlisted model: $0.80 input, $3.20 output; no cache price given, so reads bill as input.
    span = _priced("acme-coder-2", Tokens(input=1000, cache_read=500, output=500), book=book)
    assert span.cost_usd == pytest.approx((1000 * 0.8 + 500 * 0.8 + 500 * 3.2) / 1e6, rel=REL)
    assert span.price_ref == "override:overrides.yml"

    # Negotiated Bedrock Sonnet 4.5 in 2026: $2.70 / $13.50 / read $0.27 / write $3.375 / 1h $5.40.
    bedrock = "converse/us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    tokens = Tokens(input=1000, cache_read=10_000, cache_write_5m=2000, cache_write_1h=500, output=400)
    negotiated = (1000 * 2.7 + 10_000 * 0.27 + 2000 * 3.375 + 500 * 5.4 + 400 * 13.5) / 1e6
    assert _cost(bedrock, tokens, book=book) == pytest.approx(negotiated, rel=REL)
    # After the period: Bedrock's regional list price, $3.30 / $16.50 / $0.33 / $4.125 / $6.60.
    regional = (1000 * 3.3 + 10_000 * 0.33 + 2000 * 4.125 + 500 * 6.6 + 400 * 16.5) / 1e6
    next_year = datetime(2027, 1, 1, tzinfo=UTC)
    assert _cost(bedrock, tokens, at=next_year, book=book) == pytest.approx(regional, rel=REL)
    # Not through Bedrock: Anthropic's list price.
    listed = (1000 * 3 + 10_000 * 0.3 + 2000 * 3.75 + 500 * 6 + 400 * 15) / 1e6
    assert _cost("claude-sonnet-4-5-20250929", tokens, book=book) == pytest.approx(listed, rel=REL)

    # Opus 4.6 fast mode, 6x its list price: $30 / $150 / read $3 / write $37.50 / 1h $60.
    fast = (1000 * 30 + 10_000 * 3 + 2000 * 37.5 + 500 * 60 + 400 * 150) / 1e6
    assert _tiered("claude-opus-4-6", tokens, "fast", book=book).cost_usd == pytest.approx(fast, rel=REL)


def test_override_wins_over_the_library_and_first_match_wins(tmp_path: Path) -> None:
    path = tmp_path / "prices.yml"
    path.write_text(
        textwrap.dedent(
            """\
            models:
              - model: gpt-5*
                provider: openai
                input: 1
                output: 8
                cache_read: 0.1
              - model: gpt-5
                input: 99
                output: 99
            """
        )
    )
    book = PriceBook.load(path)
    tokens = Tokens(input=4000, cache_read=8000, output=500)
    negotiated = (4000 * 1 + 8000 * 0.1 + 500 * 8) / 1e6
    assert _cost("gpt-5", tokens, provider="openai", book=book) == pytest.approx(negotiated, rel=REL)
    # Through Azure the first entry does not apply (provider), the second does.
    assert _cost("gpt-5", tokens, provider="azure", book=book) == pytest.approx((12_000 * 99 + 500 * 99) / 1e6, rel=REL)


INVALID_FILES = {
    "not-yaml": ("models:\n  - model: x\n    input: [1, 2\n    output: 3\n", 4),
    "top-is-a-list": ("- model: x\n  input: 1\n", 1),
    "unknown-top-key": ("models: []\nmodel: x\n", 2),
    "models-not-a-list": ("models:\n  model: x\n", 2),
    "entry-not-a-mapping": ("models:\n  - acme-coder-2\n", 2),
    "missing-output": ("models:\n  - model: x\n    input: 1\n  - model: y\n    input: 1\n    output: 2\n", 2),
    "misspelt-key": ("models:\n  - model: x\n    input: 1\n    ouput: 2\n", 4),
    "price-with-dollar": ("models:\n  - model: x\n    input: $3\n    output: 15\n", 3),
    "negative-price": ("models:\n  - model: x\n    input: 3\n    output: -15\n", 4),
    "empty-model": ("models:\n  - model:\n    input: 3\n    output: 15\n", 2),
    "bad-date": ("models:\n  - model: x\n    input: 3\n    output: 15\n    from: 2026-13-01\n", 5),
    "until-before-from": ("models:\n  - model: x\n    input: 3\n    output: 15\n    from: 2026-06-01\n    until: 2026-05-31\n", 6),
    "key-twice": ("models:\n  - model: x\n    input: 3\n    input: 4\n    output: 15\n", 4),
}


@pytest.mark.parametrize("case", INVALID_FILES)
def test_invalid_override_file_names_the_line(case: str, tmp_path: Path) -> None:
    text, line = INVALID_FILES[case]
    path = tmp_path / "prices.yml"
    path.write_text(text)
    with pytest.raises(PriceFileError) as caught:
        PriceBook.load(path)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"prices.yml, line {line}: ")


def test_override_file_error_messages(tmp_path: Path, golden: Callable[[str, object], None]) -> None:
    """What an operator reads (after `AGENTSPEND_PRICES: `) for each broken file."""
    lines = []
    for case, (text, _) in INVALID_FILES.items():
        path = tmp_path / "prices.yml"
        path.write_text(text)
        with pytest.raises(PriceFileError) as caught:
            PriceBook.load(path)
        lines.append(f"{case}: {caught.value}\n")
    golden("pricing/override-errors.txt", "".join(lines))


def test_override_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "prices.yml"
    path.write_bytes(b"models:\n  - model: caf\xe9\n    input: 1\n    output: 2\n")
    with pytest.raises(PriceFileError) as caught:
        PriceBook.load(path)
    assert caught.value.line == 2


def test_empty_override_file_is_no_overrides(tmp_path: Path) -> None:
    path = tmp_path / "prices.yml"
    path.write_text("# nothing negotiated yet\n")
    book = PriceBook.load(path)
    assert book.source == "genai-prices 0.2.3 + overrides from prices.yml"
    assert _cost("claude-haiku-4-5", Tokens(input=1000), book=book) == pytest.approx(1000 * 1 / 1e6, rel=REL)


# --- The arithmetic agrees with genai-prices' own, model by model --------------------------------

_AGENT_PROVIDERS = (
    "anthropic", "openai", "google", "aws", "azure", "github-copilot", "cursor", "x-ai", "deepseek", "mistral"
)


def _tables(provider_id: str) -> list[tuple[str, ModelPrice]]:
    provider = next(p for p in get_snapshot().providers if p.id == provider_id)
    tables = []
    for model in provider.models:
        prices = [model.prices] if isinstance(model.prices, ModelPrice) else [c.prices for c in model.prices]
        tables += [(model.id, p) for p in prices if p.input_mtok is not None and p.output_mtok is not None]
    return tables


def _prompts(prices: ModelPrice) -> list[int]:
    """A small prompt, and each tier's threshold and one token past it."""
    starts = {t.start for v in vars(prices).values() if hasattr(v, "tiers") for t in v.tiers}
    return [6000, *sorted(s + d for s in starts for d in (0, 1))]


@pytest.mark.parametrize("provider_id", _AGENT_PROVIDERS)
def test_arithmetic_matches_genai_prices(provider_id: str) -> None:
    """Our compiled tables price like `calc_price`, except where the module docstring says otherwise."""
    checked = 0
    for model_id, prices in _tables(provider_id):
        one_hour_gap = prices.cache_write_mtok is not None and prices.cache_write_1h_mtok is None
        for prompt in _prompts(prices):
            reads, writes = prompt // 2, prompt // 4
            tokens = Tokens(
                input=prompt - reads - writes,
                cache_read=reads,
                cache_write_5m=writes - writes // 5,
                cache_write_1h=0 if one_hour_gap else writes // 5,
                output=1234,
                reasoning=567,
            )
            ours = pricing._compile(prices, model_id).cost(tokens)
            theirs = float(prices.calc_price(_library_usage(tokens))["total_price"])
            assert ours == pytest.approx(theirs, rel=1e-9), (model_id, prompt)
            checked += 1
    assert checked > 5


# --- billing tiers: fast mode, priority and flex --------------------------------------------------
# Claude Opus 4.8 fast mode: $10 input, $50 output, read $1, 5-minute write $12.50, 1-hour $20
# (its standard rates doubled). GPT-5.5's fast tier from 2026-10-12: $12.50 input, $1.25 cached,
# $75 output (2.5x), flex: $2.50 / $0.25 / $15.

TIERED = datetime(2026, 10, 20, 12, 0, tzinfo=UTC)


def _tiered(
    model: str, tokens: Tokens, tier: str | None, at: datetime = TIERED, book: PriceBook | None = None
) -> Span:
    span = Span("call-1", RunType.LLM, model, started_at=at, model=model, tokens=tokens, tier=tier)
    (book or PriceBook.load(None)).price_span(span)
    return span


def test_claude_fast_mode_is_priced_at_the_fast_rates() -> None:
    tokens = Tokens(input=1000, output=100, cache_read=2000, cache_write_5m=100, cache_write_1h=200)
    fast = (1000 * 10 + 100 * 50 + 2000 * 1 + 100 * 12.5 + 200 * 20) / 1e6
    standard = (1000 * 5 + 100 * 25 + 2000 * 0.5 + 100 * 6.25 + 200 * 10) / 1e6
    assert _tiered("claude-opus-4-8", tokens, "fast").cost_usd == pytest.approx(fast, rel=REL)
    assert _tiered("claude-opus-4-8", tokens, None).cost_usd == pytest.approx(standard, rel=REL)


def test_openai_tiers_and_a_tiers_own_start_date() -> None:
    tokens = Tokens(input=600, cache_read=400, output=50)
    assert _tiered("gpt-5.5", tokens, "fast").cost_usd == pytest.approx((600 * 12.5 + 400 * 1.25 + 50 * 75) / 1e6, rel=REL)
    assert _tiered("gpt-5.5", tokens, "flex").cost_usd == pytest.approx((600 * 2.5 + 400 * 0.25 + 50 * 15) / 1e6, rel=REL)
    # The data lists GPT-5.5's tier prices from 2026-10-12 only: earlier, the tier has no price.
    before = _tiered("gpt-5.5", tokens, "fast", at=datetime(2026, 10, 3, tzinfo=UTC))
    assert before.cost_usd is None and before.price_ref is None


def test_a_tier_without_a_listed_price_is_unpriced_and_named_with_its_tier() -> None:
    """Opus 4.6 bills fast mode at 6x, which the data does not list: the standard price would
    be a silent undercount."""
    session = Session("s", Runtime.CLAUDE_CODE, started_at=TIERED)
    session.spans = [
        Span("fast", RunType.LLM, "m", started_at=TIERED, model="claude-opus-4-6", tokens=Tokens(input=10, output=5), tier="fast"),
        Span("std", RunType.LLM, "m", started_at=TIERED, model="claude-opus-4-6", tokens=Tokens(input=10, output=5)),
    ]
    assert PriceBook.load(None).price_sessions([session]) == {"claude-opus-4-6 (fast)": 15}
    assert session.spans[0].cost_usd is None
    assert session.spans[1].cost_usd == pytest.approx((10 * 5 + 5 * 25) / 1e6, rel=REL)


def test_an_override_with_a_tier_prices_that_tier_only(tmp_path: Path) -> None:
    path = tmp_path / "prices.yml"
    path.write_text(
        "models:\n"
        "  - model: claude-opus-4-6\n    tier: FAST\n    input: 30\n    output: 150\n"
        "  - model: claude-opus-4-8\n    input: 1\n    output: 2\n"
    )
    book = PriceBook.load(path)
    tokens = Tokens(input=1000, output=100)
    assert _tiered("claude-opus-4-6", tokens, "fast", book=book).cost_usd == pytest.approx((1000 * 30 + 100 * 150) / 1e6, rel=REL)
    assert _tiered("claude-opus-4-6", tokens, None, book=book).cost_usd == pytest.approx((1000 * 5 + 100 * 25) / 1e6, rel=REL)
    # An entry without a tier is a standard price: a fast call of that model keeps the library's fast rate.
    assert _tiered("claude-opus-4-8", tokens, None, book=book).cost_usd == pytest.approx((1000 * 1 + 100 * 2) / 1e6, rel=REL)
    assert _tiered("claude-opus-4-8", tokens, "fast", book=book).cost_usd == pytest.approx((1000 * 10 + 100 * 50) / 1e6, rel=REL)


def _tier_values() -> list[tuple[str, str]]:
    """Every (model, tier) the data lists a price variant for under one of the tier keys."""
    found = set()
    for provider in get_snapshot().providers:
        if provider.id not in _AGENT_PROVIDERS:
            continue
        for model in provider.models:
            if not pricing._charges_tokens(model):
                continue
            for variant in model.price_variants or ():
                if variant.when.keys() <= set(pricing._TIER_KEYS):
                    found |= {(f"{provider.id}:{model.id}", value) for value in variant.when.values()}
    return sorted(found)


def test_no_model_lists_one_tier_under_two_keys() -> None:
    """A tier is offered under every tier key at once: that is only sound while no model keys
    two variants by the same value (say `speed: fast` and `service_tier: fast`)."""
    for provider in get_snapshot().providers:
        for model in provider.models:
            keys_of: dict[str, set[str]] = {}
            for variant in model.price_variants or ():
                for key, value in variant.when.items():
                    keys_of.setdefault(value, set()).add(key)
            assert all(len(keys) == 1 for keys in keys_of.values()), (provider.id, model.id, keys_of)


@pytest.mark.parametrize(("ref", "tier"), _tier_values())
def test_tier_arithmetic_matches_genai_prices(ref: str, tier: str) -> None:
    """A tiered call costs what `calc_price` says with that tier as its price context."""
    provider_id, model_id = ref.split(":", 1)
    model = next(m for p in get_snapshot().providers if p.id == provider_id for m in p.models if m.id == model_id)
    tokens = Tokens(input=3000, cache_read=5000, cache_write_5m=800, output=700, reasoning=200)
    for at in (T0, TIERED, datetime(2026, 12, 1, tzinfo=UTC)):
        resolution = pricing._Resolution((), model)
        found = resolution.rates_at(at, tier)
        if not pricing._tier_variants(model, at, tier):
            assert found is None, (ref, tier, at)
            continue
        assert found is not None
        context = dict.fromkeys(pricing._TIER_KEYS, tier)
        theirs = float(model.calc_price(_library_usage(tokens), get_snapshot().find_provider(None, provider_id, None),
                                        genai_request_timestamp=at, price_context=context).total_price)
        assert found[0].cost(tokens) == pytest.approx(theirs, rel=1e-9), (ref, tier, at)


# --- web searches: billed per search, on top of the tokens ---------------------------------------
# Anthropic and OpenAI both list web search at $10 per 1,000 searches.


def test_web_searches_are_billed_per_search() -> None:
    span = Span("call-1", RunType.LLM, "m", started_at=TIERED, model="claude-sonnet-4-5",
                tokens=Tokens(input=1000, output=100), web_searches=3)
    PriceBook.load(None).price_span(span)
    assert span.cost_usd == pytest.approx((1000 * 3 + 100 * 15) / 1e6 + 3 * 10 / 1000, rel=REL)


@pytest.mark.parametrize("provider_id", ["anthropic", "openai", "google"])
def test_search_arithmetic_matches_genai_prices(provider_id: str) -> None:
    checked = 0
    for model_id, prices in _tables(provider_id):
        if prices.web_searches_kcount is None:
            continue
        tokens = Tokens(input=2000, cache_read=1000, output=300)
        usage = _library_usage(tokens)
        usage.web_searches = 7
        theirs = float(prices.calc_price(usage)["total_price"])
        assert pricing._compile(prices, model_id).cost(tokens, 7) == pytest.approx(theirs, rel=1e-9), model_id
        checked += 1
    assert checked > 0


def test_an_override_can_price_web_searches(tmp_path: Path) -> None:
    path = tmp_path / "prices.yml"
    path.write_text("models:\n  - model: acme-coder-2\n    input: 1\n    output: 2\n    web_searches: 5\n"
                    "  - model: acme-coder-3\n    input: 1\n    output: 2\n")
    book = PriceBook.load(path)
    for model, per_search in (("acme-coder-2", 5 / 1000), ("acme-coder-3", 0.0)):
        span = Span("c", RunType.LLM, model, started_at=T0, model=model, tokens=Tokens(input=1000), web_searches=4)
        book.price_span(span)
        assert span.cost_usd == pytest.approx(1000 * 1 / 1e6 + 4 * per_search, rel=REL)


# --- what waste findings ask: the same call priced otherwise ------------------------------------


def test_reprice_as_another_model_of_the_provider() -> None:
    span = _priced("claude-opus-4-1-20250805", Tokens(input=1000, output=100, cache_read=10_000), "anthropic")
    book = PriceBook.load(None)
    assert span.cost_usd == pytest.approx((1000 * 15 + 100 * 75 + 10_000 * 1.5) / 1e6, rel=REL)
    sonnet = book.reprice(span, T0, model="claude-sonnet-4-5")
    assert sonnet == pytest.approx((1000 * 3 + 100 * 15 + 10_000 * 0.3) / 1e6, rel=REL)
    assert span.model == "claude-opus-4-1-20250805" and span.cost_usd > sonnet  # the span is left alone


def test_reprice_with_other_tokens_and_never_against_zero() -> None:
    span = _priced("claude-sonnet-4-5", Tokens(input=10, cache_write_5m=100_000), "anthropic")
    book = PriceBook.load(None)
    as_hit = book.reprice(span, T0, tokens=Tokens(input=10, cache_read=100_000))
    assert as_hit == pytest.approx((10 * 3 + 100_000 * 0.3) / 1e6, rel=REL)
    assert book.reprice(span, T0, model="no-such-model-anywhere") is None
    assert book.reprice(_call("claude-sonnet-4-5", None), T0) is None  # usage unknown


def test_long_context_says_how_a_call_over_the_threshold_was_billed() -> None:
    book = PriceBook.load(None)
    long = _priced("claude-sonnet-4-5", Tokens(input=250_000, output=1000), "anthropic")
    billed = book.long_context(long, T0)
    assert billed is not None and billed.threshold == 200_000
    assert billed.cost_usd == pytest.approx(long.cost_usd, rel=REL)
    assert billed.cost_usd == pytest.approx((250_000 * 6 + 1000 * 22.5) / 1e6, rel=REL)
    assert billed.base_cost_usd == pytest.approx((250_000 * 3 + 1000 * 15) / 1e6, rel=REL)
    assert book.long_context(_priced("claude-sonnet-4-5", Tokens(input=199_000), "anthropic"), T0) is None
    assert book.long_context(_priced("claude-opus-4-1", Tokens(input=250_000), "anthropic"), T0) is None
