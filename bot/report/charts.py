"""SVG bar charts as view models: every bar's geometry is computed here, so a test can hold it against the JSON API.

No JavaScript and no external assets: templates draw `<rect>`s from these numbers as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.report.render import usd

LABEL_WIDTH = 190
PLOT_WIDTH = 360
VALUE_WIDTH = 90
ROW_HEIGHT = 22
BAR_HEIGHT = 16
COLUMN_PLOT_HEIGHT = 150
COLUMN_WIDTH = 56
MAX_BARS = 8
"""Rows past this are summed into one "… N more" bar, so the bars still add up to the total."""


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float | None
    """USD; None where there is nothing to divide (no accepted change in that slice)."""
    x: float
    y: float
    width: float
    height: float

    @property
    def text(self) -> str:
        return "—" if self.value is None else usd(self.value)

    @property
    def cents(self) -> str:
        """The value as the API's figure rounded to the cent, for `data-value` (tests compare the two)."""
        return "" if self.value is None else f"{self.value:.2f}"


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str
    bars: tuple[Bar, ...]
    width: int
    height: int
    kind: str
    """`rows` (horizontal bars, one per name) or `columns` (one per time slice)."""

    @property
    def empty(self) -> bool:
        return not self.bars


def rows(chart_id: str, title: str, values: Sequence[tuple[str, float]]) -> Chart:
    """Horizontal bars, longest for the largest value; widths are value / largest × PLOT_WIDTH."""
    shown = list(values[:MAX_BARS])
    if len(values) > MAX_BARS:
        rest = values[MAX_BARS:]
        shown.append((f"… {len(rest)} more", sum(v for _, v in rest)))
    largest = max((v for _, v in shown), default=0.0)
    bars = tuple(
        Bar(label, value, LABEL_WIDTH, index * ROW_HEIGHT + (ROW_HEIGHT - BAR_HEIGHT) / 2,
            _scale(value, largest, PLOT_WIDTH), BAR_HEIGHT)
        for index, (label, value) in enumerate(shown)
    )
    return Chart(chart_id, title, bars, LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH, max(1, len(bars)) * ROW_HEIGHT, "rows")


def columns(chart_id: str, title: str, values: Sequence[tuple[str, float | None]]) -> Chart:
    """Vertical bars over time; heights are value / largest × COLUMN_PLOT_HEIGHT, a gap where there is no value."""
    largest = max((v for _, v in values if v is not None), default=0.0)
    bars = []
    for index, (label, value) in enumerate(values):
        height = _scale(value or 0.0, largest, COLUMN_PLOT_HEIGHT)
        bars.append(Bar(label, value, index * COLUMN_WIDTH + 8, 20 + COLUMN_PLOT_HEIGHT - height, COLUMN_WIDTH - 16, height))
    return Chart(chart_id, title, tuple(bars), max(1, len(bars)) * COLUMN_WIDTH, COLUMN_PLOT_HEIGHT + 40, "columns")


def _scale(value: float, largest: float, length: float) -> float:
    return round(value / largest * length, 2) if largest > 0 and value > 0 else 0.0
