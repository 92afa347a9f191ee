"""Password reset by e-mail: pages and API, one-time hashed links valid an
hour, and nothing said about which addresses have accounts."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from ally.extensions import db
from ally.models import PasswordReset, User, utcnow
from ally.services import login_limits, password_reset
from tests.conftest import PASSWORD, Browser, csrf_from

API = "/api/v1"
BASE = "https://ally.example"
NEW = "a brand new passphrase"
# Each request in its own app context: several clients (browsers) per test.
pytestmark = pytest.mark.usefixtures("isolated_requests")
LINK = re.compile(re.escape(BASE) + r"/reset/([A-Za-z0-9_-]+)")


@dataclass
class Sink:
    """What a local SMTP server received."""

    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd
        with self.lock:
            self.messages.append(
                (list(envelope.rcpt_tos), message_from_bytes(envelope.content))
            )
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for rcpts, m in self.messages if address in rcpts]

    def wait_for(self, address: str, count: int = 1) -> list[Message]:
        """The messages to `address` once there are `count` (the app sends in
        the background); fails after 10 s."""
        deadline = time.monotonic() + 10
        while len(self.to(address)) < count:
            assert time.monotonic() < deadline, f"no e-mail to {address}"
            time.sleep(0.01)
        return self.to(address)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app):
    """A local SMTP server the app sends to, and the site's base URL set."""
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    app.config.update(
        ALLY_SMTP_HOST="127.0.0.1", ALLY_SMTP_PORT=controller.port, ALLY_BASE_URL=BASE
    )
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def ana(make_user) -> User:
    return make_user("ana@example.com", display_name="Ana")


def body(message: Message) -> str:
    return message.get_payload(decode=True).decode()


def ask_on_page(app, email: str):
    browser = Browser(app.test_client())
    token = csrf_from(browser.client.get("/forgot").get_data(as_text=True))
    return browser.client.post(
        "/forgot",
        data={"email": email, "csrf_token": token},
        follow_redirects=True,
    )


def link_token(smtp: Sink, address: str, count: int = 1) -> str:
    message = smtp.wait_for(address, count)[count - 1]
    assert message["Subject"] == password_reset.SUBJECT
    match = LINK.search(body(message))
    assert match, body(message)
    return match.group(1)


def resets() -> list[PasswordReset]:
    db.session.expire_all()
    return list(db.session.scalars(select(PasswordReset)))


def can_log_in(app, password: str) -> bool:
    return (
        Browser(app.test_client()).login("ana@example.com", password).status_code == 302
    )


# --- asking for a link ------------------------------------------------------------


def test_the_login_page_links_to_the_forgotten_password_page(app):
    page = app.test_client().get("/login").get_data(as_text=True)
    assert 'href="/forgot"' in page and "Forgot your password?" in page


def test_the_answer_is_the_same_for_known_and_unknown_addresses(app, ana, smtp):
    known = ask_on_page(app, "ana@example.com")
    unknown = ask_on_page(app, "nobody@example.com")
    invalid = ask_on_page(app, "not an address")

    assert known.status_code == unknown.status_code == invalid.status_code == 200
    for response in (known, unknown, invalid):
        assert password_reset.SENT in response.get_data(as_text=True)
    assert len(smtp.wait_for("ana@example.com")) == 1
    api = [
        app.test_client().post(f"{API}/auth/password-reset", json={"email": email})
        for email in ("ana@example.com", "nobody@example.com", "x")
    ]
    assert {r.status_code for r in api} == {202}
    assert {r.get_data() for r in api} == {api[0].get_data()}
    assert api[0].get_json() == {"message": password_reset.SENT}
    smtp.wait_for("ana@example.com", 2)
    assert smtp.to("nobody@example.com") == []


def test_only_the_tokens_digest_is_stored_with_an_hours_validity(app, ana, smtp):
    before = utcnow()
    ask_on_page(app, "ana@example.com")
    token = link_token(smtp, "ana@example.com")

    [reset] = resets()
    assert reset.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in reset.token_hash
    assert reset.used_at is None
    assert (
        timedelta(minutes=59)
        < reset.expires_at - before
        <= timedelta(hours=1, seconds=5)
    )


def test_the_link_uses_the_configured_address_not_the_host_header(app, ana, smtp):
    app.test_client().post(
        f"{API}/auth/password-reset",
        json={"email": "ana@example.com"},
        headers={"Host": "evil.example"},
    )
    assert BASE + "/reset/" in body(smtp.wait_for("ana@example.com")[0])
    assert "evil.example" not in body(smtp.to("ana@example.com")[0])


def test_without_a_base_url_no_link_is_sent(app, ana, smtp, caplog):
    app.config["ALLY_BASE_URL"] = ""
    response = ask_on_page(app, "ana@example.com")
    assert password_reset.SENT in response.get_data(as_text=True)
    assert "ALLY_BASE_URL" in caplog.text
    assert smtp.to("ana@example.com") == []


def test_reset_mails_are_limited_per_account(app, ana, smtp):
    for _ in range(login_limits.RESET_MAILS + 2):
        response = app.test_client().post(
            f"{API}/auth/password-reset", json={"email": "ana@example.com"}
        )
        assert response.status_code == 202
    smtp.wait_for("ana@example.com", login_limits.RESET_MAILS)
    # The extra requests were answered the same, and sent nothing more.
    assert len(resets()) == 1  # each new link replaced the one before


# --- using the link -----------------------------------------------------------------


