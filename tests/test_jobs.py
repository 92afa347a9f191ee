"""Scheduled jobs: opening rooms, reminders, no-shows, the room clock, e-mail, pool.

Every job runs through `ally.jobs.run_job(name, now)` with fixed instants in
March 2026 (London is on GMT until the 29th, so 18:00 London is 18:00 UTC).
Partnerships get an explicit `created_at` a few days earlier, because meetings
before a pair existed are never materialized.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session as OrmSession

from ally.domain import room as rules
from ally.domain.timezones import local_date, localize
from ally.extensions import db, socketio
from ally.jobs import JOBS, run_job
from ally.models import (
    JobRun,
    LiveSocket,
    Notification,
    PartnerRequest,
    Partnership,
    ServerInstance,
    SessionParticipant,
    TeachSession,
    Turn,
    User,
    utcnow,
)
from ally.realtime import room_events
from ally.services import (
    accounts,
    partners,
    partnerships,
    schedule,
    tokens,
)
from ally.services.room import clock as room_clock
from ally.services.room import instances
from tests.conftest import PASSWORD

LONDON = "Europe/London"
NEW_YORK = "America/New_York"
CREATED = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)  # a Saturday, 3 days before
DAY = date(2026, 3, 10)
TEACH, RATE = 720, 180  # 60 minutes, 4 turns


def at(hour: int, minute: int = 0, second: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


def sec(n: float) -> timedelta:
    return timedelta(seconds=n)


# --- fixtures and helpers ----------------------------------------------------


@pytest.fixture
def pair(make_user, make_partnership) -> Callable[..., tuple[User, User, Partnership]]:
    """Two users and their partnership (requester first), created at CREATED."""

    def build(
        a: str = "Ana",
        b: str = "Ben",
        *,
        a_tz: str = LONDON,
        b_tz: str = LONDON,
        created_at: datetime = CREATED,
        **fields,
    ) -> tuple[User, User, Partnership]:
        first = make_user(f"{a.lower()}@example.com", display_name=a, timezone=a_tz)
        second = make_user(f"{b.lower()}@example.com", display_name=b, timezone=b_tz)
        partnership = make_partnership(first, second)
        partnership.created_at = created_at
        partnership.daily_minute = fields.pop("daily_minute", 18 * 60)
        partnership.timezone = fields.pop("timezone", LONDON)
        for name, value in fields.items():
            setattr(partnership, name, value)
        db.session.commit()
        return first, second, partnership

    return build


def sessions_of(partnership: Partnership) -> list[TeachSession]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(TeachSession)
            .where(TeachSession.partnership_id == partnership.id)
            .order_by(TeachSession.starts_at)
        )
    )


def the_session(partnership: Partnership, day: date = DAY) -> TeachSession:
    db.session.expire_all()
    session = db.session.scalar(
        select(TeachSession).where(
            TeachSession.partnership_id == partnership.id,
            TeachSession.scheduled_date == day,
        )
    )
    assert session is not None, f"no session on {day}"
    return session


def participants(session: TeachSession) -> dict[int, SessionParticipant]:
    db.session.expire_all()
    rows = db.session.scalars(
        select(SessionParticipant).where(SessionParticipant.session_id == session.id)
    )
    return {p.user_id: p for p in rows}


def notes(kind: str | None = None, user: User | None = None) -> list[Notification]:
    query = select(Notification).order_by(Notification.id)
    if kind:
        query = query.where(Notification.kind == kind)
    if user:
        query = query.where(Notification.user_id == user.id)
    return list(db.session.scalars(query))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def snapshot() -> dict[str, list[tuple]]:
    """Every row a job may touch (job_runs aside), in primary-key order."""
    db.session.expire_all()
    tables = {}
    for model in (
        TeachSession,
        SessionParticipant,
        Notification,
        Partnership,
        PartnerRequest,
        LiveSocket,
        ServerInstance,
        Turn,
    ):
        table = model.__table__
        rows = db.session.execute(
            select(table).order_by(*table.primary_key.columns)
        ).all()
        tables[table.name] = [tuple(row) for row in rows]
    return tables


def join(session: TeachSession, user: User, when: datetime) -> None:
    """Simulate a partner coming into the room."""
    db.session.execute(
        update(SessionParticipant)
        .where(
            SessionParticipant.session_id == session.id,
            SessionParticipant.user_id == user.id,
        )
        .values(joined_at=when)
    )
    db.session.commit()


def arm(session: TeachSession, now: datetime) -> None:
    """Both partners are in early: store what domain.room.both_present decides."""
    new, steps = rules.both_present(room_clock.room_of(session), now)
    assert [s.kind for s in steps] == ["armed"]
    assert room_clock.save_room(session, new, steps)
    db.session.commit()


def run_twice_in_threads(app: Flask, name: str, now: datetime) -> list[int]:
    """Run one job from two threads at once, each in its own app context."""
    db.session.commit()  # nothing of ours holds a lock while they race
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                results.append(run_job(name, now))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a job thread hung"
    assert not errors, errors
    db.session.expire_all()
    return results


# --- SMTP sink ---------------------------------------------------------------


@dataclass
class Sink:
    """What a local SMTP server received."""

    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd
        message = message_from_bytes(envelope.content)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for rcpts, m in self.messages if address in rcpts]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app: Flask) -> Iterator[Sink]:
    """A local SMTP server; the app sends its notification e-mail there."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    app.config.update(ALLY_SMTP_HOST="127.0.0.1", ALLY_SMTP_PORT=controller.port)
    try:
        yield sink
    finally:
        controller.stop()


