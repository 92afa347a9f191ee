"""The live teach-back room, one wing: everything the room does lives here.

| module | job |
|---|---|
| `inputs` | loading a session through membership; checking ids, text, ratings |
| `transition` | settle the clock, decide, compare-and-set, commit, push |
| `events` | the use cases of client events (join … ready) |
| `predictions`, `sketches` | the teacher's prediction before a turn; the sketch pad |
| `signals` | the `signal` use case; `signal_store` is its fast read and batch sink |
| `clock` | deadlines and no-shows (the scheduler's jobs call it) |
| `turns` | what each step means for the turn rows |
| `snapshots` | the `session_state` snapshot and pushing it |
| `presence` | sockets in the database; `instances` declares dead servers |

Below the wing: `domain.room` (the pure state machine), `domain.vocabulary`
(the words) and `ally.push` (every server→client emit). Callers use the names
re-exported here.
"""

from .events import (
    finish_turn,
    join,
    leave,
    rate,
    ready,
    self_rate,
    set_topic,
    socket_closed,
    summary,
)
from .inputs import check_session_id, is_plausible_id, load_session
from .predictions import predict
from .signals import send as send_signal
from .signals import signal
from .sketches import send as send_sketch
from .sketches import sketch, strokes_of, turn_sketch

__all__ = [
    "check_session_id",
    "finish_turn",
    "is_plausible_id",
    "join",
    "leave",
    "load_session",
    "predict",
    "rate",
    "ready",
    "self_rate",
    "send_signal",
    "set_topic",
    "signal",
    "send_sketch",
    "sketch",
    "socket_closed",
    "strokes_of",
    "summary",
    "turn_sketch",
]
