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


LABEL_FONT = 12
CHAR_WIDTH = 0.6 * LABEL_FONT  # a fair average for digits and dashes


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
    width: int = 720,
    height: int = 260,
) -> Markup:
    """An accessible SVG line chart over the union of the series' x labels."""
    labels: list[str] = []
    for line in series:
        for label, _ in line.points:
            if label not in labels:
                labels.append(label)
    labels.sort()
    left, right, top, bottom = 36, 12, 12, 36
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        if len(labels) == 1:
            return left + plot_w / 2
        return left + plot_w * i / (len(labels) - 1)

    def y(value: float) -> float:
        return top + plot_h * (1 - (value - y_min) / (y_max - y_min))

    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
    ]
    for tick in range(int(y_min), int(y_max) + 1):
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}" stroke="#d9dde3" stroke-width="1"/>'
            f'<text x="{left - 8}" y="{y(tick) + 4:.1f}" font-size="13" '
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
    legend_x = left
    for n, line in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        parts.append(
            f'<rect x="{legend_x}" y="{top}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{legend_x + 16}" y="{top + 11}" font-size="12" '
            f'fill="#222">{escape(line.name)}</text>'
        )
        legend_x += 24 + 7 * len(line.name)
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
