"""Scheduled jobs: module-level functions of `now`, idempotent, each with a CLI twin.

Each job handles everything due since it last ran (it looks at the stored
state, not at the time of its last run), so a scheduler that was down loses
nothing, and running a job twice — or in two processes — changes nothing the
second time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .extensions import db
from .models import JobRun
from .services import (
    mailer,
    matching_pool,
    partners,
    recheck,
    reteach_notices,
    schedule,
)
from .services.room import clock as room_clock
from .services.room import instances
from .services.sql import upsert


def open_sessions(now: datetime) -> int:
    """Materialize sessions starting soon and open rooms whose time has come."""
    return schedule.materialize_due(now)


def send_reminders(now: datetime) -> int:
    """Remind each partner before a session, once, never after it is over."""
    return schedule.send_reminders(now)


def mark_no_shows(now: datetime) -> int:
    """Mark sessions missed when someone is still absent after the grace time."""
    return room_clock.mark_no_shows(now)


def advance_phases(now: datetime) -> int:
    """Move live rooms whose phase deadline has passed (teaching → rating → …)."""
    return room_clock.advance_due(now)


def reap_dead_servers(now: datetime) -> int:
    """Forget the sockets of server processes whose heartbeat stopped."""
    return instances.reap_dead(now)


def auto_match(now: datetime) -> int:
    """Pair the auto-match pool by maximum-weight matching."""
    return matching_pool.run_pool(now)


def expire_requests(now: datetime) -> int:
    """Expire partner requests older than their time to live."""
    return partners.expire_requests(now)


def invite_rechecks(now: datetime) -> int:
    """Invite each teacher, the next day, to re-check what they taught (once)."""
    return recheck.invite_due(now)


def remind_reteach(now: datetime) -> int:
    """Tell students when topics fall due to teach again (once a day at most)."""
    return reteach_notices.send_due_notices(now)


def send_emails(now: datetime) -> int:
    """Send queued notification e-mails."""
    return mailer.send_pending_emails()


# job id -> (function, interval in seconds)
JOBS: dict[str, tuple[Callable[[datetime], int], int]] = {
    "open_sessions": (open_sessions, 15),
    "send_reminders": (send_reminders, 15),
    "mark_no_shows": (mark_no_shows, 15),
    # The server owns the clock: a phase moves within about a second of its end.
    "advance_phases": (advance_phases, 1),
    # Each web process looks too; this covers a deployment whose web
    # processes all died (their partners' rooms still need telling).
    "reap_dead_servers": (reap_dead_servers, 5),
    "auto_match": (auto_match, 3600),
    "expire_requests": (expire_requests, 600),
    "send_emails": (send_emails, 30),
    "invite_rechecks": (invite_rechecks, 600),
    "remind_reteach": (remind_reteach, 600),
}


def run_job(name: str, now: datetime) -> int:
    """Run one job by name and record when it ran."""
    function, _ = JOBS[name]
    result = function(now)
    # One statement, so two first-ever runs at once cannot both insert.
    db.session.execute(
        upsert(
            JobRun.__table__,
            ["job_id"],
            {"job_id": name, "last_run_at": now},
            ["last_run_at"],
        )
    )
    db.session.commit()
    return result
