"""Marshmallow schemas of the JSON API: the shapes in DESIGN.md §7.

Text fields are `base.String` (only text every database can store) and input
instants `base.Instant` (within the range the app can compute with)."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from ...domain.recheck import SIMPLICITY_MAX, SIMPLICITY_MIN
from .base import Instant, StrictBoolean, String

Int = fields.Integer
# Ids in bodies are bounded like those in paths (ally.web.converters).
ID_RANGE = validate.Range(min=1, max=2**31 - 1, error="No such id.")


class RegisterIn(ma.Schema):
    email = String(required=True, validate=validate.Length(max=254))
    password = String(required=True, validate=validate.Length(max=128))
    display_name = String(required=True, validate=validate.Length(max=60))
    timezone = String(required=True, validate=validate.Length(max=64))


class UserOut(ma.Schema):
    id = Int()
    email = String()
    display_name = String()
    timezone = String()


class TokenIn(ma.Schema):
    email = String(required=True, validate=validate.Length(max=254))
    password = String(required=True, validate=validate.Length(max=128))
    name = String(validate=validate.Length(max=60))


class TokenOut(ma.Schema):
    token = String(metadata={"description": "Shown once; store it safely."})
    id = Int()
    name = String()


class TokenInfo(ma.Schema):
    id = Int()
    name = String()
    prefix = String()
    created_at = fields.AwareDateTime()
    last_used_at = fields.AwareDateTime(allow_none=True)


class TokenList(ma.Schema):
    items = fields.List(fields.Nested(TokenInfo))


class WindowSchema(ma.Schema):
    start = String(required=True, metadata={"example": "19:00"})
    end = String(required=True, metadata={"example": "21:30"})
    weekdays = fields.List(
        Int(strict=True),
        allow_none=True,
        metadata={"description": "0 = Monday; null = every day"},
    )


class ProfileFields(ma.Schema):
    display_name = String(validate=validate.Length(max=60))
    timezone = String(validate=validate.Length(max=64))
    exam = String(allow_none=True, validate=validate.Length(max=80))
    exam_date = fields.Date(allow_none=True)
    subjects = fields.List(String(validate=validate.Length(max=40)))
    bio = String(validate=validate.Length(max=1000))
    looking_for_partner = StrictBoolean()
    auto_match = StrictBoolean()
    availability = fields.List(fields.Nested(WindowSchema))
    allowed_terms = fields.List(
        String(validate=validate.Length(max=40)),
        validate=validate.Length(max=200),
        metadata={"description": "Terms never flagged as rare in your summaries"},
    )


class MeOut(ProfileFields):
    id = Int()
    email = String()


class PasswordIn(ma.Schema):
    current_password = String(required=True, validate=validate.Length(max=128))
    new_password = String(required=True, validate=validate.Length(max=128))


class DeleteMeIn(ma.Schema):
    password = String(required=True, validate=validate.Length(max=128))


class TopicIn(ma.Schema):
    title = String(required=True, validate=validate.Length(max=120))
    subject = String(allow_none=True, validate=validate.Length(max=40))


class TopicPatch(ma.Schema):
    title = String(validate=validate.Length(max=120))
    subject = String(allow_none=True, validate=validate.Length(max=40))


class TopicOut(ma.Schema):
    id = Int()
    title = String()
    subject = String(allow_none=True)
    created_at = fields.AwareDateTime()


class ScheduleOut(ma.Schema):
    """A topic's place in the re-teach schedule (FSRS, DESIGN.md §11)."""

    due_at = fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "When to teach it again; null until first rated"},
    )
    stability_days = fields.Float(
        allow_none=True,
        metadata={"description": "Days for the chance of recall to fall to 90 %"},
    )
    retrievability = fields.Float(
        allow_none=True,
        metadata={"description": "Chance (0-1) of explaining it well now"},
    )
    reviews = Int(metadata={"description": "Rated explanations counted"})


class ScheduledTopicOut(TopicOut, ScheduleOut):
    pass


class TopicList(ma.Schema):
    items = fields.List(fields.Nested(ScheduledTopicOut))


