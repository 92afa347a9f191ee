"""The sketch pad's rules: what a `sketch` message may carry (DESIGN.md §11).

Pure: coordinates in a 1000 x 1000 square, bounded points per message and per
turn, a width and a colour from the palette.
"""

from __future__ import annotations

from typing import Any

from .vocabulary import SKETCH_COLORS

COORD_MAX = 1000
MAX_POINTS_PER_MESSAGE = 500
MAX_POINTS_PER_TURN = 20_000
MIN_WIDTH, MAX_WIDTH, DEFAULT_WIDTH = 1, 40, 4
# About 10 messages a second while drawing, with room for a burst.
SKETCH_RATE, SKETCH_BURST = 20.0, 40.0


class BadSketch(ValueError):
    """A `sketch` payload that breaks the contract; the message says how."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def clean_strokes(strokes: Any, clear: Any) -> tuple[list[dict[str, Any]], int, bool]:
    """The strokes as stored and relayed, their number of points, and `clear`."""
    if clear is not None and not isinstance(clear, bool):
        raise BadSketch("clear must be true or false.")
    if not isinstance(strokes, list):
        raise BadSketch("strokes must be a list of {points, width?, color?}.")
    clean: list[dict[str, Any]] = []
    total = 0
    for stroke in strokes:
        if not isinstance(stroke, dict) or not set(stroke) <= {
            "points",
            "width",
            "color",
        }:
            raise BadSketch("Each stroke is {points: [[x, y], ...], width?, color?}.")
        points = stroke.get("points")
        if not isinstance(points, list) or not points:
            raise BadSketch("A stroke has at least one point.")
        total += len(points)
        if total > MAX_POINTS_PER_MESSAGE:
            raise BadSketch(f"At most {MAX_POINTS_PER_MESSAGE} points a message.")
        kept = []
        for point in points:
            if (
                not isinstance(point, list)
                or len(point) != 2
                or not all(_number(c) and 0 <= c <= COORD_MAX for c in point)
            ):
                raise BadSketch(
                    f"Points are [x, y] with numbers from 0 to {COORD_MAX}."
                )
            kept.append([round(point[0], 1), round(point[1], 1)])
        width = stroke.get("width", DEFAULT_WIDTH)
        if not _number(width) or not MIN_WIDTH <= width <= MAX_WIDTH:
            raise BadSketch(f"width is a number from {MIN_WIDTH} to {MAX_WIDTH}.")
        color = stroke.get("color", SKETCH_COLORS[0])
        if color not in SKETCH_COLORS:
            raise BadSketch(f"color is one of {', '.join(SKETCH_COLORS)}.")
        clean.append({"points": kept, "width": width, "color": color})
    if not clean and not clear:
        raise BadSketch("Send strokes, or clear: true.")
    return clean, total, bool(clear)


def fits_turn(drawn: int, adding: int) -> bool:
    """Whether a turn that has `drawn` points may take `adding` more."""
    return drawn + adding <= MAX_POINTS_PER_TURN
