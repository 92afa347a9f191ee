"""Server-rendered SVG line charts: no JavaScript, no external library, no CSS.

A chart is drawn from the same figures the page lists in a table beside it.
Colours are SVG presentation attributes (the CSP allows no inline style).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE = ("#0b5394", "#b3261e", "#1b6e3a", "#8a4baf", "#b26b00")


@dataclass(frozen=True)
class Series:
    """One line: a name and (x label, value) points in order."""

    name: str
    points: Sequence[tuple[str, float]]


# The drawing is 560 units wide and scales to its box (width 100 %): on a
# 390 px phone a unit is about 0.64 px, so text of 15 units still reads at
# about 9.6 px; on a desktop the box stops at 45rem.
WIDTH, HEIGHT = 560, 280
LABEL_FONT = 15
CHAR_WIDTH = 0.6 * LABEL_FONT  # a fair average for digits and dashes
LEFT, RIGHT, BOTTOM = 36, 12, 36
# The legend sits in its own rows above the plot, never on the top line.
LEGEND_TOP, LEGEND_ROW, LEGEND_SWATCH = 6, 22, 12


def _legend(names: Sequence[str], left: float, right: float) -> list[tuple[float, int]]:
    """Each legend entry's x and row: left to right, wrapping at ``right``."""
    placed, x, row = [], left, 0
    for name in names:
        width = LEGEND_SWATCH + 4 + CHAR_WIDTH * len(name)
        if x > left and x + width > right:
            x, row = left, row + 1
        placed.append((x, row))
        x += width + 2 * LABEL_FONT
    return placed


def plot_top(names: Sequence[str], width: int = WIDTH) -> float:
    """Where the plot starts: below the legend's rows."""
    rows = 1 + max((row for _, row in _legend(names, LEFT, width - RIGHT)), default=-1)
    return LEGEND_TOP + rows * LEGEND_ROW + 10


def _x_labels(
    labels: Sequence[str], positions: Sequence[float], left: float, right: float
) -> list[tuple[int, str]]:
    """Which x labels to draw, and their anchors, so that none overlap.

    The last label is placed first (anchored at its end), the first next
    (anchored at its start); the ones between are added left to right when
    they clear both their left neighbour and the last label.
    """
    if not labels:
        return []
    gap = LABEL_FONT  # at least a letter's width between labels

    def extent(i: int, anchor: str) -> tuple[float, float]:
        width = CHAR_WIDTH * len(labels[i])
        start = {"start": positions[i], "end": positions[i] - width}.get(
            anchor, positions[i] - width / 2
        )
        return max(left, start), min(right, start + width)

    if len(labels) == 1:
        return [(0, "middle")]
    last = len(labels) - 1
    chosen = [(0, "start")]
    last_left, _ = extent(last, "end")
    _, edge = extent(0, "start")
    for i in range(1, last):
        lo, hi = extent(i, "middle")
        if lo >= edge + gap and hi + gap <= last_left:
            chosen.append((i, "middle"))
            edge = hi
    if last_left >= edge + gap:
        chosen.append((last, "end"))
    return chosen


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    chart_id: str = "chart",
    y_min: float = 1,
    y_max: float = 5,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Markup:
    """An accessible SVG line chart over the union of the series' x labels."""
    labels: list[str] = []
    for line in series:
        for label, _ in line.points:
            if label not in labels:
                labels.append(label)
    labels.sort()
    left, right, bottom = LEFT, RIGHT, BOTTOM
    top = plot_top([line.name for line in series], width)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        if len(labels) == 1:
            return left + plot_w / 2
        return left + plot_w * i / (len(labels) - 1)

    def y(value: float) -> float:
        return top + plot_h * (1 - (value - y_min) / (y_max - y_min))

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-labelledby="{chart_id}-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
    ]
    for tick in range(int(y_min), int(y_max) + 1):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}" stroke="#d9dde3" stroke-width="1"/>'
            f'<text x="{left - 8}" y="{y(tick) + 5:.1f}" font-size="{LABEL_FONT}" '
            f'text-anchor="end" fill="#444">{tick}</text>'
        )
    positions = [x(i) for i in range(len(labels))]
    for i, anchor in _x_labels(labels, positions, 0, width):
        parts.append(
            f'<text x="{positions[i]:.1f}" y="{height - 12}" '
            f'font-size="{LABEL_FONT}" text-anchor="{anchor}" fill="#444">'
            f"{escape(labels[i])}</text>"
        )
    position = {label: i for i, label in enumerate(labels)}
    for n, line in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        coords = [(x(position[label]), y(value)) for label, value in line.points]
        if len(coords) > 1:
            path = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" '
                f'stroke-width="2.5" stroke-linejoin="round"/>'
            )
        for (cx, cy), (label, value) in zip(coords, line.points, strict=True):
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{colour}">'
                f"<title>{escape(line.name)}, {escape(label)}: {value:g}</title>"
                "</circle>"
            )
    placed = _legend([line.name for line in series], left, width - right)
    for n, (line, (legend_x, row)) in enumerate(zip(series, placed, strict=True)):
        colour = PALETTE[n % len(PALETTE)]
        row_y = LEGEND_TOP + row * LEGEND_ROW
        parts.append(
            f'<rect x="{legend_x:.1f}" y="{row_y + 2}" width="{LEGEND_SWATCH}" '
            f'height="{LEGEND_SWATCH}" fill="{colour}"/>'
            f'<text x="{legend_x + LEGEND_SWATCH + 4:.1f}" y="{row_y + 13}" '
            f'font-size="{LABEL_FONT}" fill="#222">{escape(line.name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def four_way_chart(periods: Sequence, period: str) -> Markup | None:
    """The four-way calibration's chart: prediction, self-rating, partner and
    re-check means per period (domain.calibration figures), or None if empty."""
    from ..domain.calibration import chart_series

    lines = [Series(name, points) for name, points in chart_series(periods) if points]
    if not lines:
        return None
    return line_chart(
        lines,
        title=f"Prediction, self-rating, partner and re-check per {period}",
        chart_id="calibration4",
    )