class DueTopicOut(ScheduleOut):
    topic_id = Int(
        allow_none=True, metadata={"description": "The topic on my list, if it is"}
    )
    title = String(metadata={"description": "As last taught"})
    key = String(metadata={"description": "The topic, case and spacing folded"})
    last_review_at = fields.AwareDateTime()


class DueTopicList(ma.Schema):
    items = fields.List(fields.Nested(DueTopicOut))


class PublicUser(ma.Schema):
    id = Int()
    display_name = String()
    timezone = String()
    exam = String(allow_none=True)


class SuggestionArgs(ma.Schema):
    exam = String(validate=validate.Length(max=80))
    subject = String(validate=validate.Length(max=40))
    min_overlap = Int(validate=validate.Range(min=0, max=1440))
    limit = Int(validate=validate.Range(min=1, max=100))


class SuggestionOut(ma.Schema):
    user = fields.Nested(PublicUser)
    score = Int()
    overlap_minutes = Int(metadata={"description": "Shared minutes per day"})
    reasons = fields.List(String())
    pending = String(
        allow_none=True, metadata={"description": "sent / received / null"}
    )


class SuggestionList(ma.Schema):
    items = fields.List(fields.Nested(SuggestionOut))
    at_limit = fields.Boolean(
        metadata={"description": "You already have as many partners as allowed"}
    )


class PartnerRequestIn(ma.Schema):
    to_user_id = Int(required=True, strict=True, validate=ID_RANGE)
    message = String(validate=validate.Length(max=500))


class PartnerRequestArgs(ma.Schema):
    status = String(
        validate=validate.OneOf(
            ["pending", "accepted", "declined", "cancelled", "expired"]
        )
    )


class PartnerRequestOut(ma.Schema):
    id = Int()
    status = String()
    direction = String(metadata={"description": "sent / received"})
    from_user = fields.Nested(PublicUser)
    to_user = fields.Nested(PublicUser)
    message = String()
    created_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime()
    responded_at = fields.AwareDateTime(allow_none=True)


class PartnerRequestList(ma.Schema):
    items = fields.List(fields.Nested(PartnerRequestOut))


class ScheduleFields(ma.Schema):
    daily_time = String(metadata={"example": "19:00"})
    timezone = String(validate=validate.Length(max=64))
    session_minutes = Int(strict=True)
    turns = Int(strict=True)
    weekdays = fields.List(Int(strict=True))


class PartnershipPatch(ScheduleFields):
    meeting_url = String(allow_none=True, validate=validate.Length(max=500))
    status = String(validate=validate.OneOf(["active", "paused"]))


class PartnershipOut(ScheduleFields):
    id = Int()
    status = String()
    partner = fields.Nested(PublicUser, allow_none=True)
    meeting_url = String(allow_none=True)
    daily_time_local = String(
        metadata={"description": "Today's start in the caller's own time zone"}
    )
    created_at = fields.AwareDateTime()
    ended_at = fields.AwareDateTime(allow_none=True)
    proposal = fields.Nested(ScheduleFields, allow_none=True)
    proposed_by_id = Int(allow_none=True)
    pending = fields.Boolean(
        metadata={"description": "A schedule change awaits the partner's agreement"}
    )


class PartnershipList(ma.Schema):
    items = fields.List(fields.Nested(PartnershipOut))


class AcceptOut(ma.Schema):
    partnership = fields.Nested(PartnershipOut)


class BlockIn(ma.Schema):
    user_id = Int(required=True, strict=True, validate=ID_RANGE)


class BlockOut(ma.Schema):
    user = fields.Nested(PublicUser)
    created_at = fields.AwareDateTime()


class BlockList(ma.Schema):
    items = fields.List(fields.Nested(BlockOut))


class SessionArgs(ma.Schema):
    start = Instant(
        data_key="from",
        metadata={"description": "ISO 8601 instant with offset (default: 7 days ago)"},
    )
    end = Instant(
        data_key="to",
        metadata={"description": "ISO 8601 instant with offset (default: in 14 days)"},
    )


