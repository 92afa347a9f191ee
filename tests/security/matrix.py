"""The authorization matrix: who may do what, for every route and socket event.

One entry per (endpoint, method) of the app's URL map (static files and
HEAD/OPTIONS aside) and per Socket.IO handler. tests/security/test_authz_matrix.py
fails for a route or event without an entry here, and for an entry naming
nothing the app serves: a new endpoint must say who may use it.

Actors (tests/security/world.py has the data):

- owner: Ann, whose objects the URL names (her partnership, sessions, turn,
  topic, token, notification...);
- partner: Ben, Ann's partner (a member of the partnership and its sessions);
- outsider: Cara, logged in, with a partner and data of her own;
- anonymous: not logged in (an anonymous session with its own CSRF token, so
  the login check, not CSRF, is what refuses a write);
- old_cookie: a copy of Ann's cookies (session and remember) taken before that
  login logged out: must be treated as anonymous;
- old_token: Ann's revoked API token as `Authorization: Bearer` (pages, which
  take no bearer token, get it with an anonymous session and its CSRF token);
  over the socket, a socket it opened before the revocation: closed, and
  refused `forbidden` while its close has not landed;
- old_socket (events only): a socket Ann opened before logging out: logout
  closes it, and one whose close has not landed yet is refused `forbidden`.

Rules, and what they mean for the answers (Ally answers 404 "No such ..." for
someone else's object, never 403, so existence is not revealed):

- public: anyone; answers given per actor.
- capability: a secret in the URL is the key (calendar feed, reset link): the
  same answer for everyone.
- login: the caller's own things, no object in the URL: any logged-in user;
  pages send the logged-out to the login page, the API answers 401.
- owner_only: an object of Ann's in the URL: Ann; everyone else 404.
- members: an object Ann shares with Ben (partnership, session): both; others 404.
- party: a partner request: its sender or its recipient, each for their part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import PASSWORD
from tests.security.world import World

HTTP_ACTORS = ("owner", "partner", "outsider", "anonymous", "old_cookie", "old_token")
SOCKET_ACTORS = (*HTTP_ACTORS, "old_socket")
RULES = ("public", "capability", "login", "owner_only", "members", "party")
NEW_PASSWORD = "another long passphrase"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: the status, where a redirect goes (a path prefix), the
    API's error code."""

    status: int
    to: str | None = None
    error: str | None = None


# Resolved per route: a page redirects to the login page, the API answers 401.
LOGIN = "login"
NOT_FOUND = Answer(404, error="not_found")


def ok(status: int = 200, to: str | None = None) -> Answer:
    return Answer(status, to)


def _no_args(world: World) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Route:
    """Who may call one (endpoint, method), with the request each actor sends."""

    rule: str
    answers: dict[str, Answer | str]
    args: Callable[[World], dict[str, Any]] = _no_args
    form: Callable[[World], dict[str, Any]] | None = None
    json: Callable[[World], dict[str, Any]] | None = None
    query: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.rule in RULES, self.rule
        assert set(self.answers) == set(HTTP_ACTORS), self.answers


def public(everyone: Answer, **answers: Answer) -> dict[str, Answer | str]:
    """The same answer for every actor unless named."""
    return {actor: answers.get(actor, everyone) for actor in HTTP_ACTORS}


def logged_in(success: Answer, **answers: Answer | str) -> dict[str, Answer | str]:
    """Any logged-in user (each acts on their own things)."""
    found = {
        "owner": success,
        "partner": success,
        "outsider": success,
        "anonymous": LOGIN,
        "old_cookie": LOGIN,
        "old_token": LOGIN,
    }
    return {**found, **answers}


def owner_only(success: Answer) -> dict[str, Answer | str]:
    """Ann's object: only Ann."""
    return logged_in(success, partner=NOT_FOUND, outsider=NOT_FOUND)


def members(success: Answer, partner: Answer | None = None) -> dict[str, Answer | str]:
    """An object Ann shares with Ben."""
    return logged_in(success, partner=partner or success, outsider=NOT_FOUND)


