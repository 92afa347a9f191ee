"""Page: the delayed re-check of a turn I taught ("how simply could you now?")."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from wtforms import RadioField
from wtforms.validators import InputRequired

from ..domain.recheck import NOT_A_SIMPLICITY, SCALE_WORDS, SIMPLICITY_SCALE
from ..models import utcnow
from ..services import recheck
from ..services.errors import AlreadyRated, Invalid, WrongPhase
from .forms import AllyForm, SelectChoice

bp = Blueprint("recheck", __name__)
# Refusals the page shows as a message beside the form (NotFound is a 404 page).
RECHECK_ERRORS = (Invalid, AlreadyRated, WrongPhase)
MESSAGE = NOT_A_SIMPLICITY[0].upper() + NOT_A_SIMPLICITY[1:]


class RecheckForm(AllyForm):
    """The 1-5 scale, and CSRF."""

    simplicity = RadioField(
        "How simply could you explain it now?",
        choices=[SelectChoice(value, SCALE_WORDS[value]) for value in SIMPLICITY_SCALE],
        coerce=int,
        validators=[InputRequired(message=MESSAGE)],
    )


@bp.route("/turns/<int:turn_id>/recheck", methods=["GET", "POST"])
@login_required
def show(turn_id: int):
    """Ask the re-check's question (GET), save the answer (POST)."""
    now = utcnow()
    view = recheck.get_recheck(current_user.id, turn_id, now)
    form = RecheckForm()
    error, status = None, 200
    if form.is_submitted():
        if not form.validate():
            error, status = MESSAGE, 400
        else:
            try:
                recheck.recheck(current_user.id, turn_id, form.simplicity.data, now)
            except RECHECK_ERRORS as refused:
                error, status = refused.message, refused.status
                view = recheck.get_recheck(current_user.id, turn_id, now)
            else:
                flash("Re-check saved. It counts in your review's calibration.")
                return redirect(url_for("recheck.show", turn_id=turn_id))
    refused = recheck.refusal(view)
    return render_template(
        "recheck.html",
        view=view,
        form=form,
        error=error,
        closed=refused.message if refused is not None and not view.done else None,
    ), status