class SessionItemOut(ma.Schema):
    id = Int(
        allow_none=True,
        metadata={"description": "null for an upcoming session not stored yet"},
    )
    partnership_id = Int()
    local_date = fields.Date(
        metadata={"description": "Date in the partnership's time zone"}
    )
    starts_at = fields.AwareDateTime()
    ends_at = fields.AwareDateTime()
    status = String(
        metadata={
            "description": "scheduled, open, live, completed, missed or cancelled"
        }
    )
    kind = String(metadata={"description": "scheduled or extra"})
    first_teacher_id = Int(allow_none=True)
    partner = fields.Nested(PublicUser, allow_none=True)


class SessionList(ma.Schema):
    items = fields.List(fields.Nested(SessionItemOut))


class ParticipantOut(ma.Schema):
    user_id = Int()
    display_name = String(allow_none=True)
    planned_topic = String(allow_none=True)
    joined_at = fields.AwareDateTime(allow_none=True)
    absent = fields.Boolean()


class PlannedTurnOut(ma.Schema):
    index = Int()
    teacher_id = Int(allow_none=True)
    listener_id = Int(allow_none=True)
    teach_seconds = Int()
    rate_seconds = Int()


class SignalOut(ma.Schema):
    kind = String(metadata={"description": "jargon, lost, slower, clear, why or how"})
    word = String(allow_none=True)
    question = String(allow_none=True, metadata={"description": "With why or how"})
    at = fields.AwareDateTime()
    offset_ms = Int(metadata={"description": "Milliseconds since the turn began"})


class TurnOut(ma.Schema):
    id = Int(
        allow_none=True,
        metadata={
            "description": "The turn's id (a re-check takes it); null until taught"
        },
    )
    index = Int()
    teacher_id = Int(allow_none=True)
    listener_id = Int(allow_none=True)
    topic = String(allow_none=True)
    started_at = fields.AwareDateTime(allow_none=True)
    teach_ends_at = fields.AwareDateTime(allow_none=True)
    ended_at = fields.AwareDateTime(allow_none=True)
    simplicity = Int(allow_none=True, metadata={"description": "The listener's 1-5"})
    note = String()
    jargon = fields.List(String())
    rated_at = fields.AwareDateTime(allow_none=True)
    summary = String(allow_none=True)
    self_simplicity = Int(allow_none=True)
    signals = fields.List(fields.Nested(SignalOut))


class SessionOut(SessionItemOut):
    phase = String(metadata={"description": "waiting, teaching, rating, done"})
    turn = Int(metadata={"description": "Index of the current turn"})
    phase_ends_at = fields.AwareDateTime(allow_none=True)
    started_at = fields.AwareDateTime(allow_none=True)
    ended_at = fields.AwareDateTime(allow_none=True)
    meeting_url = String(allow_none=True)
    participants = fields.List(fields.Nested(ParticipantOut))
    plan = fields.List(fields.Nested(PlannedTurnOut))
    turns = fields.List(fields.Nested(TurnOut))


class StrokeOut(ma.Schema):
    points = fields.List(fields.List(fields.Float()))
    width = fields.Float()
    color = String()


class TurnSketchOut(ma.Schema):
    session_id = Int()
    turn = Int()
    strokes = fields.List(fields.Nested(StrokeOut))


class IceServerOut(ma.Schema):
    urls = fields.List(String())
    username = String(metadata={"description": "TURN only: <expiry>:<user id>"})
    credential = String(metadata={"description": "TURN only: base64 HMAC-SHA1"})


class IceServersOut(ma.Schema):
    ice_servers = fields.List(fields.Nested(IceServerOut))
    ice_transport_policy = String(metadata={"description": "all or relay"})
    ttl_seconds = Int(metadata={"description": "How long the TURN credential lasts"})
    polite = fields.Boolean(
        metadata={"description": "This side yields when both offer at once"}
    )


class PlannedTopicIn(ma.Schema):
    title = String(required=True, allow_none=True, validate=validate.Length(max=120))


class ExtraSessionIn(ma.Schema):
    turns = Int(strict=True, validate=validate.OneOf([2, 4, 6]))
    teach_seconds = Int(strict=True)
    rate_seconds = Int(strict=True)


