"""Display names refuse characters that reorder the text around them."""

from __future__ import annotations

import pytest

from ally.services import accounts
from ally.services.errors import Invalid
from tests.conftest import Browser, csrf_from

BIDI = ["\u202e", "\u202a", "\u202b", "\u202c", "\u202d", "\u2066", "\u2067",
        "\u2068", "\u2069", "\u200e", "\u200f", "\u061c"]  # fmt: skip


@pytest.mark.parametrize("char", BIDI)
def test_the_service_refuses_bidi_controls(app, char):
    with pytest.raises(Invalid) as refused:
        accounts.clean_display_name(f"Ann{char}lanigiro")
    assert refused.value.field == "display_name"
    assert "direction of text" in refused.value.message


def test_ordinary_right_to_left_names_are_fine(app):
    assert accounts.clean_display_name("سارة") == "سارة"
    assert accounts.clean_display_name("דנה כהן") == "דנה כהן"


def test_the_api_refuses_them_at_sign_up_and_in_the_profile(app, make_user, api_token):
    client = app.test_client()
    signup = client.post(
        "/api/v1/auth/register",
        json={
            "email": "eve@example.com",
            "password": "correct horse battery",
            "display_name": "Ann\u202egnp.exe",
            "timezone": "Europe/London",
        },
    )
    assert signup.status_code == 400
    assert signup.get_json()["error"] == "invalid"
    assert signup.get_json()["field"] == "display_name"
    user = make_user("ann@example.com", display_name="Ann")
    patch = client.patch(
        "/api/v1/me", json={"display_name": "\u2067Ann"}, headers=api_token(user)
    )
    assert patch.status_code == 400
    assert patch.get_json()["field"] == "display_name"
    assert (
        client.get("/api/v1/me", headers=api_token(user)).get_json()["display_name"]
        == "Ann"
    )


def test_the_sign_up_form_says_why(app):
    browser = Browser(app.test_client())
    token = csrf_from(browser.client.get("/register").get_data(as_text=True))
    response = browser.client.post(
        "/register",
        data={
            "email": "eve@example.com",
            "display_name": "Ann\u202e",
            "timezone": "Europe/London",
            "password": "correct horse battery",
            "confirm": "correct horse battery",
            "csrf_token": token,
        },
    )
    assert response.status_code == 400
    assert "changes the direction of text" in response.get_data(as_text=True)