def body(message: Message) -> str:
    return message.get_payload(decode=True).decode()


# --- open_sessions -----------------------------------------------------------


def test_open_sessions_materializes_two_hours_ahead_then_opens_the_room(pair):
    ana, ben, p = pair()
    assert run_job("open_sessions", at(15, 30)) == 0  # 18:00 is beyond 17:30
    assert run_job("open_sessions", at(16, 0)) == 0  # [16:00, 18:00) excludes 18:00
    assert sessions_of(p) == []

    assert run_job("open_sessions", at(16, 0, 1)) == 1
    [session] = sessions_of(p)
    assert (session.scheduled_date, session.local_date) == (DAY, DAY)
    assert session.starts_at == at(18)
    assert session.ends_at == at(19)
    assert (session.status, session.phase, session.kind) == (
        "scheduled",
        "waiting",
        "scheduled",
    )
    assert (session.turns, session.teach_seconds, session.rate_seconds) == (
        4,
        TEACH,
        RATE,
    )
    # Created on Sat 7th: Sat (A), Sun (B), Mon (A), so Tue 10th B teaches first.
    assert (session.first_teacher_id, session.second_teacher_id) == (ben.id, ana.id)
    parts = participants(session)
    assert set(parts) == {ana.id, ben.id}
    assert all(not p.absent and p.joined_at is None for p in parts.values())
    assert notes("session_open") == []

    assert run_job("open_sessions", at(17, 49, 59)) == 0
    assert the_session(p).status == "scheduled"
    assert run_job("open_sessions", at(17, 50)) == 1  # 10 minutes before
    session = the_session(p)
    assert (session.status, session.phase) == ("open", "waiting")
    opened = notes("session_open")
    assert sorted(n.user_id for n in opened) == sorted([ana.id, ben.id])
    assert {n.url for n in opened} == {f"/sessions/{session.id}"}
    assert all(n.created_at == at(17, 50) for n in opened)

    # Again, and later: nothing new, no second notification.
    assert run_job("open_sessions", at(17, 50)) == 0
    assert run_job("open_sessions", at(17, 55)) == 0
    assert len(sessions_of(p)) == 1
    assert count(SessionParticipant) == 2
    assert len(notes("session_open")) == 2


def test_the_next_day_alternates_and_stays_unique(pair):
    ana, ben, p = pair()
    run_job("open_sessions", at(17, 0))
    run_job("open_sessions", at(17, 0, day=11))
    first, second = sessions_of(p)
    assert first.first_teacher_id == ben.id
    assert second.first_teacher_id == ana.id
    assert second.scheduled_date == date(2026, 3, 11)
    # The page's ensure_session finds the job's row instead of making another.
    assert schedule.ensure_session(ana.id, p.id, DAY).id == first.id
    assert len(sessions_of(p)) == 2
    assert count(SessionParticipant) == 4


def test_the_first_run_looks_back_one_hour_later_runs_back_to_the_last(pair):
    ana, ben, p = pair(daily_minute=9 * 60)  # 09:00 London
    # A scheduler started at 10:30 does not invent this morning's 09:00 session
    # (one hour back only), but covers everything since its last run afterwards.
    run_job("open_sessions", at(10, 30))
    assert sessions_of(p) == []
    run_job("open_sessions", at(7, 0, day=11))  # [06:00, 09:00) holds nothing
    assert sessions_of(p) == []
    run_job("open_sessions", at(11, 0, day=11))  # back to 06:00: 09:00 is due
    [session] = sessions_of(p)
    assert session.starts_at == at(9, day=11)


def test_no_session_before_the_partnership_existed(pair):
    ana, ben, p = pair(created_at=at(18, 30))  # paired after today's hour
    run_job("open_sessions", at(17, 0))
    assert sessions_of(p) == []
    run_job("open_sessions", at(17, 0, day=11))
    assert [s.scheduled_date for s in sessions_of(p)] == [date(2026, 3, 11)]


# --- idempotency: twice in a row, and from two threads at once ---------------


@dataclass
class Scenario:
    """Work one job has to do at `now`, how much, and what it must leave."""

    now: datetime
    result: int
    check: Callable[[], None]
    mails: Callable[[], int] = lambda: 0


def _sessions_due(pair, **_) -> Scenario:
    ana, ben, p = pair()
    cara, dan, q = pair("Cara", "Dan", daily_minute=18 * 60 + 5)

    def check() -> None:
        assert [s.status for s in sessions_of(p) + sessions_of(q)] == ["open", "open"]
        assert count(TeachSession) == 2
        assert count(SessionParticipant) == 4
        assert Counter(n.user_id for n in notes("session_open")) == {
            u.id: 1 for u in (ana, ben, cara, dan)
        }

    return Scenario(at(17, 55), 4, check)  # 2 created + 2 opened


