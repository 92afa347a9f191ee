"""API: sessions (past and upcoming), preparing a topic, extra sessions."""

from __future__ import annotations

from datetime import timedelta

from ...models import utcnow
from ...services import call, partnerships, room, schedule
from ...services.errors import Invalid
from .base import ApiBlueprint, api_user, login_required, require_json_object
from .presenters import session_item_json, session_json
from .schemas import (
    ExtraSessionIn,
    IceServersOut,
    PlannedTopicIn,
    SessionArgs,
    SessionList,
    SessionOut,
    TurnSketchOut,
)

blp = ApiBlueprint("api_sessions", __name__, description="Sessions")
blp.before_request(require_json_object)

DEFAULT_PAST = timedelta(days=7)
DEFAULT_AHEAD = timedelta(days=14)
MAX_RANGE = timedelta(days=92)


@blp.route("/sessions", methods=["GET"])
@login_required
@blp.arguments(SessionArgs, location="query")
@blp.response(200, SessionList)
def list_sessions(args):
    """The caller's sessions in [from, to): stored ones, then upcoming ones computed
    from the schedule (those have id null until they are stored)."""
    me = api_user()
    now = utcnow()
    start = args.get("start") or now - DEFAULT_PAST
    end = args.get("end") or now + DEFAULT_AHEAD
    if end <= start:
        raise Invalid("`to` must be after `from`.", field="to")
    if end - start > MAX_RANGE:
        raise Invalid("Ask for at most 92 days at a time.", field="to")
    items = schedule.list_sessions(me.id, start, end, now)
    partners = {
        partner.id: partner
        for p in partnerships.list_partnerships(me.id)
        if (partner := p.partner_of(me.id)) is not None
    }
    return {"items": [session_item_json(item, partners) for item in items]}


@blp.route("/sessions/<int:session_id>", methods=["GET"])
@login_required
@blp.response(200, SessionOut)
def get_session(session_id: int):
    """One of the caller's sessions: status, phase, plan and attendance."""
    me = api_user()
    return session_json(schedule.get_session(me.id, session_id), me)


@blp.route("/sessions/<int:session_id>/ice-servers", methods=["GET"])
@login_required
@blp.response(200, IceServersOut)
def ice_servers(session_id: int):
    """The call's ICE servers for a member of this session (TURN credentials
    valid for ttl_seconds); anyone else gets 404."""
    # A credential: never kept by a cache between the browser and here.
    config = call.ice_config(api_user().id, session_id, utcnow())
    return config, 200, {"Cache-Control": "no-store"}


@blp.route("/sessions/<int:session_id>/turns/<int:index>/sketch", methods=["GET"])
@login_required
@blp.response(200, TurnSketchOut)
def turn_sketch(session_id: int, index: int):
    """A turn's sketch as drawn so far (every stroke since its last clear)."""
    return room.turn_sketch(api_user().id, session_id, index)


@blp.route("/sessions/<int:session_id>/topic", methods=["PUT"])
@login_required
@blp.arguments(PlannedTopicIn)
@blp.response(200, SessionOut)
def prepare_topic(body, session_id: int):
    """Name the topic the caller will teach in this session (null clears it)."""
    me = api_user()
    session = schedule.set_planned_topic(me.id, session_id, body["title"])
    return session_json(session, me)


@blp.route("/partnerships/<int:partnership_id>/sessions", methods=["POST"])
@login_required
@blp.arguments(ExtraSessionIn)
@blp.response(201, SessionOut)
def extra_session(body, partnership_id: int):
    """Start an extra session now; phase lengths within the configured bounds."""
    me = api_user()
    session = schedule.create_extra_session(me.id, partnership_id, utcnow(), **body)
    return session_json(session, me)
