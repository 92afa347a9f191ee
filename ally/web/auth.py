"""Pages: sign up, log in, log out."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..domain.timezones import ALL_TIMEZONES
from ..extensions import limiter
from ..services import accounts
from ..services.errors import Unauthorized
from .forms import LoginForm, RegisterForm
from .helpers import FORM_ERRORS, attach_error, auth_rate_limit, redirect_back

bp = Blueprint("auth", __name__)


def _start_login(user, remember: bool) -> None:
    """Log in with a fresh cookie session (no fixation of a pre-login session)."""
    session.clear()
    login_user(user, remember=remember)


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(auth_rate_limit, methods=["POST"])
def register():
    """Create an account and log in."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = accounts.register(
                form.email.data,
                form.password.data,
                form.display_name.data,
                form.timezone.data,
            )
        except FORM_ERRORS as error:
            attach_error(form, error)
        else:
            _start_login(user, remember=False)
            flash("Welcome to Ally! Tell us when you can study.", "success")
            return redirect(url_for("profile.edit"))
    status = 400 if form.errors else 200
    return render_template(
        "auth/register.html", form=form, timezones=ALL_TIMEZONES
    ), status


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(auth_rate_limit, methods=["POST"])
def login():
    """Log in with email and password."""
    if current_user.is_authenticated:
        return redirect_back("dashboard.index")
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data)
        except Unauthorized as error:
            flash(error.message, "error")
        else:
            _start_login(user, remember=form.remember.data)
            return redirect_back("dashboard.index")
    status = 400 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out of this browser."""
    # CSRFProtect has already checked the token of this POST. Clear the session
    # first: logout_user() leaves a flag in it that deletes the remember cookie.
    if current_user.is_authenticated:
        accounts.logged_out(current_user.id)
    session.clear()
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("dashboard.index"))
