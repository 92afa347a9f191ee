"""Pages: find a partner, partner requests, blocks."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..models import utcnow
from ..services import partners
from .converters import MAX_ID
from .forms import PartnerRequestForm, SuggestionFilterForm
from .helpers import FORM_ERRORS, first_form_error

bp = Blueprint("partners", __name__)


@bp.route("/partners")
@login_required
def suggestions():
    """Compatible partners, best first, with filters."""
    filters = SuggestionFilterForm(request.args)
    if request.args and not filters.validate():
        flash(first_form_error(filters) or "Check the filters.", "error")
        result = None
    else:
        result = partners.suggest_partners(
            current_user.id,
            utcnow(),
            exam=filters.exam.data or None,
            subject=filters.subject.data or None,
            min_overlap=filters.min_overlap.data or 0,
        )
    status = 400 if result is None else 200
    return render_template(
        "partners.html",
        filters=filters,
        result=result,
        request_form=PartnerRequestForm(formdata=None),
        profile=current_user.profile,
    ), status


@bp.route("/partners/request", methods=["POST"])
@login_required
def send_request():
    """Send a partner request with a message."""
    form = PartnerRequestForm()
    raw_id = str(form.to_user_id.data or "")
    if not form.validate_on_submit() or not raw_id.isdigit() or int(raw_id) > MAX_ID:
        flash(first_form_error(form) or "Choose a student first.", "error")
        return redirect(url_for("partners.suggestions"))
    try:
        partners.send_request(
            current_user.id, int(form.to_user_id.data), form.message.data, utcnow()
        )
    except FORM_ERRORS as error:
        flash(error.message, "error")
        return redirect(url_for("partners.suggestions"))
    flash("Request sent. You will see here when they answer.", "success")
    return redirect(url_for("partners.requests"))


@bp.route("/requests")
@login_required
def requests():
    """Requests received and sent."""
    items = partners.list_requests(current_user.id, utcnow())
    incoming = [r for r in items if r.to_user_id == current_user.id]
    outgoing = [r for r in items if r.from_user_id == current_user.id]
    return render_template("requests.html", incoming=incoming, outgoing=outgoing)


_ACTIONS = {
    "accept": (partners.accept_request, "Accepted: you have a study partner!"),
    "decline": (partners.decline_request, "Request declined."),
    "cancel": (partners.cancel_request, "Request withdrawn."),
}


@bp.route("/requests/<int:request_id>/<action>", methods=["POST"])
@login_required
def answer(request_id: int, action: str):
    """Accept, decline or cancel a request."""
    if action not in _ACTIONS:
        abort(404)
    service, message = _ACTIONS[action]
    try:
        result = service(current_user.id, request_id, utcnow())
    except FORM_ERRORS as error:
        flash(error.message, "error")
        return redirect(url_for("partners.requests"))
    flash(message, "success")
    if action == "accept":
        return redirect(url_for("partnerships.show", partnership_id=result.id))
    return redirect(url_for("partners.requests"))


@bp.route("/users/<int:user_id>/block", methods=["POST"])
@login_required
def block(user_id: int):
    """Block a user: neither of you will see the other."""
    partners.block_user(current_user.id, user_id, utcnow())
    flash("Blocked. You will not see each other any more.", "info")
    return redirect(url_for("partners.suggestions"))


@bp.route("/users/<int:user_id>/unblock", methods=["POST"])
@login_required
def unblock(user_id: int):
    """Remove a block."""
    partners.unblock_user(current_user.id, user_id)
    flash("Unblocked.", "info")
    return redirect(url_for("account.settings"))
