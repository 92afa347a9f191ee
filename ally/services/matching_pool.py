"""The auto-match pool: pair everyone who opted in, by maximum-weight matching."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from flask import current_app

from ..domain.matching import pool_pairs
from ..offload import blocking
from . import matching_data, notifications, partners


def run_pool(now: datetime) -> int:
    """Create a partnership for each matched pair; tell the rest; returns pairs."""
    limit = int(current_app.config["ALLY_MAX_PARTNERSHIPS"])
    people = matching_data.load_pool(limit)
    if len(people) < 2:
        unmatched = [p.user_id for p in people]
        pairs: list[tuple[int, int]] = []
    else:
        # Seconds of CPU for a large pool: under gevent, on a real thread (it
        # only reads the people loaded above, no session), so the sockets of
        # an embedded server keep being served meanwhile.
        pairs = blocking(
            partial(
                pool_pairs,
                people,
                now,
                session_minutes=int(current_app.config["ALLY_SESSION_MINUTES"]),
                excluded=frozenset(matching_data.blocked_pairs()),
            )
        )
        matched = {uid for pair in pairs for uid in pair}
        unmatched = [p.user_id for p in people if p.user_id not in matched]
    made = 0
    for a, b in pairs:
        if partners.create_auto_partnership(a, b, now) is not None:
            made += 1
    day = now.date().isoformat()
    for user_id in unmatched:
        notifications.notify(
            user_id,
            "no_match",
            "No automatic match this round: nobody in the pool shares an hour with "
            "you yet. We will try again; widening your availability helps.",
            "/partners",
            # At most one such message a day, however often the pool runs.
            dedupe_key=f"no_match:{user_id}:{day}",
            now=now,
        )
    return made
