"""API: register, tokens, and the caller's own profile."""

from __future__ import annotations

from ...extensions import limiter
from ...services import accounts, profiles, tokens
from ..helpers import auth_rate_limit
from .base import ApiBlueprint, api_user, login_required, require_json_object
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
    """Change the password; other logins end, API tokens stay."""
    accounts.change_password(
        api_user().id, body["current_password"], body["new_password"]
    )
