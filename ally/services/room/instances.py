"""Server heartbeats: a dead process's sockets do not stay "online".

Every serving process beats (`beat`) every ALLY_HEARTBEAT_SECONDS. Whichever
process notices first (each beat looks, and so does the scheduler's job)
declares an instance dead once it has been silent ALLY_INSTANCE_DEAD_SECONDS:
its `live_sockets` rows are deleted in one statement (so exactly one process
reaps each of them) and every room they were in gets `presence` offline, and
the room's start is disarmed if it was waiting. A process that restarts under
the same name reaps its own previous run the same way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Connection, delete, select

from ...extensions import db
from ...models import LiveSocket, ServerInstance
from ..sql import upsert
from .events import sockets_gone
from .presence import forget_instance


def beat(instance: str, now: datetime, lane: Connection | None = None) -> bool:
    """This instance is alive at `now`; False when it had no row (its first
    beat, or another process declared it dead and forgot its sockets).

    `lane`, a connection the caller keeps for beating, spares the beat the
    wait for a pooled connection behind every request of a busy process
    (a beat that waited past ALLY_INSTANCE_DEAD_SECONDS got the process
    declared dead: docs/performance.md, "Decisions").
    """
    connection = lane if lane is not None else db.session.connection()
    known = connection.scalar(
        select(ServerInstance.name).where(ServerInstance.name == instance)
    )
    values = {"name": instance, "started_at": now, "beat_at": now}
    connection.execute(
        upsert(ServerInstance.__table__, ["name"], values, update=["beat_at"])
    )
    if lane is not None:
        lane.commit()
    else:
        db.session.commit()
    return known is not None


def dead_after() -> timedelta:
    """How long an instance may be silent before it counts as dead."""
    return timedelta(seconds=float(current_app.config["ALLY_INSTANCE_DEAD_SECONDS"]))


def reap(instance: str, now: datetime) -> int:
    """Forget one instance's sockets and tell their rooms; how many."""
    gone = forget_instance(instance)
    db.session.execute(delete(ServerInstance).where(ServerInstance.name == instance))
    db.session.commit()
    sockets_gone(gone, now)
    return len(gone)


def reap_dead(now: datetime, *, alive: str | None = None) -> int:
    """Every instance silent for too long (except `alive`, the caller): its
    sockets forgotten and their rooms told. Returns how many sockets."""
    limit = now - dead_after()
    silent = set(
        db.session.scalars(
            select(ServerInstance.name).where(ServerInstance.beat_at < limit)
        )
    )
    # Sockets of an instance that never beat (or whose row is gone), old
    # enough that it should have: counted dead too.
    beating = select(ServerInstance.name)
    silent |= set(
        db.session.scalars(
            select(LiveSocket.instance)
            .where(
                LiveSocket.instance.not_in(beating),
                LiveSocket.connected_at < limit,
            )
            .distinct()
        )
    )
    db.session.rollback()
    silent.discard(alive)
    return sum(reap(name, now) for name in sorted(silent))
