"""API: register, tokens, password reset, and the caller's own profile."""

from __future__ import annotations

import marshmallow as ma
from flask import session
from flask_login import login_user
from marshmallow import validate

from ...domain.passwords import MAX_LENGTH
from ...extensions import limiter
from ...models import utcnow
from ...services import accounts, password_reset, profiles, tokens
from ..auth import send_reset_mail
from ..helpers import auth_rate_limit
from .base import (
    ApiBlueprint,
    String,
    api_user,
    login_required,
    require_json_object,
)
from .presenters import me_json
from .schemas import (
    DeleteMeIn,
    MeOut,
    PasswordIn,
    ProfileFields,
    RegisterIn,
    TokenIn,
    TokenList,
    TokenOut,
    UserOut,
)

blp = ApiBlueprint("api_accounts", __name__, description="Accounts and profile")
blp.before_request(require_json_object)


# The password-reset shapes live here, apart from schemas.py.
class PasswordResetIn(ma.Schema):
    email = String(required=True, validate=validate.Length(max=254))


class PasswordResetOut(ma.Schema):
    message = String(
        required=True,
        metadata={"description": "The same sentence whatever the address"},
    )


class PasswordResetConfirmIn(ma.Schema):
    token = String(
        required=True,
        validate=validate.Length(max=password_reset.MAX_TOKEN),
        metadata={"description": "The last part of the e-mailed /reset/<token> link"},
    )
    password = String(required=True, validate=validate.Length(max=MAX_LENGTH))


@blp.route("/auth/register", methods=["POST"])
@limiter.limit(auth_rate_limit)
@blp.arguments(RegisterIn)
@blp.response(201, UserOut)
def register(body):
    """Create an account."""
    return accounts.register(
        body["email"], body["password"], body["display_name"], body["timezone"]
    )


@blp.route("/auth/token", methods=["POST"])
@limiter.limit(auth_rate_limit)
@blp.arguments(TokenIn)
@blp.response(201, TokenOut)
def create_token(body):
    """Trade email and password for a bearer token."""
    user = accounts.authenticate(body["email"], body["password"])
    token, raw = tokens.create_token(user.id, body.get("name") or "API token")
    return {"token": raw, "id": token.id, "name": token.name}


@blp.route("/auth/password-reset", methods=["POST"])
@limiter.limit(auth_rate_limit)
@blp.arguments(PasswordResetIn)
@blp.response(202, PasswordResetOut)
def request_password_reset(body):
    """E-mail a one-time link (valid an hour) to choose a new password.

    The answer is the same whether or not an account uses the address."""
    send_reset_mail(password_reset.request_reset(body["email"], utcnow()))
    return {"message": password_reset.SENT}


@blp.route("/auth/password-reset/confirm", methods=["POST"])
@limiter.limit(auth_rate_limit)
@blp.arguments(PasswordResetConfirmIn)
@blp.response(204)
@blp.alt_response(
    400,
    schema="Error",
    description="invalid_token: the link is unknown, used, replaced or over an "
    "hour old; invalid: the password breaks a rule (field: password)",
)
def confirm_password_reset(body):
    """Choose a new password with an e-mailed token: the token is spent, and
    every login and cookie socket of the account ends (API tokens stay)."""
    password_reset.confirm_reset(body["token"], body["password"], utcnow())


@blp.route("/tokens", methods=["GET"])
@login_required
@blp.response(200, TokenList)
def list_tokens():
    """The caller's API tokens (never their values)."""
    return {"items": tokens.list_tokens(api_user().id)}


@blp.route("/tokens/<int:token_id>", methods=["DELETE"])
@login_required
@blp.response(204)
def revoke_token(token_id: int):
    """Revoke one of the caller's tokens."""
    tokens.revoke_token(api_user().id, token_id)


@blp.route("/me", methods=["GET"])
@login_required
@blp.response(200, MeOut)
def get_me():
    """The caller's account and profile."""
    return me_json(api_user())


@blp.route("/me", methods=["PATCH"])
@login_required
@blp.arguments(ProfileFields)
@blp.response(200, MeOut)
def patch_me(body):
    """Change any profile fields; the rest stay as they are."""
    profiles.update_profile(api_user().id, body)
    return me_json(api_user())


@blp.route("/me", methods=["DELETE"])
@login_required
@blp.arguments(DeleteMeIn)
@blp.response(204)
def delete_me(body):
    """Delete the caller's account (password required)."""
    accounts.delete_account(api_user().id, body["password"])


@blp.route("/me/password", methods=["POST"])
@login_required
@blp.arguments(PasswordIn)
@blp.response(204)
def change_password(body):
    """Change the password; other logins end (a cookie caller gets a new
    login), API tokens stay."""
    user = api_user()
    by_cookie = user.login_id is not None
    accounts.change_password(user.id, body["current_password"], body["new_password"])
    if by_cookie:
        # Every login ended, the caller's too: its browser starts a new one.
        session.clear()
        accounts.start_login(user)
        login_user(user)
