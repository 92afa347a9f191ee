"""API: suggestions, partner requests and blocks."""

from __future__ import annotations

from ...models import utcnow
from ...services import partners
from .base import ApiBlueprint, api_user, login_required, require_json_object
from .presenters import partnership_json, public_user, request_json
from .schemas import (
    AcceptOut,
    BlockIn,
    BlockList,
    PartnerRequestArgs,
    PartnerRequestIn,
    PartnerRequestList,
    PartnerRequestOut,
    SuggestionArgs,
    SuggestionList,
)

blp = ApiBlueprint("api_partners", __name__, description="Finding a partner")
blp.before_request(require_json_object)


@blp.route("/partners/suggestions", methods=["GET"])
@login_required
@blp.arguments(SuggestionArgs, location="query")
@blp.response(200, SuggestionList)
def suggestions(args):
    """Compatible partners, best first, with the reasons in words."""
    result = partners.suggest_partners(
        api_user().id,
        utcnow(),
        exam=args.get("exam"),
        subject=args.get("subject"),
        min_overlap=args.get("min_overlap", 0),
        limit=args.get("limit"),
    )
    items = [
        {
            "user": {
                "id": item.user_id,
                "display_name": item.display_name,
                "timezone": item.timezone,
                "exam": item.exam,
            },
            "score": item.suggestion.score,
            "overlap_minutes": item.suggestion.overlap_minutes,
            "reasons": list(item.suggestion.reasons),
            "pending": item.pending,
        }
        for item in result.items
    ]
    return {"items": items, "at_limit": result.at_limit}


@blp.route("/partner-requests", methods=["GET"])
@login_required
@blp.arguments(PartnerRequestArgs, location="query")
@blp.response(200, PartnerRequestList)
def list_requests(args):
    """Requests the caller sent or received, newest first."""
    me = api_user().id
    items = partners.list_requests(me, utcnow(), status=args.get("status"))
    return {"items": [request_json(r, me) for r in items]}


@blp.route("/partner-requests", methods=["POST"])
@login_required
@blp.arguments(PartnerRequestIn)
@blp.response(201, PartnerRequestOut)
def send_request(body):
    """Ask another student to be partners."""
    me = api_user().id
    request = partners.send_request(
        me, body["to_user_id"], body.get("message"), utcnow()
    )
    return request_json(request, me)


@blp.route("/partner-requests/<int:request_id>/accept", methods=["POST"])
@login_required
@blp.response(200, AcceptOut)
def accept(request_id: int):
    """Accept a request sent to the caller: the partnership starts."""
    partnership = partners.accept_request(api_user().id, request_id, utcnow())
    return {"partnership": partnership_json(partnership, api_user())}


@blp.route("/partner-requests/<int:request_id>/decline", methods=["POST"])
@login_required
@blp.response(200, PartnerRequestOut)
def decline(request_id: int):
    """Decline a request sent to the caller."""
    request = partners.decline_request(api_user().id, request_id, utcnow())
    return request_json(request, api_user().id)


@blp.route("/partner-requests/<int:request_id>/cancel", methods=["POST"])
@login_required
@blp.response(200, PartnerRequestOut)
def cancel(request_id: int):
    """Withdraw a request the caller sent."""
    request = partners.cancel_request(api_user().id, request_id, utcnow())
    return request_json(request, api_user().id)


@blp.route("/blocks", methods=["GET"])
@login_required
@blp.response(200, BlockList)
def list_blocks():
    """Users the caller has blocked: named only if the caller has had a request
    or partnership with them, else just their id."""
    items = partners.list_blocks_shown(api_user().id)
    return {
        "items": [
            {
                "user": public_user(b.user) if b.user else {"id": b.user_id},
                "created_at": b.created_at,
            }
            for b in items
        ]
    }


@blp.route("/blocks", methods=["POST"])
@login_required
@blp.arguments(BlockIn)
@blp.response(204)
def block(body):
    """Block a user: both are hidden from each other. The same answer for an
    id with no account (nothing is stored for it)."""
    partners.block_user(api_user().id, body["user_id"], utcnow())


@blp.route("/blocks/<int:user_id>", methods=["DELETE"])
@login_required
@blp.response(204)
def unblock(user_id: int):
    """Remove a block."""
    partners.unblock_user(api_user().id, user_id)