def party(owner: Answer | str, partner: Answer | str) -> dict[str, Answer | str]:
    """The request that paired Ann (its sender) and Ben (its recipient)."""
    return logged_in(owner, partner=partner, outsider=NOT_FOUND)


def _partnership(w: World) -> dict[str, Any]:
    return {"partnership_id": w.partnership}


def _past(w: World) -> dict[str, Any]:
    return {"session_id": w.past_session}


def _upcoming(w: World) -> dict[str, Any]:
    return {"session_id": w.upcoming_session}


def _turn(w: World) -> dict[str, Any]:
    return {"turn_id": w.owner_turn}


def _topic(w: World) -> dict[str, Any]:
    return {"topic_id": w.owner_topic}


def _token(w: World) -> dict[str, Any]:
    return {"token_id": w.owner_token}


def _notification(w: World) -> dict[str, Any]:
    return {"notification_id": w.owner_notification}


def _request(action: str | None = None) -> Callable[[World], dict[str, Any]]:
    def args(w: World) -> dict[str, Any]:
        return {"request_id": w.request, **({"action": action} if action else {})}

    return args


def _stranger_login(w: World) -> dict[str, Any]:
    return {"email": "eve@example.com", "password": PASSWORD}


SCHEDULE_FORM = {
    "daily_time": "19:30",
    "timezone": "Europe/London",
    "session_minutes": "60",
    "turns": "4",
    "weekdays": ["0", "2", "4"],
}
CHANGED = "/partnerships/"  # the partnership page a partnership form goes back to

