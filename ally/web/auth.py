"""Pages: sign up, log in, log out, and a forgotten password."""

from __future__ import annotations

import logging

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ..domain.passwords import MAX_LENGTH, MIN_LENGTH
from ..domain.timezones import ALL_TIMEZONES
from ..extensions import limiter
from ..models import User, utcnow
from ..services import accounts, mailer, password_reset
from ..services.errors import RateLimited, Unauthorized
from .forms import AllyForm, LoginForm, RegisterForm
from .helpers import FORM_ERRORS, attach_error, auth_rate_limit, redirect_back

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)


class ForgotPasswordForm(AllyForm):
    """Ask for a password-reset link."""

    email = StringField("Email", validators=[DataRequired(), Length(max=254)])


class ResetPasswordForm(AllyForm):
    """Choose a new password through a reset link."""

    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(min=MIN_LENGTH, max=MAX_LENGTH)],
    )
    confirm = PasswordField(
        "Repeat new password",
        validators=[DataRequired(), EqualTo("password", "The passwords differ.")],
    )


def _start_login(user: User, remember: bool) -> None:
    """Log in with a fresh cookie session (no fixation of a pre-login session),
    as a new login of the user's that logout can end."""
    session.clear()
    accounts.start_login(user)
    login_user(user, remember=remember)


def send_reset_mail(mail: password_reset.ResetMail | None) -> None:
    """E-mail a reset link, in the background (nothing when `mail` is None)."""
    if mail is None:
        return
    base = current_app.config.get("ALLY_BASE_URL", "").rstrip("/")
    if not base:
        # The request's Host header is the client's to choose: a link built
        # from it could carry the token to someone else's site.
        log.error("ALLY_BASE_URL is not set: no password-reset e-mail is sent")
        return
    link = base + url_for("auth.reset_password", token=mail.token)
    mailer.send_later(mail.to, password_reset.SUBJECT, password_reset.mail_text(link))


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
    status = 200
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data)
        except RateLimited as error:
            flash(error.message, "error")
            status = 429
        except Unauthorized as error:
            flash(error.message, "error")
        else:
            _start_login(user, remember=form.remember.data)
            return redirect_back("dashboard.index")
    if status == 200 and form.is_submitted():
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Log out of this browser: this login ends on the server too."""
    # CSRFProtect has already checked the token of this POST. Clear the session
    # first: logout_user() leaves a flag in it that deletes the remember cookie.
    accounts.end_login(current_user.id, current_user.login_id)
    session.clear()
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("dashboard.index"))


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit(auth_rate_limit, methods=["POST"])
def forgot_password():
    """Ask for a link to choose a new password (the same answer for any address)."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        send_reset_mail(password_reset.request_reset(form.email.data, utcnow()))
        flash(password_reset.SENT, "info")
        return redirect(url_for("auth.forgot_password"))
    status = 400 if form.errors else 200
    return render_template("auth/forgot.html", form=form), status


@bp.route("/reset/<token>", methods=["GET", "POST"])
@limiter.limit(auth_rate_limit, methods=["POST"])
def reset_password(token: str):
    """Choose a new password through an e-mailed link; logs in, and every
    other login of the account ends."""
    form = ResetPasswordForm()
    try:
        password_reset.check_token(token, utcnow())
    except password_reset.InvalidToken as error:
        return render_template("auth/reset.html", form=None, message=error.message), 400
    if form.validate_on_submit():
        try:
            user = password_reset.confirm_reset(token, form.password.data, utcnow())
        except password_reset.InvalidToken as error:
            return render_template(
                "auth/reset.html", form=None, message=error.message
            ), 400
        except FORM_ERRORS as error:
            attach_error(form, error)
        else:
            _start_login(user, remember=False)
            flash("Password changed. Every other login has ended.", "success")
            return redirect(url_for("dashboard.index"))
    status = 400 if form.errors else 200
    return render_template("auth/reset.html", form=form, message=None), status
