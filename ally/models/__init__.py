"""SQLAlchemy models, one module per area."""

from .login import AuthAttempt, Login, PasswordReset
from .notification import JobRun, Notification
from .partner import Block, PartnerRequest, Partnership, pair_key
from .reteach import TopicCard
from .room import LiveSocket, Rating, ServerInstance, Signal, Sketch, Turn
from .teach_session import SessionParticipant, TeachSession
from .topic import Topic
from .types import UTCDateTime, utcnow
from .user import ApiToken, Profile, User

__all__ = [
    "ApiToken",
    "AuthAttempt",
    "Block",
    "JobRun",
    "LiveSocket",
    "Login",
    "Notification",
    "PartnerRequest",
    "PasswordReset",
    "Partnership",
    "Profile",
    "Rating",
    "ServerInstance",
    "SessionParticipant",
    "Signal",
    "Sketch",
    "TeachSession",
    "Topic",
    "TopicCard",
    "Turn",
    "UTCDateTime",
    "User",
    "pair_key",
    "utcnow",
]
