"""Plain dicts for API responses, shaped as the schemas describe."""

from __future__ import annotations

from typing import Any

from ...models import PartnerRequest, Partnership, TeachSession, User, utcnow
from ...services import partnerships, schedule, session_report
from ...services.schedule import SessionItem


def public_user(user: User | None) -> dict[str, Any] | None:
    """What any other user may see of a user."""
    if user is None:
        return None
    return {
        "id": user.id,
        "display_name": user.display_name,
        "timezone": user.timezone,
        "exam": user.profile.exam if user.profile else None,
    }


def me_json(user: User) -> dict[str, Any]:
    """The caller's own account and profile."""
    profile = user.profile
    return {
        "id": user.id,
        "email": user.email,
        "display_name": user.display_name,
        "timezone": user.timezone,
        "exam": profile.exam,
        "exam_date": profile.exam_date,
        "subjects": profile.subjects or [],
        "bio": profile.bio or "",
        "looking_for_partner": profile.looking_for_partner,
        "auto_match": profile.auto_match,
        "availability": profile.availability or [],
        "allowed_terms": profile.allowed_terms or [],
    }


def request_json(request: PartnerRequest, viewer_id: int) -> dict[str, Any]:
    """A partner request seen by one of its two users."""
    return {
        "id": request.id,
        "status": request.status,
        "direction": "sent" if request.from_user_id == viewer_id else "received",
        "from_user": public_user(request.from_user),
        "to_user": public_user(request.to_user),
        "message": request.message,
        "created_at": request.created_at,
        "expires_at": request.expires_at,
        "responded_at": request.responded_at,
    }


def partnership_json(partnership: Partnership, viewer: User) -> dict[str, Any]:
    """A partnership seen by one partner, times also in their own zone."""
    return {
        "id": partnership.id,
        "status": partnership.status,
        "partner": public_user(partnership.partner_of(viewer.id)),
        **partnerships.schedule_of(partnership),
        "daily_time_local": partnerships.daily_time_in(
            partnership, viewer.timezone, utcnow()
        ),
        "meeting_url": partnership.meeting_url,
        "created_at": partnership.created_at,
        "ended_at": partnership.ended_at,
        "proposal": partnership.proposal,
        "proposed_by_id": partnership.proposed_by_id,
        "pending": partnership.proposal is not None,
    }


def session_item_json(item: SessionItem, partners: dict[int, User]) -> dict[str, Any]:
    """A session in the list: stored, or computed from the schedule (id null)."""
    return {
        "id": item.id,
        "partnership_id": item.partnership_id,
        "local_date": item.local_date,
        "starts_at": item.starts_at,
        "ends_at": item.ends_at,
        "status": item.status,
        "kind": item.kind,
        "first_teacher_id": item.first_teacher_id,
        "partner": public_user(partners.get(item.partner_id)),
    }


def session_json(session: TeachSession, viewer: User) -> dict[str, Any]:
    """One session seen by one of its partners, with its plan and attendance."""
    partner = session.partnership.partner_of(viewer.id)
    item = schedule.session_item(session, viewer.id)
    names = {u.id: u.display_name for u in (viewer, partner) if u is not None}
    participants = [
        {
            "user_id": p.user_id,
            "display_name": names.get(p.user_id),
            "planned_topic": p.planned_topic,
            "joined_at": p.joined_at,
            "absent": p.absent,
        }
        for p in session.participants
    ]
    return {
        **session_item_json(item, {partner.id: partner} if partner else {}),
        "phase": session.phase,
        "turn": session.current_turn,
        "phase_ends_at": session.phase_ends_at,
        "started_at": session.started_at,
        "ended_at": session.ended_at,
        "meeting_url": session.partnership.meeting_url,
        "participants": participants,
        "plan": schedule.plan_of(session),
        "turns": [
            {
                "id": t.id,
                "index": t.index,
                "teacher_id": t.teacher_id,
                "listener_id": t.listener_id,
                "topic": t.topic,
                "started_at": t.started_at,
                "teach_ends_at": t.teach_ends_at,
                "ended_at": t.ended_at,
                "simplicity": t.simplicity,
                "note": t.note,
                "jargon": t.jargon,
                "rated_at": t.rated_at,
                "summary": t.summary,
                "self_simplicity": t.self_simplicity,
                "signals": [
                    {
                        "kind": x.kind,
                        "word": x.word,
                        "question": x.question,
                        "at": x.at,
                        "offset_ms": x.offset_ms,
                    }
                    for x in t.signals
                ],
            }
            for t in session_report.report(viewer.id, session.id).turns
        ],
    }


def notification_json(notification) -> dict[str, Any]:
    """A notification as the API lists it."""
    return {
        "id": notification.id,
        "kind": notification.kind,
        "text": notification.text,
        "url": notification.url,
        "created_at": notification.created_at,
        "read_at": notification.read_at,
    }