def test_the_link_sets_a_new_password_logs_in_and_ends_other_logins(app, ana, smtp):
    elsewhere = Browser(app.test_client())
    assert elsewhere.login("ana@example.com").status_code == 302
    ask_on_page(app, "ana@example.com")
    token = link_token(smtp, "ana@example.com")

    browser = Browser(app.test_client())
    page = browser.client.get(f"/reset/{token}")
    assert page.status_code == 200
    response = browser.client.post(
        f"/reset/{token}",
        data={
            "password": NEW,
            "confirm": NEW,
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )

    assert response.status_code == 302
    assert browser.client.get("/account").status_code == 200  # logged in
    assert elsewhere.client.get("/account").status_code == 302  # ended
    assert can_log_in(app, NEW) and not can_log_in(app, PASSWORD)
    # Used once.
    again = Browser(app.test_client()).client.get(f"/reset/{token}")
    assert again.status_code == 400
    assert password_reset.BAD_LINK in again.get_data(as_text=True)


def test_a_weak_password_is_refused_and_the_link_still_works(app, ana, smtp):
    ask_on_page(app, "ana@example.com")
    token = link_token(smtp, "ana@example.com")
    browser = Browser(app.test_client())
    csrf = csrf_from(browser.client.get(f"/reset/{token}").get_data(as_text=True))

    weak = browser.client.post(
        f"/reset/{token}",
        data={"password": "password1", "confirm": "password1", "csrf_token": csrf},
    )

    assert weak.status_code == 400
    assert 'aria-invalid="true"' in weak.get_data(as_text=True)
    assert can_log_in(app, PASSWORD)
    assert resets()[0].used_at is None


def test_the_api_confirms_once(app, ana, smtp):
    client = app.test_client()
    client.post(f"{API}/auth/password-reset", json={"email": "ana@example.com"})
    token = link_token(smtp, "ana@example.com")

    weak = client.post(
        f"{API}/auth/password-reset/confirm", json={"token": token, "password": "short"}
    )
    assert weak.status_code == 400
    assert (
        weak.get_json()["error"] == "invalid" and weak.get_json()["field"] == "password"
    )

    done = client.post(
        f"{API}/auth/password-reset/confirm", json={"token": token, "password": NEW}
    )
    assert done.status_code == 204 and done.get_data() == b""
    assert can_log_in(app, NEW)

    again = client.post(
        f"{API}/auth/password-reset/confirm", json={"token": token, "password": NEW}
    )
    assert again.status_code == 400
    assert again.get_json() == {
        "error": "invalid_token",
        "message": password_reset.BAD_LINK,
        "field": "token",
    }


@pytest.mark.parametrize(
    "body",
    [
        {"token": "not-a-real-token", "password": NEW},
        {"token": "", "password": NEW},
        {"token": "x" * 101, "password": NEW},
        {"token": 5, "password": NEW},
        {"password": NEW},
        {"token": "abc"},
        {"token": "abc", "password": NEW, "extra": 1},
    ],
)
def test_bad_confirmations_are_400_and_change_nothing(app, ana, body):
    response = app.test_client().post(f"{API}/auth/password-reset/confirm", json=body)
    assert response.status_code == 400
    assert set(response.get_json()) >= {"error", "message"}
    assert can_log_in(app, PASSWORD)


def test_a_link_over_an_hour_old_is_refused(app, ana):
    mail = password_reset.request_reset(
        "ana@example.com", utcnow() - password_reset.TOKEN_TTL - timedelta(seconds=1)
    )
    response = app.test_client().post(
        f"{API}/auth/password-reset/confirm",
        json={"token": mail.token, "password": NEW},
    )
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_token"
    assert can_log_in(app, PASSWORD)


def test_a_newer_link_replaces_an_older_one(app, ana):
    older = password_reset.request_reset("ana@example.com", utcnow())
    newer = password_reset.request_reset("ana@example.com", utcnow())
    with pytest.raises(password_reset.InvalidToken):
        password_reset.confirm_reset(older.token, NEW, utcnow())
    password_reset.confirm_reset(newer.token, NEW, utcnow())
    assert can_log_in(app, NEW)


def test_a_password_change_kills_open_links(app, ana):
    from ally.services import accounts

    mail = password_reset.request_reset("ana@example.com", utcnow())
    accounts.change_password(ana.id, PASSWORD, NEW)
    with pytest.raises(password_reset.InvalidToken):
        password_reset.confirm_reset(mail.token, "yet another passphrase", utcnow())


def test_a_reset_lifts_a_lock_out(app, ana):
    key = login_limits.account_key("ana@example.com")
    for _ in range(login_limits.LOGIN_FAILURES):
        login_limits.login_failed(key, utcnow())
    assert Browser(app.test_client()).login("ana@example.com").status_code == 429
    mail = password_reset.request_reset("ana@example.com", utcnow())
    password_reset.confirm_reset(mail.token, NEW, utcnow())
    assert can_log_in(app, NEW)


def test_the_api_documents_both_operations(app):
    spec = app.test_client().get(f"{API}/openapi.json").get_json()
    ask = spec["paths"][f"{API}/auth/password-reset"]["post"]
    confirm = spec["paths"][f"{API}/auth/password-reset/confirm"]["post"]
    assert {"202", "400", "413", "415", "429"} <= set(ask["responses"])
    assert {"204", "400", "413", "415", "429"} <= set(confirm["responses"])
    assert ask["security"] == [] and confirm["security"] == []