def _reminders_due(pair, **_) -> Scenario:
    ana, ben, p = pair()
    run_job("open_sessions", at(17, 0))

    def check() -> None:
        assert Counter(n.user_id for n in notes("reminder")) == {ana.id: 1, ben.id: 1}
        parts = participants(the_session(p))
        assert {p.reminder_sent_at for p in parts.values()} == {at(17, 50)}

    return Scenario(at(17, 50), 2, check)


def _no_show_due(pair, **_) -> Scenario:
    ana, ben, p = pair()
    run_job("open_sessions", at(17, 55))

    def check() -> None:
        session = the_session(p)
        assert (session.status, session.phase, session.ended_at) == (
            "missed",
            "done",
            at(18, 10),
        )
        assert all(p.absent for p in participants(session).values())

    return Scenario(at(18, 10), 1, check)


def _phase_due(pair, **_) -> Scenario:
    ana, ben, p = pair()
    run_job("open_sessions", at(17, 55))
    arm(the_session(p), at(17, 56))

    def check() -> None:
        session = the_session(p)
        assert (session.status, session.phase, session.current_turn) == (
            "live",
            "teaching",
            1,
        )
        assert session.started_at == at(18)
        assert session.phase_ends_at == at(18, 27)
        assert session.version == 3  # opened, armed, one advance

    return Scenario(at(18, 20), 1, check)


def _request_due(make_user, **_) -> Scenario:
    eve = make_user("eve@example.com")
    finn = make_user("finn@example.com")
    request = partners.send_request(eve.id, finn.id, "hi", at(12, day=2))

    def check() -> None:
        db.session.expire_all()
        assert db.session.get(PartnerRequest, request.id).status == "expired"

    return Scenario(at(12), 1, check)


def _pool_due(make_user, **_) -> Scenario:
    gus = make_user("gus@example.com", auto_match=True)
    hana = make_user("hana@example.com", auto_match=True)
    ivo = make_user(  # nobody shares his mornings
        "ivo@example.com",
        auto_match=True,
        availability=[{"start": "06:00", "end": "07:30"}],
    )

    def check() -> None:
        made = list(db.session.scalars(select(Partnership)))
        assert len(made) == 1
        assert {made[0].user_a_id, made[0].user_b_id} == {gus.id, hana.id}
        assert Counter(n.user_id for n in notes("auto_matched")) == {
            gus.id: 1,
            hana.id: 1,
        }
        assert [n.user_id for n in notes("no_match")] == [ivo.id]

    return Scenario(at(12), 1, check)


def _emails_due(make_user, smtp, **_) -> Scenario:
    from ally.services import notifications

    jo = make_user("jo@example.com")
    kim = make_user("kim@example.com")
    lou = make_user("lou@example.com")
    accounts.update_notification_settings(lou.id, 10, False)
    for user, n in ((jo, 2), (kim, 1), (lou, 2)):
        for i in range(n):
            notifications.notify(user.id, "test", f"Hello {user.email} #{i}", "/")

    def check() -> None:
        assert sorted(body(m).splitlines()[0] for m in smtp.to("jo@example.com")) == [
            "Hello jo@example.com #0",
            "Hello jo@example.com #1",
        ]
        assert len(smtp.to("kim@example.com")) == 1
        assert smtp.to("lou@example.com") == []
        assert len(smtp.messages) == 3

    return Scenario(at(12), 3, check, mails=lambda: len(smtp.messages))


def _servers_due(pair, **_) -> Scenario:
    ana, ben, p = pair()
    run_job("open_sessions", at(17, 55))
    session = the_session(p)
    # Ben's socket is in the room, held by a server silent since 17:58:30.
    server(ServerInstance, "dead-1", at(17, 58, 30))
    socket_row("dead-sid", ben, "dead-1", at(17, 56), session.id)

    def check() -> None:
        db.session.expire_all()
        assert sockets() == {}
        assert servers() == {}

    return Scenario(at(17, 59), 1, check)


def _recheck_due(pair, **_) -> Scenario:
    from tests.test_reviews import Taught, write_session

    ana, ben, p = pair()
    # Ana taught RAAS yesterday evening; 18 hours on, its re-check is open.
    taught = Taught(ana, ben, at(18, day=9), "RAAS", 4)
    write_session(p, [taught])
    db.session.commit()

    def check() -> None:
        db.session.expire_all()
        invited = [(n.user_id, n.url) for n in notes("recheck")]
        assert invited == [(ana.id, f"/turns/{taught.turn_id}/recheck")]
        assert db.session.get(Turn, taught.turn_id).recheck_invited_at == at(12)

    return Scenario(at(12), 1, check)


def _reteach_due(pair, **_) -> Scenario:
    from ally.models import TopicCard

    ana, ben, _ = pair()
    # Ana's RAAS card fell due an hour ago; Ben's is not due yet.
    for user, due in ((ana, at(11)), (ben, at(13))):
        db.session.add(
            TopicCard(
                user_id=user.id, topic_key="raas", topic="RAAS", state=2, due_at=due
            )
        )
    db.session.commit()

    def check() -> None:
        db.session.expire_all()
        told = [(n.user_id, n.url) for n in notes("reteach")]
        assert told == [(ana.id, "/#due-topics")]

    return Scenario(at(12), 1, check)


