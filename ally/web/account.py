"""Pages: password, logins, API tokens, blocked users, deleting the account."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from ..services import accounts, calendar, partners, tokens
from .forms import (
    ChangePasswordForm,
    DeleteAccountForm,
    NotificationSettingsForm,
    TokenForm,
)
from .helpers import FORM_ERRORS, attach_error, first_form_error

bp = Blueprint("account", __name__)


def _remember_cookie_name() -> str:
    """The name of Flask-Login's remember cookie."""
    return current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token")


def _render(status: int = 200, new_token: str | None = None, **forms):
    forms.setdefault("password_form", ChangePasswordForm(formdata=None))
    forms.setdefault("token_form", TokenForm(formdata=None))
    forms.setdefault("delete_form", DeleteAccountForm(formdata=None))
    forms.setdefault(
        "settings_form",
        NotificationSettingsForm(
            formdata=None,
            reminder_minutes=current_user.reminder_minutes,
            email_notifications=current_user.email_notifications,
            reteach_reminders=current_user.reteach_reminders,
        ),
    )
    feed = current_user.calendar_token
    return render_template(
        "account.html",
        feed_url=url_for("sessions.feed", token=feed, _external=True) if feed else None,
        tokens=tokens.list_tokens(current_user.id),
        blocks=partners.list_blocks_shown(current_user.id),
        new_token=new_token,
        **forms,
    ), status


@bp.route("/account")
@login_required
def settings():
    """Account settings."""
    return _render()


@bp.route("/account/password", methods=["POST"])
@login_required
def change_password():
    """Change the password; other browsers and devices are logged out."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            user = accounts.change_password(
                current_user.id, form.current_password.data, form.new_password.data
            )
        except FORM_ERRORS as error:
            attach_error(form, error)
        else:
            # Every login ended, this one too (a stolen copy of this cookie must
            # not outlive the old password): this browser starts a new login,
            # remembered again if it was.
            remembered = _remember_cookie_name() in request.cookies
            session.clear()
            accounts.start_login(user)
            login_user(user, remember=remembered)
            flash("Password changed. Other devices have been logged out.", "success")
            return redirect(url_for("account.settings"))
    return _render(400, password_form=form)


@bp.route("/account/logout-everywhere", methods=["POST"])
@login_required
def logout_everywhere():
    """End every login of the account, this one too, and revoke its API tokens."""
    accounts.log_out_everywhere(current_user.id)
    # Clear first: logout_user() flags the remember cookie for deletion.
    session.clear()
    logout_user()
    flash("You are logged out everywhere, and your API tokens are revoked.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/tokens", methods=["POST"])
@login_required
def create_token():
    """Create an API token and show it once."""
    form = TokenForm()
    if not form.validate_on_submit():
        flash(first_form_error(form) or "Check the token name.", "error")
        return _render(400, token_form=form)
    try:
        _, raw = tokens.create_token(current_user.id, form.name.data)
    except FORM_ERRORS as error:
        flash(error.message, "error")
        return _render(400, token_form=form)
    return _render(201, new_token=raw)


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    """Revoke an API token."""
    tokens.revoke_token(current_user.id, token_id)
    flash("Token revoked.", "info")
    return redirect(url_for("account.settings"))


@bp.route("/account/delete", methods=["POST"])
@login_required
def delete():
    """Delete the account after confirming the password."""
    form = DeleteAccountForm()
    if form.validate_on_submit():
        try:
            accounts.delete_account(current_user.id, form.password.data)
        except FORM_ERRORS as error:
            attach_error(form, error)
        else:
            # Clear first: logout_user() flags the remember cookie for deletion.
            session.clear()
            logout_user()
            flash("Your account has been deleted.", "info")
            return redirect(url_for("dashboard.index"))
    return _render(400, delete_form=form)


@bp.route("/account/notifications", methods=["POST"])
@login_required
def notification_settings():
    """Save when to be reminded and whether to get e-mail."""
    form = NotificationSettingsForm()
    if not form.validate_on_submit():
        flash(first_form_error(form) or "Check the settings.", "error")
        return _render(400, settings_form=form)
    try:
        accounts.update_notification_settings(
            current_user.id,
            form.reminder_minutes.data,
            bool(form.email_notifications.data),
            bool(form.reteach_reminders.data),
        )
    except FORM_ERRORS as error:
        attach_error(form, error)
        return _render(400, settings_form=form)
    flash("Notification settings saved.", "success")
    return redirect(url_for("account.settings") + "#notifications")


@bp.route("/account/calendar", methods=["POST"])
@login_required
def calendar_feed():
    """Create the private calendar feed, or replace its address (the old one dies)."""
    if current_user.calendar_token:
        calendar.reset_feed_token(current_user.id)
        flash("New calendar address made; the old one no longer works.", "success")
    else:
        calendar.feed_token(current_user.id)
        flash("Calendar feed ready: subscribe to its address.", "success")
    return redirect(url_for("account.settings") + "#calendar")


@bp.route("/account/calendar/revoke", methods=["POST"])
@login_required
def revoke_calendar_feed():
    """Turn the calendar feed off."""
    calendar.revoke_feed_token(current_user.id)
    flash("Calendar feed turned off.", "info")
    return redirect(url_for("account.settings") + "#calendar")
