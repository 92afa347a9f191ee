"""API: one turn I taught — its delayed re-check."""

from __future__ import annotations

from ...models import utcnow
from ...services import recheck
from .base import ApiBlueprint, api_user, login_required, require_json_object
from .schemas import RecheckIn, RecheckOut

blp = ApiBlueprint("api_turns", __name__, description="Turns I taught")
blp.before_request(require_json_object)


@blp.route("/turns/<int:turn_id>/recheck", methods=["GET"])
@login_required
@blp.response(200, RecheckOut)
def get_recheck(turn_id: int):
    """A turn I taught: its re-check window, state and figures (others: 404)."""
    return vars(recheck.get_recheck(api_user().id, turn_id, utcnow()))


@blp.route("/turns/<int:turn_id>/recheck", methods=["POST"])
@login_required
@blp.arguments(RecheckIn)
@blp.response(200, RecheckOut)
def post_recheck(body, turn_id: int):
    """Re-check a turn I taught: how simply I could explain it now (1-5).

    The turn's teacher only (anyone else: 404), once (409 already_rated), from
    12 hours to 7 days after the turn ended (409 wrong_phase, saying when)."""
    view = recheck.recheck(api_user().id, turn_id, body["simplicity"], utcnow())
    return vars(view)
