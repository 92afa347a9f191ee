"""A server-rendered SVG of one topic's retrievability over time (re-teach
schedule): the forgetting curve FSRS predicts, a dot at each rated
explanation, the desired retention and today. No JavaScript, no CSS."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from markupsafe import Markup, escape

from ..domain.timezones import zone
from .charts import CHAR_WIDTH, LABEL_FONT, PALETTE

WIDTH, HEIGHT = 560, 240  # scaled to the box like charts.py
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 36
GRID, INK, NOW, AIM = "#d9dde3", "#444", "#555", "#1b6e3a"


def retention_chart(
    points: Sequence[tuple[datetime, float]],
    reviews: Sequence[datetime],
    *,
    now: datetime,
    aim: float,
    timezone: str,
    title: str,
    chart_id: str = "retention",
) -> Markup:
    """An accessible SVG line chart of (instant, retrievability 0–1) points."""
    start, end = points[0][0], max(points[-1][0], now)
    span = max((end - start).total_seconds(), 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at: datetime) -> float:
        return LEFT + plot_w * (at - start).total_seconds() / span

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value)

    def day(at: datetime) -> str:
        return at.astimezone(zone(timezone)).strftime("%Y-%m-%d")

    parts = [
        f'<svg class="retention" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        'role="img" '
        f'aria-labelledby="{chart_id}-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
    ]
    for percent in (0, 25, 50, 75, 100):
        at_y = y(percent / 100)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{at_y:.1f}" y2="{at_y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{at_y + 5:.1f}" font-size="{LABEL_FONT}" '
            f'text-anchor="end" fill="{INK}">{percent}%</text>'
        )
    parts.append(
        f'<line class="aim" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(aim):.1f}" '
        f'y2="{y(aim):.1f}" stroke="{AIM}" stroke-width="1.5" stroke-dasharray="6 4"/>'
        f'<text x="{WIDTH - RIGHT}" y="{y(aim) - 5:.1f}" font-size="{LABEL_FONT}" '
        f'text-anchor="end" fill="{AIM}">aim {aim:.0%}</text>'
    )
    now_x = x(now)
    parts.append(
        f'<line class="now" x1="{now_x:.1f}" x2="{now_x:.1f}" y1="{TOP}" '
        f'y2="{TOP + plot_h}" stroke="{NOW}" stroke-width="1" stroke-dasharray="2 3"/>'
    )
    path = " ".join(f"{x(at):.1f},{y(value):.1f}" for at, value in points)
    parts.append(
        f'<polyline points="{path}" fill="none" stroke="{PALETTE[0]}" '
        f'stroke-width="2.5" stroke-linejoin="round"/>'
    )
    for at in reviews:
        parts.append(
            f'<circle class="review" cx="{x(at):.1f}" cy="{y(1):.1f}" r="4" '
            f'fill="{PALETTE[0]}"><title>Taught and rated {day(at)}</title></circle>'
        )
    base = HEIGHT - 12
    parts.append(
        f'<text x="{LEFT}" y="{base}" font-size="{LABEL_FONT}" text-anchor="start" '
        f'fill="{INK}">{day(start)}</text>'
        f'<text x="{WIDTH - RIGHT}" y="{base}" font-size="{LABEL_FONT}" '
        f'text-anchor="end" fill="{INK}">{day(end)}</text>'
    )
    # Clear of the dates at both ends (10 characters each) and of its own width.
    clear = CHAR_WIDTH * 10 + 3 * LABEL_FONT
    if LEFT + clear < now_x < WIDTH - RIGHT - clear:
        parts.append(
            f'<text x="{now_x:.1f}" y="{base}" font-size="{LABEL_FONT}" '
            f'text-anchor="middle" fill="{NOW}">today</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