SCENARIOS: dict[str, Callable[..., Scenario]] = {
    "open_sessions": _sessions_due,
    "send_reminders": _reminders_due,
    "mark_no_shows": _no_show_due,
    "advance_phases": _phase_due,
    "expire_requests": _request_due,
    "auto_match": _pool_due,
    "send_emails": _emails_due,
    "reap_dead_servers": _servers_due,
    "invite_rechecks": _recheck_due,
    "remind_reteach": _reteach_due,
}


def test_every_job_has_an_idempotency_scenario():
    assert set(SCENARIOS) == set(JOBS)


@pytest.fixture
def scenario(request, pair, make_user) -> Callable[[str], Scenario]:
    def build(name: str) -> Scenario:
        extra = (
            {"smtp": request.getfixturevalue("smtp")} if name == "send_emails" else {}
        )
        return SCENARIOS[name](pair=pair, make_user=make_user, **extra)

    return build


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_job_run_twice_changes_nothing_the_second_time(name, scenario):
    case = scenario(name)
    assert run_job(name, case.now) == case.result
    case.check()
    before, mails = snapshot(), case.mails()
    assert run_job(name, case.now) == 0
    assert snapshot() == before
    assert case.mails() == mails
    case.check()
    assert db.session.get(JobRun, name).last_run_at == case.now


@pytest.mark.parametrize("name", sorted(set(SCENARIOS) - {"auto_match"}))
def test_a_job_run_from_two_threads_at_once_does_the_work_once(app, name, scenario):
    case = scenario(name)
    # The scheduler has been running: each job has a previous run (a first-ever
    # run from two threads at once is its own test below).
    db.session.add(JobRun(job_id=name, last_run_at=case.now - sec(JOBS[name][1])))
    results = run_twice_in_threads(app, name, case.now)
    assert sum(results) == case.result, results
    case.check()
    before, mails = snapshot(), case.mails()
    assert run_job(name, case.now) == 0  # and nothing was left over
    assert snapshot() == before
    assert case.mails() == mails


@contextmanager
def both_threads_pause_before_writing(model) -> Iterator[None]:
    """Hold each job thread at its first flush of a new `model` until both are there.

    This forces the interleaving a race needs (both checked, neither wrote yet)
    instead of hoping for it. If the code under test serializes the two (a lock),
    the wait times out and each goes on alone.
    """
    barrier = threading.Barrier(2)

    def pause(session, flush_context, instances) -> None:
        if threading.current_thread() is threading.main_thread():
            return
        if any(isinstance(obj, model) for obj in session.new):
            try:
                barrier.wait(timeout=5)
            except threading.BrokenBarrierError:
                pass

    event.listen(OrmSession, "before_flush", pause)
    try:
        yield
    finally:
        event.remove(OrmSession, "before_flush", pause)


def test_a_first_ever_run_from_two_threads_records_the_run_once(app, scenario):
    case = scenario("expire_requests")
    with both_threads_pause_before_writing(JobRun):
        results = run_twice_in_threads(app, "expire_requests", case.now)
    assert sum(results) == case.result
    assert db.session.get(JobRun, "expire_requests").last_run_at == case.now


def test_auto_match_from_two_threads_at_once_pairs_once(app, scenario):
    case = scenario("auto_match")
    db.session.add(JobRun(job_id="auto_match", last_run_at=case.now - sec(3600)))
    with both_threads_pause_before_writing(Partnership):
        results = run_twice_in_threads(app, "auto_match", case.now)
    assert sum(results) == case.result, results
    case.check()


# --- e-mail ------------------------------------------------------------------


def test_send_emails_delivers_each_notification_once_to_its_user(app, pair, smtp):
    app.config["ALLY_BASE_URL"] = "https://ally.example.org/"
    ana, ben, p = pair()
    accounts.update_notification_settings(ben.id, 10, False)
    run_job("open_sessions", at(17, 50))
    session = the_session(p)
    states = sorted((n.user_id, n.kind, n.email_state) for n in notes())
    # Ben turned e-mail off after his request arrived; Ana left it on.
    assert states == sorted(
        [
            (ben.id, "request_received", "pending"),
            (ana.id, "request_accepted", "pending"),
            (ana.id, "session_open", "pending"),
            (ben.id, "session_open", "none"),
        ]
    )

    assert run_job("send_emails", at(17, 51)) == 3
    assert len(smtp.messages) == 3
    assert len(smtp.to(ben.email)) == 1  # the request, from before
    opened = [m for m in smtp.to(ana.email) if "room is open" in body(m)]
    [message] = opened
    assert message["To"] == ana.email
    assert message["From"] == "Ally <no-reply@localhost>"
    assert message["Subject"].startswith("Ally: Your teach-back room is open")
    assert body(message).splitlines()[:3] == [
        "Your teach-back room is open: the hour starts soon.",
        "",
        f"https://ally.example.org/sessions/{session.id}",
    ]
    assert [m for m in smtp.to(ben.email) if "room is open" in body(m)] == []
    db.session.expire_all()
    assert {n.email_state for n in notes("session_open", ana)} == {"sent"}
    assert {n.email_state for n in notes("session_open", ben)} == {"none"}

    assert run_job("send_emails", at(17, 52)) == 0
    assert len(smtp.messages) == 3


