"""API: partnerships."""

from __future__ import annotations

from ...models import utcnow
from ...services import partnerships
from .base import ApiBlueprint, api_user, login_required, require_json_object
from .presenters import partnership_json
from .schemas import PartnershipList, PartnershipOut, PartnershipPatch

blp = ApiBlueprint("api_partnerships", __name__, description="Partnerships")
blp.before_request(require_json_object)


@blp.route("/partnerships", methods=["GET"])
@login_required
@blp.response(200, PartnershipList)
def list_partnerships():
    """The caller's partnerships, newest first (ended ones included)."""
    me = api_user()
    return {
        "items": [
            partnership_json(p, me) for p in partnerships.list_partnerships(me.id)
        ]
    }


@blp.route("/partnerships/<int:partnership_id>", methods=["GET"])
@login_required
@blp.response(200, PartnershipOut)
def get_partnership(partnership_id: int):
    """One of the caller's partnerships."""
    me = api_user()
    return partnership_json(partnerships.get_partnership(me.id, partnership_id), me)


@blp.route("/partnerships/<int:partnership_id>", methods=["PATCH"])
@login_required
@blp.arguments(PartnershipPatch)
@blp.response(200, PartnershipOut)
@blp.alt_response(202, schema=PartnershipOut, description="Proposed to the partner")
def patch_partnership(body, partnership_id: int):
    """Change a partnership: schedule changes need the partner's agreement (202)."""
    me = api_user()
    partnership, pending = partnerships.update_partnership(me.id, partnership_id, body)
    status = 202 if pending and _schedule_in(body) else 200
    return partnership_json(partnership, me), status


@blp.route("/partnerships/<int:partnership_id>", methods=["DELETE"])
@login_required
@blp.response(200, PartnershipOut)
def end_partnership(partnership_id: int):
    """End a partnership for both partners."""
    me = api_user()
    return partnership_json(
        partnerships.end_partnership(me.id, partnership_id, utcnow()), me
    )


def _schedule_in(body: dict) -> bool:
    return any(name in body for name in partnerships.SCHEDULE_FIELDS)