ROUTES: dict[tuple[str, str], Route] = {
    # --- public pages and auth ----------------------------------------------------
    ("dashboard.index", "GET"): Route("public", public(ok())),
    ("health.healthz", "GET"): Route("public", public(ok())),
    ("api-docs.openapi_json", "GET"): Route("public", public(ok())),
    ("auth.login", "GET"): Route(
        "public",
        public(ok(), owner=ok(302, "/"), partner=ok(302, "/"), outsider=ok(302, "/")),
    ),
    ("auth.login", "POST"): Route(
        "public",
        public(ok(302, "/"), owner=ok(302, "/"), partner=ok(302, "/")),
        form=_stranger_login,
    ),
    ("auth.register", "GET"): Route(
        "public",
        public(ok(), owner=ok(302, "/"), partner=ok(302, "/"), outsider=ok(302, "/")),
    ),
    ("auth.register", "POST"): Route(
        "public",
        public(
            ok(302, "/profile"),
            owner=ok(302, "/"),
            partner=ok(302, "/"),
            outsider=ok(302, "/"),
        ),
        form=lambda w: {
            "email": "newcomer@example.com",
            "display_name": "Newcomer",
            "timezone": "Europe/Paris",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    ),
    ("auth.logout", "POST"): Route("login", logged_in(ok(302, "/"))),
    ("auth.forgot_password", "GET"): Route("public", public(ok())),
    ("auth.forgot_password", "POST"): Route(
        "public",
        public(ok(302, "/forgot")),
        form=lambda w: {"email": "eve@example.com"},
    ),
    ("auth.reset_password", "GET"): Route(
        "capability", public(ok()), args=lambda w: {"token": w.reset_token}
    ),
    ("auth.reset_password", "POST"): Route(
        "capability",
        public(ok(302, "/")),
        args=lambda w: {"token": w.reset_token},
        form=lambda w: {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    ),
    ("sessions.feed", "GET"): Route(
        "capability", public(ok()), args=lambda w: {"token": w.calendar_token}
    ),
    # --- account -----------------------------------------------------------------
    ("account.settings", "GET"): Route("login", logged_in(ok())),
    ("account.calendar_feed", "POST"): Route("login", logged_in(ok(302, "/account"))),
    ("account.revoke_calendar_feed", "POST"): Route(
        "login", logged_in(ok(302, "/account"))
    ),
    ("account.delete", "POST"): Route(
        "login", logged_in(ok(302, "/")), form=lambda w: {"password": PASSWORD}
    ),
    ("account.logout_everywhere", "POST"): Route("login", logged_in(ok(302, "/login"))),
    ("account.notification_settings", "POST"): Route(
        "login",
        logged_in(ok(302, "/account")),
        form=lambda w: {"reminder_minutes": "30", "email_notifications": "y"},
    ),
    ("account.change_password", "POST"): Route(
        "login",
        logged_in(ok(302, "/account")),
        form=lambda w: {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    ),
    ("account.create_token", "POST"): Route(
        "login", logged_in(ok(201)), form=lambda w: {"name": "a script"}
    ),
    ("account.revoke_token", "POST"): Route(
        "owner_only", owner_only(ok(302, "/account")), args=_token
    ),
    # --- profile and topics --------------------------------------------------------
    ("profile.edit", "GET"): Route("login", logged_in(ok())),
    ("profile.edit", "POST"): Route(
        "login",
        logged_in(ok(302, "/profile")),
        form=lambda w: {
            "display_name": "Renamed",
            "timezone": "Europe/London",
            "exam": "USMLE Step 1",
            "bio": "Changed.",
        },
    ),
    ("profile.add_topic", "POST"): Route(
        "login", logged_in(ok(302, "/profile")), form=lambda w: {"title": "Brand new"}
    ),
    ("profile.rename_topic", "POST"): Route(
        "owner_only",
        owner_only(ok(302, "/profile")),
        args=_topic,
        form=lambda w: {"title": "Renamed topic"},
    ),
    ("profile.remove_topic", "POST"): Route(
        "owner_only", owner_only(ok(302, "/profile")), args=_topic
    ),
    # --- partners, requests, blocks -------------------------------------------------
    ("partners.suggestions", "GET"): Route("login", logged_in(ok())),
    ("partners.send_request", "POST"): Route(
        # Everyone here has a partner: the answer is the form's message.
        "login",
        logged_in(ok(302, "/partners")),
        form=lambda w: {"to_user_id": str(w.stranger), "message": "Study?"},
    ),
    ("partners.requests", "GET"): Route("login", logged_in(ok())),
    ("partners.answer", "POST"): Route(
        # Only its recipient may decline it (it is no longer pending: a message).
        "party",
        party(NOT_FOUND, ok(302, "/requests")),
        args=_request("decline"),
    ),
    ("partners.block", "POST"): Route(
        "login", logged_in(ok(302, "/partners")), args=lambda w: {"user_id": w.stranger}
    ),
    ("partners.unblock", "POST"): Route(
        # Ann's block of Gus: nobody else has one to remove.
        "owner_only",
        owner_only(ok(302, "/account")),
        args=lambda w: {"user_id": w.blocked},
    ),
    # --- partnerships -------------------------------------------------------------
    ("partnerships.show", "GET"): Route("members", members(ok()), args=_partnership),
    ("partnerships.end", "POST"): Route(
        "members", members(ok(302, "/")), args=_partnership
    ),
    ("partnerships.meeting", "POST"): Route(
        "members",
        members(ok(302, CHANGED)),
        args=_partnership,
        form=lambda w: {"meeting_url": "https://meet.example.org/ann-ben"},
    ),
    ("partnerships.propose", "POST"): Route(
        "members",
        members(ok(302, CHANGED)),
        args=_partnership,
        form=lambda w: SCHEDULE_FORM,
    ),
    ("partnerships.set_status", "POST"): Route(
        "members",
        members(ok(302, CHANGED)),
        args=_partnership,
        form=lambda w: {"status": "paused"},
    ),
    ("sessions.start_extra", "POST"): Route(
        "members", members(ok(302, "/sessions/")), args=_partnership
    ),
    ("sessions.on_day", "GET"): Route(
        "members",
        members(ok(302, "/sessions/")),
        args=lambda w: {"partnership_id": w.partnership, "day": w.free_day},
    ),
    # --- sessions -----------------------------------------------------------------
    ("sessions.index", "GET"): Route("login", logged_in(ok())),
    ("sessions.show", "GET"): Route("members", members(ok()), args=_past),
    ("sessions.session_ics", "GET"): Route("members", members(ok()), args=_upcoming),
    ("sessions.room", "GET"): Route("members", members(ok()), args=_upcoming),
    ("sessions.summary", "GET"): Route("members", members(ok()), args=_past),
    ("sessions.prepare", "POST"): Route(
        "members",
        members(ok(302, "/sessions/")),
        args=_upcoming,
        form=lambda w: {"topic": "Renal"},
    ),
    ("recheck.show", "GET"): Route("owner_only", owner_only(ok()), args=_turn),
    ("recheck.show", "POST"): Route(
        "owner_only",
        owner_only(ok(302, "/turns/")),
        args=_turn,
        form=lambda w: {"simplicity": "3"},
    ),
    # --- notifications and review --------------------------------------------------
    ("notifications.index", "GET"): Route("login", logged_in(ok())),
    ("notifications.read_all", "POST"): Route(
        "login", logged_in(ok(302, "/notifications"))
    ),
    ("notifications.open_one", "POST"): Route(
        "owner_only", owner_only(ok(302, "/")), args=_notification
    ),
    ("review.index", "GET"): Route("login", logged_in(ok())),
    ("review.explanations", "GET"): Route("login", logged_in(ok())),
    ("review.given", "GET"): Route("login", logged_in(ok())),
    ("review.export", "GET"): Route(
        "login", logged_in(ok()), args=lambda w: {"fmt": "csv"}
    ),
    ("review.terms", "POST"): Route(
        "login", logged_in(ok(302, "/review")), form=lambda w: {"terms": "renin"}
    ),
    # --- API: accounts -------------------------------------------------------------
    ("api_accounts.register", "POST"): Route(
        "public",
        public(ok(201)),
        json=lambda w: {
            "email": "api.newcomer@example.com",
            "password": PASSWORD,
            "display_name": "Api Newcomer",
            "timezone": "Europe/Paris",
        },
    ),
    ("api_accounts.create_token", "POST"): Route(
        "public", public(ok(201)), json=_stranger_login
    ),
    ("api_accounts.request_password_reset", "POST"): Route(
        "public", public(ok(202)), json=lambda w: {"email": "eve@example.com"}
    ),
    ("api_accounts.confirm_password_reset", "POST"): Route(
        "capability",
        public(ok(204)),
        json=lambda w: {"token": w.reset_token, "password": NEW_PASSWORD},
    ),
    ("api_accounts.get_me", "GET"): Route("login", logged_in(ok())),
    ("api_accounts.patch_me", "PATCH"): Route(
        "login", logged_in(ok()), json=lambda w: {"bio": "Changed."}
    ),
    ("api_accounts.delete_me", "DELETE"): Route(
        "login", logged_in(ok(204)), json=lambda w: {"password": PASSWORD}
    ),
    ("api_accounts.change_password", "POST"): Route(
        "login",
        logged_in(ok(204)),
        json=lambda w: {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    ),
    ("api_accounts.list_tokens", "GET"): Route("login", logged_in(ok())),
    ("api_accounts.revoke_token", "DELETE"): Route(
        "owner_only", owner_only(ok(204)), args=_token
    ),
    # --- API: topics -----------------------------------------------------------------
    ("api_topics.list_topics", "GET"): Route("login", logged_in(ok())),
    ("api_topics.due_topics", "GET"): Route("login", logged_in(ok())),
    ("api_topics.add_topic", "POST"): Route(
        "login", logged_in(ok(201)), json=lambda w: {"title": "Brand new"}
    ),
    ("api_topics.update_topic", "PATCH"): Route(
        "owner_only", owner_only(ok()), args=_topic, json=lambda w: {"title": "Renamed"}
    ),
    ("api_topics.remove_topic", "DELETE"): Route(
        "owner_only", owner_only(ok(204)), args=_topic
    ),
    # --- API: partners, requests, blocks ---------------------------------------------
    ("api_partners.suggestions", "GET"): Route("login", logged_in(ok())),
    ("api_partners.list_requests", "GET"): Route("login", logged_in(ok())),
    ("api_partners.send_request", "POST"): Route(
        # Everyone here has a partner already.
        "login",
        logged_in(Answer(409, error="conflict")),
        json=lambda w: {"to_user_id": w.stranger, "message": "Study?"},
    ),
    ("api_partners.accept", "POST"): Route(
        "party",
        party(NOT_FOUND, Answer(409, error="conflict")),
        args=_request(),
    ),
    ("api_partners.decline", "POST"): Route(
        "party",
        party(NOT_FOUND, Answer(409, error="conflict")),
        args=_request(),
    ),
    ("api_partners.cancel", "POST"): Route(
        "party",
        party(Answer(409, error="conflict"), NOT_FOUND),
        args=_request(),
    ),
    ("api_partners.list_blocks", "GET"): Route("login", logged_in(ok())),
    ("api_partners.block", "POST"): Route(
        "login", logged_in(ok(204)), json=lambda w: {"user_id": w.stranger}
    ),
    ("api_partners.unblock", "DELETE"): Route(
        "owner_only", owner_only(ok(204)), args=lambda w: {"user_id": w.blocked}
    ),
    # --- API: partnerships and sessions ---------------------------------------------
    ("api_partnerships.list_partnerships", "GET"): Route("login", logged_in(ok())),
    ("api_partnerships.get_partnership", "GET"): Route(
        "members", members(ok()), args=_partnership
    ),
    ("api_partnerships.patch_partnership", "PATCH"): Route(
        "members",
        members(ok()),
        args=_partnership,
        json=lambda w: {"meeting_url": "https://meet.example.org/ann-ben"},
    ),
    ("api_partnerships.end_partnership", "DELETE"): Route(
        "members", members(ok()), args=_partnership
    ),
    ("api_sessions.extra_session", "POST"): Route(
        "members", members(ok(201)), args=_partnership, json=lambda w: {}
    ),
    ("api_sessions.list_sessions", "GET"): Route("login", logged_in(ok())),
    ("api_sessions.get_session", "GET"): Route("members", members(ok()), args=_past),
    ("api_sessions.ice_servers", "GET"): Route(
        # Members get past the membership check to the call's hours: the call
        # opens with the room (10 minutes before), days from now.
        "members",
        members(Answer(409, error="wrong_phase")),
        args=_upcoming,
    ),
    ("api_sessions.prepare_topic", "PUT"): Route(
        "members", members(ok()), args=_upcoming, json=lambda w: {"title": "Renal"}
    ),
    ("api_sessions.turn_sketch", "GET"): Route(
        "members",
        members(ok()),
        args=lambda w: {"session_id": w.past_session, "index": 0},
    ),
    ("api_turns.get_recheck", "GET"): Route("owner_only", owner_only(ok()), args=_turn),
    ("api_turns.post_recheck", "POST"): Route(
        "owner_only", owner_only(ok()), args=_turn, json=lambda w: {"simplicity": 3}
    ),
    # --- API: ratings and notifications -----------------------------------------
    ("api_reviews.list_ratings", "GET"): Route(
        "login", logged_in(ok()), query={"role": "received"}
    ),
    ("api_reviews.rating_summary", "GET"): Route("login", logged_in(ok())),
    ("api_notifications.list_notifications", "GET"): Route("login", logged_in(ok())),
    ("api_notifications.read_all", "POST"): Route("login", logged_in(ok())),
    ("api_notifications.read_one", "POST"): Route(
        "owner_only", owner_only(ok()), args=_notification
    ),
}

# --- socket events ---------------------------------------------------------------

# The room's phase the owner's and partner's sockets set up before the actor
# sends: "waiting" (nobody joined), "teaching" (both joined: turn 0, Ann
# teaching, Ben listening), "rating" (Ann finished turn 0).
PHASES = ("none", "waiting", "teaching", "rating")
OK = "ok"
CONNECTED = "connected"
REFUSED = "refused"  # the connection is refused
FORBIDDEN = "forbidden"
CLOSED = "closed"  # an open socket is closed when its login or token ends


@dataclass(frozen=True)
class Event:
    """Who may send one client event, in which room state, with what payload."""

    phase: str
    answers: dict[str, str]
    payload: Callable[[int], dict[str, Any]] | None = None

    def __post_init__(self) -> None:
        assert self.phase in PHASES, self.phase
        assert set(self.answers) == set(SOCKET_ACTORS), self.answers


def room_event(owner: str, partner: str) -> dict[str, str]:
    """A room event: Ann and Ben each answered by their role; Cara, not a
    participant, gets not_found; no login, no socket; a logged-out socket is
    closed, and refused `forbidden` while its close has not landed."""
    return {
        "owner": owner,
        "partner": partner,
        "outsider": "not_found",
        "anonymous": REFUSED,
        "old_cookie": REFUSED,
        "old_token": FORBIDDEN,
        "old_socket": FORBIDDEN,
    }


TEXT = "When blood pressure drops, the kidney releases renin."
STROKES = [{"points": [[100, 100], [400, 520.5]], "color": "#b3261e"}]

EVENTS: dict[str, Event] = {
    # Lifecycle handlers: connect is who may open a socket at all; disconnect
    # is not sent by clients (it runs when a socket closes) and has no cells.
    "connect": Event(
        "none",
        {
            "owner": CONNECTED,
            "partner": CONNECTED,
            "outsider": CONNECTED,
            "anonymous": REFUSED,
            "old_cookie": REFUSED,
            "old_token": CLOSED,
            "old_socket": CLOSED,
        },
    ),
    "disconnect": Event("none", dict.fromkeys(SOCKET_ACTORS, "lifecycle")),
    "join_session": Event("waiting", room_event(OK, OK), lambda s: {"session_id": s}),
    "leave_session": Event("teaching", room_event(OK, OK), lambda s: {"session_id": s}),
    "set_topic": Event(
        # Ann names turn 0, Ben his next turn (1).
        "teaching",
        room_event(OK, OK),
        lambda s: {"session_id": s, "title": "Renin–angiotensin system"},
    ),
    "signal": Event(
        "teaching",
        room_event(FORBIDDEN, OK),
        lambda s: {"session_id": s, "kind": "jargon", "word": "macula densa"},
    ),
    "finish_turn": Event(
        "teaching", room_event(OK, FORBIDDEN), lambda s: {"session_id": s}
    ),
    "sketch": Event(
        "teaching",
        room_event(OK, FORBIDDEN),
        lambda s: {"session_id": s, "turn": 0, "strokes": STROKES},
    ),
    "predict": Event(
        # Turn 1 (Ben's) has not started.
        "teaching",
        room_event(FORBIDDEN, OK),
        lambda s: {"session_id": s, "turn": 1, "simplicity": 4},
    ),
    "call": Event(
        "teaching",
        room_event(OK, OK),
        lambda s: {
            "session_id": s,
            "kind": "media",
            "data": {"audio": True, "video": False},
        },
    ),
    "rate": Event(
        "rating",
        room_event(FORBIDDEN, OK),
        lambda s: {"session_id": s, "turn": 0, "simplicity": 4, "note": "Clear."},
    ),
    "summary": Event(
        "rating",
        room_event(OK, FORBIDDEN),
        lambda s: {"session_id": s, "turn": 0, "text": TEXT},
    ),
    "self_rate": Event(
        "rating",
        room_event(OK, FORBIDDEN),
        lambda s: {"session_id": s, "turn": 0, "simplicity": 3},
    ),
    "ready": Event(
        "rating", room_event(OK, FORBIDDEN), lambda s: {"session_id": s, "turn": 0}
    ),
}


def http_cells() -> list[tuple[str, str, str]]:
    """Every (endpoint, method, actor) cell of the routes' table."""
    return [(e, m, a) for (e, m) in ROUTES for a in HTTP_ACTORS]


def event_cells() -> list[tuple[str, str]]:
    """Every (event, actor) cell of the events' table (lifecycle-only aside)."""
    return [
        (name, actor)
        for name, entry in EVENTS.items()
        for actor in SOCKET_ACTORS
        if entry.answers[actor] != "lifecycle"
    ]


def cell_count() -> int:
    """How many cells the matrix checks."""
    return len(http_cells()) + len(event_cells())
