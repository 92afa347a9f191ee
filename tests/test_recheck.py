"""The delayed re-check: service, API, page and the invitation job.

A turn's teacher re-checks it once, from 12 hours to 7 days after it ended;
anyone else gets a 404, bad input a 400 and a second re-check a 409, and
nothing is written then. The job invites each teacher once, only while the
window is open and only for taught turns with a topic.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ally.extensions import db
from ally.jobs import run_job
from ally.models import Notification, Turn, utcnow
from ally.services import recheck
from ally.services.errors import AlreadyRated, Invalid, NotFound, WrongPhase
from tests.conftest import Browser, csrf_from, pair_up, postgres_app, user_maker
from tests.test_reviews import Taught, write_session
from tests.test_storable_text import dump

pytestmark = pytest.mark.usefixtures("isolated_requests")

API = "/api/v1"
TAUGHT = datetime(2026, 3, 9, 18, 0, tzinfo=UTC)
ENDED = TAUGHT + timedelta(minutes=9)  # write_session: rated (and ended) 9 min on
TICK = timedelta(microseconds=1)


@pytest.fixture
def world(make_user, make_partnership):
    """Ana taught RAAS (Ben rated it 3), Ben taught Loop diuretics, at `when`."""

    def build(when: datetime = TAUGHT, topic: str | None = "RAAS"):
        ana = make_user("ana@example.com", display_name="Ana")
        ben = make_user("ben@example.com", display_name="Ben")
        cara = make_user("cara@example.com", display_name="Cara")
        pair = make_partnership(ana, ben)
        hers = Taught(ana, ben, when, topic, 3, self_rating=4)
        his = Taught(ben, ana, when + timedelta(minutes=10), "Loop diuretics", 4)
        write_session(pair, [hers, his])
        db.session.commit()
        return ana, ben, cara, hers, his

    return build


def the_turn(turn_id: int) -> Turn:
    db.session.expire_all()
    return db.session.get(Turn, turn_id)


def written(app) -> dict:
    """Every table but the tokens' (a bearer call stamps its token's use)."""
    found = dump(app)
    found.pop("api_tokens")
    return found


# --- the service ------------------------------------------------------------------


def test_the_teacher_rechecks_once_inside_the_window(world):
    ana, ben, cara, hers, _ = world()
    db.session.execute(
        Turn.__table__.update()
        .where(Turn.id == hers.turn_id)
        .values(predicted_simplicity=5)
    )
    db.session.commit()
    view = recheck.recheck(ana.id, hers.turn_id, 2, ENDED + timedelta(hours=20))
    assert (view.simplicity, view.predicted, view.self_simplicity, view.partner) == (
        2,
        5,
        4,
        3,
    )
    turn = the_turn(hers.turn_id)
    assert (turn.recheck_simplicity, turn.rechecked_at) == (
        2,
        ENDED + timedelta(hours=20),
    )
    with pytest.raises(AlreadyRated, match="already re-checked .*2/5.*given once"):
        recheck.recheck(ana.id, hers.turn_id, 5, ENDED + timedelta(hours=21))
    assert the_turn(hers.turn_id).recheck_simplicity == 2


@pytest.mark.parametrize(
    ("after", "allowed"),
    [
        (timedelta(hours=12) - TICK, False),
        (timedelta(hours=12), True),
        (timedelta(days=7), True),
        (timedelta(days=7) + TICK, False),
    ],
)
def test_the_window_edges_are_inside(world, after, allowed):
    ana, _, _, hers, _ = world()
    if allowed:
        assert recheck.recheck(ana.id, hers.turn_id, 4, ENDED + after).simplicity == 4
    else:
        with pytest.raises(WrongPhase):
            recheck.recheck(ana.id, hers.turn_id, 4, ENDED + after)
        assert the_turn(hers.turn_id).recheck_simplicity is None


def test_outside_the_window_the_message_says_when(world):
    ana, *_, hers, _ = world()  # Ana is in London: GMT in March
    with pytest.raises(WrongPhase, match=r"opens 12 hours .*Tue 10 Mar at 06:09"):
        recheck.recheck(ana.id, hers.turn_id, 4, ENDED + timedelta(hours=1))
    with pytest.raises(WrongPhase, match=r"closed 7 days .*Mon 16 Mar at 18:09"):
        recheck.recheck(ana.id, hers.turn_id, 4, ENDED + timedelta(days=8))


def test_anyone_but_the_teacher_is_told_there_is_no_such_turn(world):
    ana, ben, cara, hers, his = world()
    now = ENDED + timedelta(days=1)
    for user, turn_id in (
        (ben, hers.turn_id),
        (cara, hers.turn_id),
        (ana, his.turn_id),
    ):
        with pytest.raises(NotFound, match="No such turn"):
            recheck.recheck(user.id, turn_id, 4, now)
        with pytest.raises(NotFound):
            recheck.get_recheck(user.id, turn_id, now)
    for turn_id in (0, -1, 2**31, 10_000, "1", None, True):
        with pytest.raises(NotFound):
            recheck.recheck(ana.id, turn_id, 4, now)
    assert the_turn(hers.turn_id).recheck_simplicity is None
    assert the_turn(his.turn_id).recheck_simplicity is None


@pytest.mark.parametrize("value", [0, 6, 3.5, 3.0, "4", True, None])
def test_bad_input_is_invalid_and_writes_nothing(app, world, value):
    ana, *_, hers, _ = world()
    before = dump(app)
    with pytest.raises(Invalid, match="from 1 to 5"):
        recheck.recheck(ana.id, hers.turn_id, value, ENDED + timedelta(days=1))
    assert dump(app) == before


def test_of_two_rechecks_at_once_only_one_writes(world, monkeypatch):
    ana, *_, hers, _ = world()
    # Another request wrote its re-check after this one checked the row.
    db.session.execute(
        Turn.__table__.update()
        .where(Turn.id == hers.turn_id)
        .values(recheck_simplicity=2, rechecked_at=ENDED + timedelta(hours=13))
    )
    db.session.commit()
    checked = recheck.refusal
    stale = iter([None])
    monkeypatch.setattr(recheck, "refusal", lambda view: next(stale, checked(view)))
    with pytest.raises(AlreadyRated, match="2/5"):
        recheck.recheck(ana.id, hers.turn_id, 5, ENDED + timedelta(hours=14))
    assert the_turn(hers.turn_id).recheck_simplicity == 2


def test_a_turn_never_taught_has_nothing_to_recheck(world):
    ana, *_, hers, _ = world()
    db.session.execute(
        Turn.__table__.update()
        .where(Turn.id == hers.turn_id)
        .values(started_at=None, ended_at=None)
    )
    db.session.commit()
    with pytest.raises(WrongPhase, match="not taught"):
        recheck.recheck(ana.id, hers.turn_id, 4, ENDED + timedelta(days=1))


# --- the API ------------------------------------------------------------------------


def test_api_recheck_once_then_409(app, client, world, api_token):
    ana, ben, cara, hers, _ = world(utcnow() - timedelta(days=1))
    url = f"{API}/turns/{hers.turn_id}/recheck"
    got = client.get(url, headers=api_token(ana))
    assert got.status_code == 200
    assert got.get_json()["state"] == "open"
    assert got.get_json()["question"].startswith("Explain RAAS to yourself")
    answer = client.post(url, json={"simplicity": 2}, headers=api_token(ana))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["simplicity"], body["partner"], body["self_simplicity"]) == (2, 3, 4)
    before = written(app)
    again = client.post(url, json={"simplicity": 2}, headers=api_token(ana))
    assert again.status_code == 409
    assert again.get_json()["error"] == "already_rated"
    assert "given once" in again.get_json()["message"]
    assert written(app) == before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"simplicity": 0},
        {"simplicity": 6},
        {"simplicity": "3"},
        {"simplicity": 2.5},
        {"simplicity": True},
        {"simplicity": None},
    ],
)
def test_api_bad_input_is_400_and_writes_nothing(app, client, world, api_token, body):
    ana, *_, hers, _ = world(utcnow() - timedelta(days=1))
    before = written(app)
    answer = client.post(
        f"{API}/turns/{hers.turn_id}/recheck", json=body, headers=api_token(ana)
    )
    assert answer.status_code == 400, answer.get_json()
    assert answer.get_json()["error"] == "invalid"
    assert answer.get_json()["message"]
    assert written(app) == before


def test_api_others_get_404_and_the_window_409(app, client, world, api_token):
    ana, ben, cara, hers, his = world(utcnow() - timedelta(hours=2))
    url = f"{API}/turns/{hers.turn_id}/recheck"
    before = written(app)
    for user in (ben, cara):
        for answer in (
            client.post(url, json={"simplicity": 3}, headers=api_token(user)),
            client.get(url, headers=api_token(user)),
        ):
            assert answer.status_code == 404
            assert answer.get_json()["error"] == "not_found"
    early = client.post(url, json={"simplicity": 3}, headers=api_token(ana))
    assert early.status_code == 409
    assert early.get_json()["error"] == "wrong_phase"
    assert "opens 12 hours after" in early.get_json()["message"]
    assert client.post(url, json={"simplicity": 3}).status_code == 401
    assert written(app) == before


# --- the page -----------------------------------------------------------------------


def page_of(client, user) -> Browser:
    browser = Browser(client)
    assert browser.login(user.email).status_code == 302
    return browser


def test_the_page_asks_then_saves(client, world):
    ana, *_, hers, _ = world(utcnow() - timedelta(days=1))
    browser = page_of(client, ana)
    path = f"/turns/{hers.turn_id}/recheck"
    assert path == recheck.recheck_url(hers.turn_id)
    html = client.get(path).get_data(as_text=True)
    assert "Explain RAAS to yourself in one minute — how simply could you now?" in html
    assert html.count('type="radio"') == 5
    token = csrf_from(html)
    bad = client.post(path, data={"csrf_token": token, "simplicity": "9"})
    assert bad.status_code == 400
    assert "from 1 to 5. Nothing was saved." in bad.get_data(as_text=True)
    assert the_turn(hers.turn_id).recheck_simplicity is None
    none = client.post(path, data={"csrf_token": token})
    assert none.status_code == 400
    saved = client.post(path, data={"csrf_token": token, "simplicity": "4"})
    assert saved.status_code == 302
    assert the_turn(hers.turn_id).recheck_simplicity == 4
    done = client.get(path).get_data(as_text=True)
    assert "Re-check saved" in done
    assert "You re-checked this explanation: <strong>4/5</strong>" in done
    assert 'type="radio"' not in done
    again = client.post(path, data={"csrf_token": token, "simplicity": "2"})
    assert again.status_code == 409
    assert "a re-check is given once" in again.get_data(as_text=True)
    assert the_turn(hers.turn_id).recheck_simplicity == 4
    assert browser  # logged in through the form


def test_the_page_without_csrf_saves_nothing(client, world):
    ana, *_, hers, _ = world(utcnow() - timedelta(days=1))
    page_of(client, ana)
    answer = client.post(f"/turns/{hers.turn_id}/recheck", data={"simplicity": "4"})
    assert answer.status_code == 400
    assert the_turn(hers.turn_id).recheck_simplicity is None


def test_the_page_says_when_the_window_opens_and_that_it_closed(client, world):
    ana, *_, hers, _ = world(utcnow() - timedelta(hours=1))
    page_of(client, ana)
    html = client.get(f"/turns/{hers.turn_id}/recheck").get_data(as_text=True)
    assert "The re-check opens 12 hours after the turn ended" in html
    assert 'type="radio"' not in html


def test_the_page_is_a_404_for_anyone_else(client, world):
    ana, ben, *_, hers, _ = world(utcnow() - timedelta(days=1))
    page_of(client, ben)
    assert client.get(f"/turns/{hers.turn_id}/recheck").status_code == 404
    assert client.get("/turns/999999/recheck").status_code == 404


# --- the invitation ---------------------------------------------------------------


def invitations() -> list[tuple[int, str, str]]:
    return [
        (n.user_id, n.text, n.url)
        for n in db.session.scalars(
            select(Notification)
            .where(Notification.kind == "recheck")
            .order_by(Notification.id)
        )
    ]


def test_the_invitation_goes_once_when_the_window_opens(world):
    ana, ben, _, hers, his = world()
    assert run_job("invite_rechecks", ENDED + timedelta(hours=12) - TICK) == 0
    # Ana's turn opens first (Ben's ended 10 minutes later).
    assert run_job("invite_rechecks", ENDED + timedelta(hours=12)) == 1
    assert invitations() == [
        (
            ana.id,
            "Explain RAAS to yourself in one minute — how simply could you now?",
            f"/turns/{hers.turn_id}/recheck",
        )
    ]
    assert run_job("invite_rechecks", ENDED + timedelta(days=1)) == 1
    assert [who for who, _, _ in invitations()] == [ana.id, ben.id]
    assert run_job("invite_rechecks", ENDED + timedelta(days=2)) == 0
    assert the_turn(his.turn_id).recheck_invited_at == ENDED + timedelta(days=1)


def test_no_invitation_after_the_window_or_once_rechecked(world):
    ana, ben, _, hers, his = world()
    recheck.recheck(ana.id, hers.turn_id, 3, ENDED + timedelta(hours=13))
    # Ben's turn is past its window: the scheduler was down for a week.
    assert run_job("invite_rechecks", ENDED + timedelta(days=7, minutes=11)) == 0
    assert invitations() == []
    assert the_turn(his.turn_id).recheck_invited_at is None


@pytest.mark.parametrize("topic", [None, ""])
def test_no_invitation_without_a_topic(world, topic):
    world(topic=topic)
    # Only Ben's turn (Loop diuretics) has a topic.
    assert run_job("invite_rechecks", ENDED + timedelta(days=1)) == 1
    assert [text for _, text, _ in invitations()] == [
        "Explain Loop diuretics to yourself in one minute — how simply could you now?"
    ]


def test_the_invitation_is_emailed_when_configured(app, world):
    app.config["ALLY_SMTP_HOST"] = "smtp.invalid"
    world()
    assert run_job("invite_rechecks", ENDED + timedelta(days=1)) == 2
    states = db.session.scalars(
        select(Notification.email_state).where(Notification.kind == "recheck")
    ).all()
    assert states == ["pending", "pending"]


@pytest.mark.postgres
def test_the_recheck_and_its_invitation_on_postgresql():
    with postgres_app():
        make = user_maker()
        ana, ben = make("ana@example.com"), make("ben@example.com")
        hers = Taught(ana, ben, TAUGHT, "RAAS", 3, self_rating=4)
        write_session(pair_up(ana, ben), [hers])
        db.session.commit()
        assert run_job("invite_rechecks", ENDED + timedelta(hours=12)) == 1
        assert run_job("invite_rechecks", ENDED + timedelta(hours=13)) == 0
        assert invitations() == [
            (
                ana.id,
                "Explain RAAS to yourself in one minute — how simply could you now?",
                f"/turns/{hers.turn_id}/recheck",
            )
        ]
        with pytest.raises(WrongPhase):
            recheck.recheck(ana.id, hers.turn_id, 4, ENDED + timedelta(days=7) + TICK)
        with pytest.raises(NotFound):
            recheck.recheck(ben.id, hers.turn_id, 4, ENDED + timedelta(days=1))
        view = recheck.recheck(ana.id, hers.turn_id, 4, ENDED + timedelta(days=7))
        assert (view.simplicity, view.partner, view.rechecked_at) == (
            4,
            3,
            ENDED + timedelta(days=7),
        )
        with pytest.raises(AlreadyRated):
            recheck.recheck(ana.id, hers.turn_id, 4, ENDED + timedelta(days=7))
