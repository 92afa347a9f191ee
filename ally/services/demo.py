"""Demo data: two students already paired, with topics, to try Ally at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from ..extensions import db
from ..models import User
from . import accounts, partners, profiles, recheck, reteach, topics
from .demo_history import seed_history

DEMO_PASSWORD = "teach-back-demo"


@dataclass(frozen=True)
class DemoUser:
    """How to log in as one demo student."""

    email: str
    display_name: str
    timezone: str


DEMO_USERS = (
    DemoUser("ana@demo.example.com", "Ana (demo)", "America/New_York"),
    DemoUser("ben@demo.example.com", "Ben (demo)", "Europe/London"),
)
_PROFILES = (
    {
        "exam": "USMLE Step 1",
        "subjects": ["Renal", "Cardio", "Pharmacology"],
        "bio": "Second-year, dedicated period starts in spring.",
        "availability": [{"start": "14:00", "end": "17:00"}],
    },
    {
        "exam": "USMLE Step 1",
        "subjects": ["Renal", "Cardio", "Biochemistry"],
        "bio": "IMG preparing after work.",
        "availability": [{"start": "18:30", "end": "22:00"}],
    },
)
_TOPICS = (
    [
        ("Renin–angiotensin–aldosterone system", "Renal"),
        ("Frank–Starling mechanism", "Cardio"),
        ("Loop diuretics", "Pharmacology"),
    ],
    [
        ("Nephron transport by segment", "Renal"),
        ("Cardiac action potential", "Cardio"),
        ("Glycolysis regulation", "Biochemistry"),
    ],
)


def seed_demo(now: datetime) -> tuple[DemoUser, ...]:
    """Create the demo pair if it is not there yet; returns the logins."""
    exists = db.session.scalar(select(User.id).where(User.email == DEMO_USERS[0].email))
    if exists is not None:
        return DEMO_USERS
    users = []
    for demo, profile, topic_list in zip(DEMO_USERS, _PROFILES, _TOPICS, strict=True):
        user = accounts.register(
            demo.email, DEMO_PASSWORD, demo.display_name, demo.timezone
        )
        exam_date = (now + timedelta(days=90)).date().isoformat()
        profiles.update_profile(user.id, {**profile, "exam_date": exam_date})
        for title, subject in topic_list:
            topics.add_topic(user.id, title, subject)
        users.append(user)
    request = partners.send_request(
        users[0].id, users[1].id, "Daily RAAS and cardio teach-backs?", now
    )
    partnership = partners.accept_request(users[1].id, request.id, now)
    seed_history(partnership, now)
    for user in users:  # the history was written directly: schedule it now
        reteach.rebuild(user.id, now)
    # Yesterday's explanations are open for their re-check: invite them now.
    recheck.invite_due(now)
    return DEMO_USERS
