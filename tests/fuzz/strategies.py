"""Hypothesis strategies of hostile room-event payloads (DESIGN.md §6, §10, §11).

Every payload drawn here must be refused: it is either not one JSON object,
or it is a legal payload of its event with at least one field replaced by a
value that field's rule refuses (a wrong type, a lone surrogate, a NUL, text
over every bound, a number out of range, NaN or infinity, a deep or huge
structure, bytes). Values a field accepts (None for an optional field, a
plausible id) are never drawn for that field, so a refusal is always the
right answer and any `ok: true` is a bug.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from ally.domain.vocabulary import CALL_KINDS, SIGNAL_KINDS, SKETCH_COLORS

# Above every text bound of the room (summary 600, note 1000, sdp 32 KiB) and
# still far below the Engine.IO message limit, so the server must read and
# refuse it rather than drop the connection.
HUGE = 33_000
# Deep enough to hurt a naive recursive walk, shallow enough for any JSON
# encoder; the RecursionError depth is a raw packet of its own (test module).
MAX_DEPTH = 400


def nested(depth: int, leaf: Any = 0) -> Any:
    """[[[...leaf...]]] `depth` lists deep."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def nested_objects(depth: int) -> Any:
    """{"a": {"a": ... }} `depth` objects deep."""
    value: Any = {}
    for _ in range(depth):
        value = {"a": value}
    return value


# --- building blocks ----------------------------------------------------------

bad_numbers = st.sampled_from(
    [math.nan, math.inf, -math.inf, -0.0, 1e308, -1e308, 5e-324, 2.5, -1.5]
)
huge_ints = st.sampled_from([2**31, 2**53 + 1, 2**63, -(2**63), 10**30, -(10**30)])
negative_ints = st.integers(max_value=-1)

