"""API: the caller's topics."""

from __future__ import annotations

from ...models import utcnow
from ...services import reteach, topics
from .base import ApiBlueprint, api_user, login_required, require_json_object
from .schemas import DueTopicList, TopicIn, TopicList, TopicOut, TopicPatch

blp = ApiBlueprint("api_topics", __name__, description="Topics to teach")
blp.before_request(require_json_object)


@blp.route("/topics", methods=["GET"])
@login_required
@blp.response(200, TopicList)
def list_topics():
    """The caller's topics, each with when to teach it again (re-teach schedule)."""
    return {"items": reteach.topics_with_schedule(api_user().id, utcnow())}


@blp.route("/topics/due", methods=["GET"])
@login_required
@blp.response(200, DueTopicList)
def due_topics():
    """Topics due to be taught again, most overdue first."""
    return {"items": reteach.due_topics(api_user().id, utcnow())}


@blp.route("/topics", methods=["POST"])
@login_required
@blp.arguments(TopicIn)
@blp.response(201, TopicOut)
def add_topic(body):
    """Add a topic; a title the caller already has is a 409."""
    return topics.add_topic(api_user().id, body["title"], body.get("subject"))


@blp.route("/topics/<int:topic_id>", methods=["PATCH"])
@login_required
@blp.arguments(TopicPatch)
@blp.response(200, TopicOut)
def update_topic(body, topic_id: int):
    """Rename a topic or change its subject."""
    kwargs = {"subject": body["subject"]} if "subject" in body else {}
    return topics.update_topic(api_user().id, topic_id, body.get("title"), **kwargs)


@blp.route("/topics/<int:topic_id>", methods=["DELETE"])
@login_required
@blp.response(204)
def remove_topic(topic_id: int):
    """Remove a topic."""
    topics.remove_topic(api_user().id, topic_id)