def test_without_smtp_nothing_is_queued_or_sent(pair):
    pair()
    run_job("open_sessions", at(17, 50))
    assert {n.email_state for n in notes()} == {"none"}
    assert run_job("send_emails", at(17, 51)) == 0


# --- reminders ---------------------------------------------------------------


def test_reminders_at_each_users_own_time_in_their_own_zone(pair, make_user):
    ana, ben, p = pair(b_tz=NEW_YORK, meeting_url="https://meet.example.org/ana-ben")
    accounts.update_notification_settings(ben.id, 30, True)
    run_job("open_sessions", at(17, 0))
    session = the_session(p)
    assert session.first_teacher_id == ben.id
    schedule.set_planned_topic(ana.id, session.id, "  Renal   clearance ")

    assert run_job("send_reminders", at(17, 29, 59)) == 0
    assert run_job("send_reminders", at(17, 30)) == 1  # Ben: 30 minutes before
    [for_ben] = notes("reminder")
    assert for_ben.user_id == ben.id
    # 18:00 in London is 14:00 in New York (already on summer time on the 8th).
    assert for_ben.text == (
        "Your teach-back hour with Ana starts at 14:00. You teach first. "
        "Pick the topic you will teach. Call: https://meet.example.org/ana-ben"
    )
    assert for_ben.url == f"/sessions/{session.id}"

    assert run_job("send_reminders", at(17, 49, 59)) == 0
    assert run_job("send_reminders", at(17, 50)) == 1  # Ana: 10 minutes before
    for_ana = notes("reminder", ana)[0]
    assert for_ana.text == (
        "Your teach-back hour with Ben starts at 18:00. Ben teaches first. "
        "You will teach: Renal clearance. Call: https://meet.example.org/ana-ben"
    )
    assert run_job("send_reminders", at(17, 55)) == 0
    assert Counter(n.user_id for n in notes("reminder")) == {ana.id: 1, ben.id: 1}
    parts = participants(session)
    assert (parts[ana.id].reminder_sent_at, parts[ben.id].reminder_sent_at) == (
        at(17, 50),
        at(17, 30),
    )


def test_no_reminder_for_a_user_who_turned_them_off(pair):
    cara, dan, p = pair("Cara", "Dan")
    accounts.update_notification_settings(cara.id, 0, True)
    run_job("open_sessions", at(16, 30))
    for minute in (30, 50, 55, 59):
        run_job("send_reminders", at(17, minute))
    [only] = notes("reminder")
    assert only.user_id == dan.id
    # No meeting link: the text stops after the topic.
    assert only.text.endswith("Pick the topic you will teach.")
    assert participants(the_session(p))[cara.id].reminder_sent_at is None


@pytest.mark.parametrize("first_run", [at(18), at(18, 5), at(19, 30)])
def test_no_reminder_once_the_session_has_started(pair, first_run):
    ana, ben, p = pair()
    run_job("open_sessions", at(17, 55))
    assert run_job("send_reminders", first_run) == 0
    assert notes("reminder") == []


def test_no_reminder_for_a_session_called_off(pair):
    ana, ben, p = pair()
    run_job("open_sessions", at(17, 45))
    session = the_session(p)
    new, steps = rules.cancel(room_clock.room_of(session), at(17, 46))
    assert room_clock.save_room(session, new, steps)
    db.session.commit()
    assert run_job("send_reminders", at(17, 50)) == 0
    assert notes("reminder") == []


# --- downtime ----------------------------------------------------------------


def run_every_job(now: datetime) -> dict[str, int]:
    return {name: run_job(name, now) for name in JOBS}


def test_three_hours_without_jobs_lose_nothing(pair):
    ana, ben, p = pair()  # 18:00
    cara, dan, q = pair("Cara", "Dan", daily_minute=19 * 60)  # 19:00
    accounts.update_notification_settings(cara.id, 30, True)
    run_every_job(at(15, 45))
    assert count(TeachSession) == 0  # 18:00 is more than 2 h away

    # Down from 15:45 to 18:45: Ana and Ben's hour came and went meanwhile.
    done = run_every_job(at(18, 45))
    gap = the_session(p)
    # Missed as of 18:10, when it fell due, though the job only ran at 18:45.
    assert (gap.status, gap.phase, gap.ended_at) == ("missed", "done", at(18, 10))
    assert {(u, x.absent) for u, x in participants(gap).items()} == {
        (ana.id, True),
        (ben.id, True),
    }
    assert all(x.reminder_sent_at is None for x in participants(gap).values())
    assert notes("reminder", ana) == [] and notes("reminder", ben) == []
    # The next one (19:00) is handled normally: Cara's 30-minute reminder is due.
    upcoming = the_session(q)
    assert (upcoming.status, upcoming.phase) == ("scheduled", "waiting")
    assert [n.user_id for n in notes("reminder")] == [cara.id]
    assert "starts at 19:00" in notes("reminder")[0].text
    assert (done["mark_no_shows"], done["send_reminders"]) == (1, 1)

    run_every_job(at(18, 50))
    assert the_session(q).status == "open"
    assert sorted(n.user_id for n in notes("reminder")) == sorted([cara.id, dan.id])
    assert sorted(n.user_id for n in notes("session_open", cara)) == [cara.id]
    assert the_session(p).status == "missed"