unstorable_text = st.builds(
    lambda before, bad, after: before + bad + after,
    st.text(max_size=20),
    st.sampled_from(["\ud800", "\udfff", "\x00", "\ud83d", "\udc00\ud800"]),
    st.text(max_size=20),
)
huge_text = st.sampled_from(
    [
        "a" * HUGE,
        "word " * (HUGE // 5),
        "\u202e" * 5_000,  # right-to-left overrides (6 bytes each in JSON)
        "\ud800" * 1000 + "x",
    ]
)
binary = st.binary(min_size=0, max_size=64) | st.just(bytes(range(256)) * 8)
deep = st.one_of(
    st.integers(min_value=20, max_value=MAX_DEPTH).map(nested),
    st.integers(min_value=20, max_value=MAX_DEPTH).map(nested_objects),
)
big_containers = st.sampled_from(
    [
        list(range(20_000)),
        [{} for _ in range(5_000)],
        {f"k{i}": i for i in range(5_000)},
        [[0, 0]] * 10_000,
    ]
)
json_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
containers = st.one_of(
    st.lists(json_values, max_size=5),
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
)


# --- one strategy per kind of field --------------------------------------------


def bad_id(other_ids: tuple[int, ...]) -> st.SearchStrategy[Any]:
    """Not an id of a session (or turn) the actor may touch: wrong types,
    out-of-range integers, or ids of sessions the actor is not in."""
    return st.one_of(
        st.none(),
        st.booleans(),
        negative_ints,
        st.just(0),
        huge_ints,
        bad_numbers,
        st.text(max_size=12),  # "1" is not 1
        unstorable_text,
        binary,
        deep,
        containers,
        st.sampled_from(other_ids) if other_ids else st.nothing(),
    )


def bad_turn(turns: int) -> st.SearchStrategy[Any]:
    """Not a turn number of a `turns`-turn session."""
    return st.one_of(
        st.none(),
        st.booleans(),
        negative_ints,
        st.integers(min_value=turns),
        huge_ints,
        bad_numbers,
        st.text(max_size=8),
        binary,
        deep,
        containers,
    )


def bad_simplicity() -> st.SearchStrategy[Any]:
    """Anything but an integer 1..5 (True is not 1, 3.0 is not 3)."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(max_value=0),
        st.integers(min_value=6),
        st.sampled_from([1.0, 3.0, 5.0, 2.5]),
        bad_numbers,
        huge_ints,
        st.sampled_from(["1", "5", "three", ""]),
        binary,
        deep,
        containers,
    )


def bad_text(*, required: bool) -> st.SearchStrategy[Any]:
    """Text the field refuses: not text, unstorable, over every bound; blank
    only when the field is required (None and blank are 'absent' otherwise)."""
    options = [
        st.booleans(),
        st.integers(),
        bad_numbers,
        unstorable_text,
        huge_text,
        binary,
        deep,
        big_containers,
        containers,
    ]
    if required:
        options += [st.none(), st.sampled_from(["", "   ", "\n\t "])]
    return st.one_of(*options)


def bad_choice(allowed: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """Not one of `allowed` (case and spacing matter)."""
    return st.one_of(
        st.none(),
        st.text(max_size=12).filter(lambda s: s not in allowed),
        st.sampled_from([a.upper() for a in allowed] + [f" {a}" for a in allowed]),
        unstorable_text,
        huge_text,
        st.integers(),
        binary,
        deep,
        containers,
    )


def bad_flag() -> st.SearchStrategy[Any]:
    """Not true, false or null."""
    return st.one_of(
        st.integers(),
        st.sampled_from(["true", "false", "", "yes"]),
        bad_numbers,
        binary,
        containers.filter(bool),
    )


def point(value: Any) -> list[Any]:
    return [value, value]


def bad_strokes() -> st.SearchStrategy[Any]:
    """Strokes the sketch rules refuse (DESIGN.md §11)."""
    good = {"points": [[10, 10], [20, 20]]}
    return st.one_of(
        st.none(),
        st.just([]),  # no strokes and no clear
        st.text(max_size=10),
        st.integers(),
        binary,
        deep,
        st.just([good] * 251),  # 502 points in one message
        st.just([{"points": [[1, 1]] * 501}]),
        bad_numbers.map(lambda v: [{"points": [point(v)]}]),
        st.sampled_from([-1, 1000.5, 10**9]).map(lambda v: [{"points": [point(v)]}]),
        st.sampled_from([[], [1], [1, 2, 3], "1,2", {"x": 1, "y": 2}, [True, 1]]).map(
            lambda p: [{"points": [p]}]
        ),
        st.just([{"points": []}]),
        st.just([{"points": "0,0"}]),
        st.one_of(bad_numbers, st.sampled_from([0, 41, -4, "4", None])).map(
            lambda w: [{**good, "width": w}]
        ),
        st.one_of(
            st.text(max_size=10).filter(lambda c: c not in SKETCH_COLORS),
            unstorable_text,
            st.just(None),
        ).map(lambda c: [{**good, "color": c}]),
        st.just([{**good, "onclick": "alert(1)"}]),
        st.just([good, "stroke"]),
    )


def bad_call() -> st.SearchStrategy[tuple[Any, Any]]:
    """(kind, data) pairs the call rules refuse (DESIGN.md §10)."""
    sdp = "v=0\r\n"
    descriptions = st.sampled_from(["offer", "answer"])
    return st.one_of(
        st.tuples(bad_choice(CALL_KINDS), st.none()),
        st.tuples(
            descriptions,
            st.one_of(
                st.none(),
                st.just({}),
                st.just({"type": "offer"}),
                st.just({"type": "rollback", "sdp": sdp}),
                st.just({"type": "offer", "sdp": ""}),
                st.just({"type": "offer", "sdp": "x" * (32 * 1024 + 1)}),
                st.just({"type": "offer", "sdp": sdp, "extra": 1}),
                bad_text(required=True).map(lambda s: {"type": "offer", "sdp": s}),
                containers,
            ),
        ).filter(lambda pair: not _legal_description(*pair)),
        st.tuples(
            st.just("candidate"),
            st.one_of(
                st.just({}),
                st.just({"candidate": "c", "sdpMid": None, "sdpMLineIndex": None}),
                st.just({"candidate": "c" * 1025, "sdpMid": "0"}),
                st.just({"candidate": "c", "sdpMid": "m" * 65}),
                st.just({"candidate": "c", "sdpMLineIndex": 1024}),
                st.just({"candidate": "c", "sdpMLineIndex": True}),
                st.just({"candidate": "c", "sdpMid": "0", "x": 1}),
                st.just({"candidate": 1, "sdpMid": "0"}),
                bad_numbers.map(lambda n: {"candidate": "c", "sdpMLineIndex": n}),
                st.text(max_size=10),
                st.integers(),
                binary,
            ),
        ),
        st.tuples(
            st.just("hangup"),
            st.one_of(st.just({}), st.just(0), st.just(False), st.text(min_size=0)),
        ),
        st.tuples(
            st.just("media"),
            st.one_of(
                st.none(),
                st.just({}),
                st.just({"audio": True}),
                st.just({"audio": 1, "video": 0}),
                st.just({"audio": "true", "video": False}),
                st.just({"audio": True, "video": False, "screen": True}),
                binary,
                deep,
            ),
        ),
    )


def _legal_description(kind: Any, data: Any) -> bool:
    return (
        isinstance(data, dict)
        and set(data) == {"type", "sdp"}
        and data["type"] == kind
        and isinstance(data["sdp"], str)
        and bool(data["sdp"])
        and len(data["sdp"].encode("utf-8", "surrogatepass")) <= 32 * 1024
    )


# --- whole payloads ------------------------------------------------------------


@dataclass(frozen=True)
class Room:
    """What a payload may name: the actor's session, others' sessions, turns."""

    session_id: int
    other_session_ids: tuple[int, ...]
    turns: int
    turn: int  # the turn a legal payload names


Builder = Callable[[Room], dict[str, Any]]

# A legal payload per event (DESIGN.md §6): the fuzz corrupts it field by field.
LEGAL: dict[str, Builder] = {
    "join_session": lambda r: {"session_id": r.session_id},
    "leave_session": lambda r: {"session_id": r.session_id},
    "set_topic": lambda r: {"session_id": r.session_id, "title": "Loop diuretics"},
    "signal": lambda r: {"session_id": r.session_id, "kind": "jargon", "word": "ACE"},
    "finish_turn": lambda r: {"session_id": r.session_id},
    "rate": lambda r: {
        "session_id": r.session_id,
        "turn": r.turn,
        "simplicity": 4,
        "note": "Lost me at the loop.",
        "jargon": ["ACE"],
    },
    "summary": lambda r: {
        "session_id": r.session_id,
        "turn": r.turn,
        "text": "The kidney keeps salt.",
    },
    "self_rate": lambda r: {
        "session_id": r.session_id,
        "turn": r.turn,
        "simplicity": 3,
    },
    "ready": lambda r: {"session_id": r.session_id, "turn": r.turn},
    "predict": lambda r: {"session_id": r.session_id, "turn": r.turn, "simplicity": 3},
    "sketch": lambda r: {
        "session_id": r.session_id,
        "turn": r.turn,
        "strokes": [{"points": [[1, 2], [3, 4]], "width": 4, "color": "#1f2937"}],
    },
    "call": lambda r: {
        "session_id": r.session_id,
        "kind": "media",
        "data": {"audio": True, "video": False},
    },
}
EVENTS = tuple(LEGAL)
LEGAL_KEYS = frozenset(
    {"session_id", "turn", "title", "kind", "word", "question", "simplicity"}
    | {"note", "jargon", "text", "strokes", "clear", "data"}
)


def field_strategies(event: str, room: Room) -> dict[str, st.SearchStrategy[Any]]:
    """Per field of `event`: values that field refuses."""
    fields: dict[str, st.SearchStrategy[Any]] = {
        "session_id": bad_id(room.other_session_ids)
    }
    if event in {"rate", "summary", "self_rate", "ready", "predict", "sketch"}:
        fields["turn"] = bad_turn(room.turns)
    if event == "set_topic":
        fields["title"] = bad_text(required=True)
    if event == "signal":
        fields["kind"] = bad_choice(SIGNAL_KINDS)
        fields["word"] = bad_text(required=False)
        fields["question"] = bad_text(required=False)
    if event in {"rate", "self_rate", "predict"}:
        fields["simplicity"] = bad_simplicity()
    if event == "rate":
        fields["note"] = bad_text(required=False)
        fields["jargon"] = st.one_of(
            st.text(max_size=10),
            st.integers(),
            binary,
            st.just(["w"] * 21),
            st.lists(bad_text(required=True), min_size=1, max_size=3),
            deep,
        )
    if event == "summary":
        fields["text"] = bad_text(required=True)
    if event == "sketch":
        fields["strokes"] = bad_strokes()
        fields["clear"] = bad_flag()
    return fields


# Fields an event cannot do without: leaving one out is a refusal too.
REQUIRED = {
    "set_topic": {"title"},
    "signal": {"kind"},
    "rate": {"turn", "simplicity"},
    "summary": {"turn", "text"},
    "self_rate": {"turn", "simplicity"},
    "ready": {"turn"},
    "predict": {"turn", "simplicity"},
    "sketch": {"turn", "strokes"},
}


def corrupted(event: str, room: Room) -> st.SearchStrategy[dict[str, Any]]:
    """The legal payload of `event` with one or more fields made hostile (or a
    required one left out), and maybe unknown keys added."""
    fields = field_strategies(event, room)
    names = sorted(fields)
    required = {"session_id"} | REQUIRED.get(event, set())

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        payload = dict(LEGAL[event](room))
        chosen = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
        for name in chosen:
            if name in required and draw(st.integers(0, 4)) == 0:
                payload.pop(name, None)
            else:
                payload[name] = draw(fields[name])
        if event == "call":
            payload["kind"], payload["data"] = draw(bad_call())
        extra = draw(
            st.dictionaries(
                st.text(min_size=1, max_size=8).filter(lambda k: k not in LEGAL_KEYS),
                json_values,
                max_size=2,
            )
        )
        return {**payload, **extra}

    return build()


def not_an_object() -> st.SearchStrategy[Any]:
    """A payload that is not one JSON object: the handler's first refusal."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        bad_numbers,
        st.text(max_size=40),
        unstorable_text,
        huge_text,
        binary,
        st.lists(json_values, max_size=4),
        deep,
        big_containers.filter(lambda v: isinstance(v, list)),
    )


def payloads(event: str, room: Room) -> st.SearchStrategy[Any]:
    """A hostile payload for `event`: mostly corrupted objects, some non-objects,
    some sent as several arguments (a tuple)."""
    return st.one_of(
        corrupted(event, room),
        corrupted(event, room),
        corrupted(event, room),
        not_an_object(),
        st.tuples(st.just(LEGAL[event](room)), json_values),  # an extra argument
    )


# Names Socket.IO keeps for the connection itself: a client sending one is
# cut off (ally/realtime/packets.py), so they are not "unknown events".
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting"}
    | {"newListener", "removeListener"}
)
UNKNOWN_EVENTS = st.one_of(
    st.sampled_from(
        [
            "message",
            "session_state",
            "presence",
            "rated",
            "notification",
            "JOIN_SESSION",
            "signal ",
            "__proto__",
            "constructor",
        ]
    ),
    st.text(min_size=1, max_size=30).filter(
        lambda name: name not in EVENTS and name not in RESERVED_EVENTS
    ),
)