class NotificationOut(ma.Schema):
    id = Int()
    kind = String()
    text = String()
    url = String(allow_none=True)
    created_at = fields.AwareDateTime()
    read_at = fields.AwareDateTime(allow_none=True)


class NotificationArgs(ma.Schema):
    unread = fields.Boolean(metadata={"description": "true: only unread ones"})
    limit = Int(validate=validate.Range(min=1, max=200))


class NotificationList(ma.Schema):
    items = fields.List(fields.Nested(NotificationOut))
    unread = Int(metadata={"description": "How many are unread in all"})


class ReadOut(ma.Schema):
    marked = Int()


class RatingArgs(ma.Schema):
    role = String(
        load_default="received",
        validate=validate.OneOf(["received", "given"]),
        metadata={"description": "received (my explanations) or given"},
    )
    page = Int(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = Int(load_default=20, validate=validate.Range(min=1, max=100))


class RatingOut(ma.Schema):
    id = Int()
    session_id = Int()
    turn = Int()
    topic = String(allow_none=True)
    teacher_id = Int(allow_none=True)
    teacher = String()
    rater_id = Int(allow_none=True)
    rater = String()
    simplicity = Int()
    note = String()
    jargon = fields.List(String())
    created_at = fields.AwareDateTime()
    self_simplicity = Int(allow_none=True)


class RatingList(ma.Schema):
    items = fields.List(fields.Nested(RatingOut))
    page = Int()
    per_page = Int()
    total = Int()
    pages = Int()


class TopicSummaryOut(ma.Schema):
    topic = String()
    key = String(metadata={"description": "The topic, case and spacing folded"})
    count = Int(metadata={"description": "Explanations of this topic"})
    rated = Int()
    mean = fields.Float(allow_none=True)
    last = Int(allow_none=True)
    trend = String(metadata={"description": "improving, flat, worse or new"})
    last_taught = fields.AwareDateTime()
    jargon_per_explanation = fields.Float()


class GapOut(ma.Schema):
    topic = String()
    key = String()
    reasons = fields.List(String())
    last = Int(allow_none=True)
    mean = fields.Float(allow_none=True)
    last_taught = fields.AwareDateTime()


class CalibrationOut(ma.Schema):
    mean_difference = fields.Float(
        allow_none=True, metadata={"description": "Self minus partner, on average"}
    )
    over = Int()
    under = Int()
    same = Int()
    verdict = String()


class PeriodOut(ma.Schema):
    period = String(
        metadata={"description": "2026-03-10 (day), 2026-W10 (week) or 2026-03"}
    )
    mean = fields.Float()
    count = Int()


class RatingSummaryOut(ma.Schema):
    explanations = Int()
    rated = Int()
    mean = fields.Float(allow_none=True)
    topics = fields.List(fields.Nested(TopicSummaryOut))
    gaps = fields.List(fields.Nested(GapOut))
    calibration = fields.Nested(CalibrationOut)
    granularity = String(metadata={"description": "day, week or month"})
    series = fields.List(fields.Nested(PeriodOut))


# --- the delayed re-check (issue 12) ---------------------------------------------


class RecheckIn(ma.Schema):
    simplicity = Int(
        required=True,
        strict=True,
        validate=validate.Range(min=SIMPLICITY_MIN, max=SIMPLICITY_MAX),
        metadata={"description": "How simply I could explain it now, 1-5"},
    )


class RecheckOut(ma.Schema):
    turn_id = Int()
    topic = String(allow_none=True)
    question = String()
    state = String(
        metadata={"description": "early, open or closed (the window); untaught"}
    )
    opens_at = fields.AwareDateTime(allow_none=True)
    closes_at = fields.AwareDateTime(allow_none=True)
    simplicity = Int(allow_none=True, metadata={"description": "The re-check"})
    rechecked_at = fields.AwareDateTime(allow_none=True)
    predicted = Int(allow_none=True, metadata={"description": "Before teaching"})
    self_simplicity = Int(allow_none=True, metadata={"description": "After it"})
    partner = Int(allow_none=True, metadata={"description": "The listener's"})