def test_no_room_open_notice_for_a_session_already_past_its_start(pair):
    ana, ben, p = pair()
    run_every_job(at(15, 45))
    run_every_job(at(18, 45))
    assert the_session(p).status == "missed"
    assert notes("session_open") == []


# --- paused and ended partnerships ------------------------------------------


def test_paused_and_ended_partnerships_get_no_new_sessions(pair):
    ana, ben, p = pair()
    cara, dan, q = pair("Cara", "Dan")
    eve, finn, r = pair("Eve", "Finn")
    partnerships.update_partnership(ana.id, p.id, {"status": "paused"})
    partnerships.end_partnership(dan.id, q.id, at(12))
    run_job("open_sessions", at(17, 55))
    assert sessions_of(p) == [] and sessions_of(q) == []
    assert [s.status for s in sessions_of(r)] == ["open"]
    assert {n.user_id for n in notes("session_open")} == {eve.id, finn.id}

    partnerships.update_partnership(ben.id, p.id, {"status": "active"})
    run_job("open_sessions", at(17, 56))
    assert [s.status for s in sessions_of(p)] == ["open"]
    assert sessions_of(q) == []


def _pause(ana, ben, p, now):
    partnerships.update_partnership(ana.id, p.id, {"status": "paused"})


def _end(ana, ben, p, now):
    partnerships.end_partnership(ben.id, p.id, now)


def _block(ana, ben, p, now):
    partners.block_user(ben.id, ana.id, now)


def _delete(ana, ben, p, now):
    accounts.delete_account(ana.id, PASSWORD)


@pytest.mark.parametrize(
    "stop", [_pause, _end, _block, _delete], ids=lambda f: f.__name__
)
def test_stopping_calls_off_sessions_not_yet_begun(pair, stop):
    # These services use the real clock, so the sessions are placed around it.
    now = utcnow()
    ana, ben, p = pair(created_at=now - timedelta(days=6))
    today = local_date(now, LONDON)
    done, live, opened, upcoming = (
        schedule.ensure_session(ben.id, p.id, today + timedelta(days=n)).id
        for n in (-3, -2, 1, 2)
    )
    for session_id, values in (
        (done, {"status": "completed", "phase": "done", "current_turn": 4}),
        (live, {"status": "live", "phase": "teaching", "phase_ends_at": now}),
        (opened, {"status": "open"}),
    ):
        db.session.execute(
            update(TeachSession).where(TeachSession.id == session_id).values(**values)
        )
    db.session.commit()

    stop(ana, ben, p, now)
    db.session.expire_all()

    def status(session_id: int) -> str | None:
        session = db.session.get(TeachSession, session_id)
        return session.status if session else None

    assert status(done) == "completed"
    assert status(live) == "live"
    assert status(opened) == "cancelled"
    called_off = db.session.get(TeachSession, opened)
    assert called_off.phase == "done" and called_off.ended_at is not None
    assert status(upcoming) == "cancelled"  # announced ids are never forgotten
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(TeachSession)
            .where(
                TeachSession.partnership_id == p.id,
                TeachSession.status.in_(("scheduled", "open")),
            )
        )
        == 0
    )
    # And the jobs bring none back.
    before = count(TeachSession)
    run_job("open_sessions", now + timedelta(days=1))
    assert count(TeachSession) == before


def test_a_schedule_change_calls_off_stored_sessions_and_jobs_store_the_new_time(
    pair,
):
    # The partnership service uses the real clock: the meeting is placed after it.
    now = utcnow()
    ana, ben, p = pair(created_at=now - timedelta(days=6))
    tomorrow = local_date(now, LONDON) + timedelta(days=1)
    announced = schedule.ensure_session(ben.id, p.id, tomorrow)
    old_start = announced.starts_at
    for user in (ana, ben):  # proposed, then agreed
        partnerships.update_partnership(user.id, p.id, {"daily_time": "20:30"})

    # Around the old time the jobs leave the called-off row alone.
    assert run_job("open_sessions", old_start - timedelta(minutes=10)) == 0
    assert run_job("send_reminders", old_start - timedelta(minutes=10)) == 0
    # Before the new time the date's meeting is stored again, as a new row.
    new_start = localize(tomorrow, 20 * 60 + 30, LONDON)
    assert run_job("open_sessions", new_start - timedelta(hours=1)) == 1
    old, new = sessions_of(p)
    assert (old.id, old.local_date) == (announced.id, tomorrow)
    assert old.starts_at == old_start
    assert (old.status, old.phase, old.scheduled_date) == ("cancelled", "done", None)
    assert new.id > old.id
    assert (new.scheduled_date, new.status, new.starts_at) == (
        tomorrow,
        "scheduled",
        new_start,
    )
    assert set(participants(new)) == {ana.id, ben.id}
    assert notes("reminder") == []


