"""SQLAlchemy models, one module per area."""

from .notification import JobRun, Notification
from .partner import Block, PartnerRequest, Partnership, pair_key
from .teach_session import SessionParticipant, TeachSession
from .topic import Topic
from .types import UTCDateTime, utcnow
from .user import ApiToken, Profile, User

__all__ = [
    "ApiToken",
    "Block",
    "JobRun",
    "Notification",
    "PartnerRequest",
    "Partnership",
    "Profile",
    "SessionParticipant",
    "TeachSession",
    "Topic",
    "UTCDateTime",
    "User",
    "pair_key",
    "utcnow",
]