# --- dead servers ------------------------------------------------------------


def server(model, name: str, beat_at: datetime) -> None:
    """A server process's heartbeat row, last beating at `beat_at`."""
    db.session.add(model(name=name, started_at=beat_at, beat_at=beat_at))
    db.session.commit()


def socket_row(
    sid: str, user: User, instance: str, connected_at: datetime, session_id: int | None
) -> None:
    """A socket another server process registered (and may have died with)."""
    db.session.add(
        LiveSocket(
            sid=sid,
            user_id=user.id,
            instance=instance,
            auth_version=user.auth_version,
            session_id=session_id,
            connected_at=connected_at,
        )
    )
    db.session.commit()


def sockets() -> dict[str, tuple[str, int, int | None]]:
    db.session.expire_all()
    return {
        s.sid: (s.instance, s.user_id, s.session_id)
        for s in db.session.scalars(select(LiveSocket))
    }


def servers() -> dict[str, datetime]:
    db.session.expire_all()
    return {s.name: s.beat_at for s in db.session.scalars(select(ServerInstance))}


def received(app: Flask, sock) -> list[tuple[str, dict]]:
    with app.app_context():
        return [(e["name"], e["args"][0]) for e in sock.get_received()]


@pytest.fixture
def room_sockets(app: Flask) -> Iterator[Callable[[User], object]]:
    """Real Socket.IO test clients (API token auth) on this process ("local")."""
    opened = []

    def connect(user: User):
        _, raw = tokens.create_token(user.id, "tests")
        with app.app_context():
            sock = socketio.test_client(app, auth={"token": raw})
        assert sock.is_connected()
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        if sock.is_connected():
            with app.app_context():
                sock.disconnect()


def test_reap_dead_servers_forgets_their_sockets_and_tells_the_rooms(
    app, pair, room_sockets, monkeypatch
):
    """DESIGN.md §6: a dead server's sockets count as gone for everyone
    (presence online false) within ALLY_INSTANCE_DEAD_SECONDS (20 s) of its
    last beat; a live server's sockets stay."""
    assert float(app.config["ALLY_INSTANCE_DEAD_SECONDS"]) == 20
    assert app.config["ALLY_INSTANCE"] == "local"
    ana, ben, p = pair()
    cara, dan, q = pair("Cara", "Dan")
    assert run_job("open_sessions", at(17, 55)) == 4
    one, two = the_session(p).id, the_session(q).id
    now = at(17, 59)

    # Ben (room one) on a server silent for 30 s; Dan (room two) on one that
    # never beat (or whose row is gone), connected 60 s ago: both are dead.
    server(ServerInstance, "dead-1", now - sec(30))
    socket_row("ben-dead", ben, "dead-1", at(17, 56), one)
    socket_row("dan-ghost", dan, "ghost", now - sec(60), two)
    # Alive: beating 10 s ago; beating exactly 20 s ago (not older); and a
    # server without a beat row yet whose socket connected 5 s ago.
    server(ServerInstance, "alive-1", now - sec(10))
    server(ServerInstance, "edge-1", now - sec(20))
    socket_row("ana-alive", ana, "alive-1", at(17, 50), one)
    socket_row("ben-edge", ben, "edge-1", at(17, 50), None)
    socket_row("cara-young", cara, "young", now - sec(5), None)
    # This process beats too: the test clients' sockets are on it.
    instances.beat("local", now - sec(1))

    # Ana and Cara watch their rooms through real sockets on this process.
    monkeypatch.setattr(room_events, "utcnow", lambda: at(17, 58))
    ana_sock, cara_sock = room_sockets(ana), room_sockets(cara)
    with app.app_context():
        ack = ana_sock.emit("join_session", {"session_id": one}, callback=True)
        assert ack["ok"] is True
        # Ben counts as present (his dead socket's row): the start is armed.
        assert ack["state"]["phase_ends_at"] == at(18).isoformat()
        assert cara_sock.emit("join_session", {"session_id": two}, callback=True)["ok"]
    for sock in (ana_sock, cara_sock):
        received(app, sock)  # drop what joining sent
    kept = {
        sid: row
        for sid, row in sockets().items()
        if sid not in ("ben-dead", "dan-ghost")
    }
    assert len(kept) == 5  # three above and the two real ones
    version = the_session(p).version

    assert run_job("reap_dead_servers", now) == 2
    assert sockets() == kept
    assert servers() == {
        "alive-1": now - sec(10),
        "edge-1": now - sec(20),
        "local": now - sec(1),
    }
    # Each room hears once that its partner is gone, and nothing of the other.
    ana_heard, cara_heard = received(app, ana_sock), received(app, cara_sock)
    gone = {"session_id": one, "user_id": ben.id, "online": False}
    assert [e for e in ana_heard if e[0] == "presence"] == [("presence", gone)]
    gone = {"session_id": two, "user_id": dan.id, "online": False}
    assert [e for e in cara_heard if e[0] == "presence"] == [("presence", gone)]
    assert all(e[1]["session_id"] == one for e in ana_heard)
    assert all(e[1]["session_id"] == two for e in cara_heard)
    # Ben is gone from room one: its start is disarmed, and the snapshot says so.
    session = the_session(p)
    assert (session.status, session.phase, session.phase_ends_at) == (
        "open",
        "waiting",
        None,
    )
    assert session.version == version + 1
    [state] = [e[1] for e in ana_heard if e[0] == "session_state"]
    assert state["phase_ends_at"] is None
    assert {x["user_id"]: x["online"] for x in state["participants"]} == {
        ana.id: True,
        ben.id: False,
    }

    # Again: nothing to reap, nothing changes, nobody is told anything.
    before = snapshot()
    assert run_job("reap_dead_servers", now) == 0
    assert snapshot() == before
    assert received(app, ana_sock) == [] and received(app, cara_sock) == []

    # Five seconds on, the server that beat exactly 20 s before is older than
    # that: its socket (in no room) is forgotten, and no room hears of it.
    assert run_job("reap_dead_servers", now + sec(5)) == 1
    assert "ben-edge" not in sockets() and "edge-1" not in servers()
    assert received(app, ana_sock) == [] and received(app, cara_sock) == []


def test_a_server_counts_as_dead_only_after_the_configured_silence(app, pair):
    app.config["ALLY_INSTANCE_DEAD_SECONDS"] = 60
    ana, ben, p = pair()
    run_job("open_sessions", at(17, 55))
    session = the_session(p)
    server(ServerInstance, "quiet", at(17, 58))
    socket_row("ben-quiet", ben, "quiet", at(17, 56), session.id)
    socket_row("ana-ghost", ana, "ghost", at(17, 58, 30), session.id)

    # 30 s and 60 s of silence: alive at 60 s (older than, not as old as).
    assert run_job("reap_dead_servers", at(17, 58, 30)) == 0
    assert run_job("reap_dead_servers", at(17, 59)) == 0
    assert set(sockets()) == {"ben-quiet", "ana-ghost"}
    assert run_job("reap_dead_servers", at(17, 59, 1)) == 1
    assert set(sockets()) == {"ana-ghost"}
    assert set(servers()) == set()
    # A socket of a server that never beat: dead once it is as old as that.
    assert run_job("reap_dead_servers", at(17, 59, 30)) == 0
    assert run_job("reap_dead_servers", at(17, 59, 31)) == 1
    assert sockets() == {}
    assert run_job("reap_dead_servers", at(18)) == 0


# --- the auto-match pool -----------------------------------------------------


def test_auto_match_pairs_by_maximum_weight_and_tells_the_rest(make_user):
    def person(name: str, *windows: str, auto: bool = True) -> User:
        return make_user(
            f"{name.lower()}@example.com",
            display_name=name,
            auto_match=auto,
            availability=[
                {"start": w.split("-")[0], "end": w.split("-")[1]} for w in windows
            ],
        )

    # Greedy would pair Bo and Cy (2 h in common, the best single pair) and leave
    # Al and Di alone; the maximum-weight matching pairs Al-Bo and Cy-Di.
    al = person("Al", "08:00-09:00")
    bo = person("Bo", "08:00-09:00", "18:00-20:00")
    cy = person("Cy", "18:00-20:00", "12:00-13:00")
    di = person("Di", "12:00-13:00")
    ed = person("Ed", "06:00-07:30")  # shares his mornings only with Fay...
    fay = person("Fay", "06:00-07:30", auto=False)  # ...who is not in the pool

    assert run_job("auto_match", at(12)) == 2
    pairs = {
        frozenset((x.user_a_id, x.user_b_id)): x
        for x in db.session.scalars(select(Partnership))
    }
    assert set(pairs) == {frozenset((al.id, bo.id)), frozenset((cy.id, di.id))}
    morning = pairs[frozenset((al.id, bo.id))]
    assert (morning.status, morning.daily_minute) == ("active", 8 * 60)
    assert pairs[frozenset((cy.id, di.id))].daily_minute == 12 * 60
    matched = notes("auto_matched")
    assert sorted(n.user_id for n in matched) == sorted([al.id, bo.id, cy.id, di.id])
    by_user = {n.user_id: n.text for n in matched}
    assert "paired you with Bo" in by_user[al.id]
    assert "paired you with Al" in by_user[bo.id]
    assert "paired you with Di" in by_user[cy.id]
    assert [n.user_id for n in notes("no_match")] == [ed.id]
    assert notes(user=fay) == []

    # The pool runs hourly: Ed hears "no match" at most once a day.
    assert run_job("auto_match", at(13)) == 0
    assert run_job("auto_match", at(23, 59)) == 0
    assert len(notes("no_match")) == 1
    assert run_job("auto_match", at(0, 0, day=11)) == 0
    assert [n.created_at for n in notes("no_match")] == [at(12), at(0, 0, day=11)]
    assert len(notes("auto_matched")) == 4
