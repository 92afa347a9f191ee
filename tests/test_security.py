"""Account security over the pages: CSRF, rate limits, sessions, redirects, headers."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from ally.extensions import db
from ally.models import Partnership, Topic, User
from tests.conftest import PASSWORD, Browser, csrf_from

# Every request in its own app context (see tests.conftest.IsolatedClient).
pytestmark = pytest.mark.usefixtures("isolated_requests")

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def count(model, *where) -> int:
    """Rows of a model matching the conditions, read fresh from the database."""
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def text_of(response) -> str:
    return response.get_data(as_text=True)


def logged_in(client: FlaskClient) -> bool:
    """Whether the client's cookies log it in (a login-only page answers 200)."""
    return client.get("/account").status_code == 200


# --- CSRF ------------------------------------------------------------------------


def test_login_without_csrf_token_is_refused(app, make_user, client):
    make_user("ana@example.com")

    response = client.post(
        "/login", data={"email": "ana@example.com", "password": PASSWORD}
    )

    assert response.status_code == 400
    assert "The form expired or came from elsewhere" in text_of(response)
    assert not logged_in(client)


def test_login_with_another_sessions_csrf_token_is_refused(app, make_user, client):
    make_user("ana@example.com")
    foreign = csrf_from(text_of(app.test_client().get("/login")))

    response = client.post(
        "/login",
        data={"email": "ana@example.com", "password": PASSWORD, "csrf_token": foreign},
    )

    assert response.status_code == 400
    assert not logged_in(client)


def test_profile_post_without_csrf_token_writes_nothing(app, make_user, browser_client):
    user = make_user("ana@example.com", display_name="Ana")
    browser_client.login("ana@example.com")

    response = browser_client.client.post(
        "/profile",
        data={"display_name": "Mallory", "timezone": "Asia/Tokyo", "exam": "Other"},
    )

    assert response.status_code == 400
    db.session.expire_all()
    stored = db.session.get(User, user.id)
    assert (stored.display_name, stored.timezone) == ("Ana", "Europe/London")
    assert stored.profile.exam == "USMLE Step 1"


def test_topic_post_without_csrf_token_writes_nothing(app, make_user, browser_client):
    user = make_user("ana@example.com")
    browser_client.login("ana@example.com")

    response = browser_client.client.post("/topics", data={"title": "Renal"})

    assert response.status_code == 400
    assert count(Topic, Topic.user_id == user.id) == 0


def test_register_without_csrf_token_creates_no_account(app, client):
    response = client.post(
        "/register",
        data={
            "email": "ana@example.com",
            "display_name": "Ana",
            "timezone": "Europe/Lisbon",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )

    assert response.status_code == 400
    assert count(User) == 0


def test_logout_without_csrf_token_keeps_the_login(app, make_user, browser_client):
    make_user("ana@example.com")
    browser_client.login("ana@example.com")

    assert browser_client.client.post("/logout").status_code == 400
    assert logged_in(browser_client.client)


# --- rate limit ------------------------------------------------------------------


def test_login_is_rate_limited(make_app, make_user):
    limited = make_app(RATELIMIT_ENABLED=True, ALLY_AUTH_RATE_LIMIT="3 per minute")
    client = limited.test_client()
    token = csrf_from(text_of(client.get("/login")))
    form = {"email": "ana@example.com", "password": "wrong", "csrf_token": token}

    statuses = [client.post("/login", data=form).status_code for _ in range(4)]

    assert statuses == [400, 400, 400, 429]
    refused = client.post("/login", data=form)
    assert refused.status_code == 429
    assert "Too many attempts" in text_of(refused)
    # Reading the page is not limited, only the attempts.
    assert client.get("/login").status_code == 200


def test_register_is_rate_limited(make_app):
    limited = make_app(RATELIMIT_ENABLED=True, ALLY_AUTH_RATE_LIMIT="2 per minute")
    client = limited.test_client()
    token = csrf_from(text_of(client.get("/register")))
    form = {"email": "not an email", "csrf_token": token}

    statuses = [client.post("/register", data=form).status_code for _ in range(3)]

    assert statuses == [400, 400, 429]


# --- session fixation ------------------------------------------------------------


def test_login_starts_a_fresh_session(app, make_user, browser_client):
    user = make_user("ana@example.com")
    token = browser_client.csrf("/login")
    with browser_client.client.session_transaction() as session:
        session["planted"] = "x"
        before = session["csrf_token"]

    response = browser_client.client.post(
        "/login",
        data={"email": "ana@example.com", "password": PASSWORD, "csrf_token": token},
    )

    assert response.status_code == 302
    with browser_client.client.session_transaction() as session:
        assert "planted" not in session
        # The id names a login of this user (services.accounts.start_login).
        assert session["_user_id"].startswith(f"{user.id}:")
    # The logged-in session gets a CSRF token of its own.
    browser_client.client.get("/account")
    with browser_client.client.session_transaction() as session:
        assert session["csrf_token"] != before


# --- open redirects via next -----------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "///evil.example",
        "/\tevil.example",
        "http:/evil.example",
        "",
    ],
)
def test_next_outside_the_site_redirects_home(app, make_user, browser_client, target):
    make_user("ana@example.com")

    response = browser_client.login("ana@example.com", next=target)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
    ],
)
def test_next_in_the_query_string_is_checked_too(app, make_user, client, target):
    make_user("ana@example.com")
    page = client.get("/login", query_string={"next": target})
    token = csrf_from(text_of(page))

    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": "ana@example.com", "password": PASSWORD, "csrf_token": token},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_within_the_site_is_kept(app, make_user, browser_client):
    make_user("ana@example.com")

    response = browser_client.login("ana@example.com", next="/profile")

    assert response.status_code == 302
    assert response.headers["Location"] == "/profile"


def test_logged_in_visit_to_login_ignores_a_foreign_next(
    app, make_user, browser_client
):
    make_user("ana@example.com")
    browser_client.login("ana@example.com")

    response = browser_client.client.get("/login?next=//evil.example")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_next_is_escaped_in_the_login_page(app, client):
    page = text_of(client.get("/login", query_string={"next": '/x"><b>hi</b>'}))

    assert "<b>hi</b>" not in page
    assert 'value="/x&#34;&gt;&lt;b&gt;hi&lt;/b&gt;"' in page


# --- enumeration -----------------------------------------------------------------


def _visible(html: str, email: str) -> str:
    """The page with per-request noise (CSRF token, the typed email) blanked."""
    html = re.sub(r'(name="csrf_token"[^>]*value=")[^"]+', r"\1TOKEN", html)
    return html.replace(email, "EMAIL")


def test_unknown_email_and_wrong_password_answer_the_same(
    app, make_user, browser_client
):
    make_user("ana@example.com")

    unknown = browser_client.login("nobody@example.com", PASSWORD)
    wrong = browser_client.login("ana@example.com", "not the password")

    assert unknown.status_code == wrong.status_code == 400
    assert "Wrong email or password." in text_of(unknown)
    assert _visible(text_of(unknown), "nobody@example.com") == _visible(
        text_of(wrong), "ana@example.com"
    )
    assert not logged_in(browser_client.client)


def test_malformed_email_answers_like_a_wrong_password(app, make_user, browser_client):
    make_user("ana@example.com")

    malformed = browser_client.login("not-an-email", PASSWORD)
    wrong = browser_client.login("ana@example.com", "not the password")

    assert malformed.status_code == wrong.status_code == 400
    assert _visible(text_of(malformed), "not-an-email") == _visible(
        text_of(wrong), "ana@example.com"
    )


# --- security headers ------------------------------------------------------------


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = words[1:]
    return directives


def assert_security_headers(response) -> None:
    csp = csp_directives(response.headers["Content-Security-Policy"])
    script_src = csp.get("script-src", csp.get("default-src"))
    assert script_src == ["'self'"]
    assert "'unsafe-inline'" not in csp.get("style-src", [])
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in {
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
        "no-referrer",
    }


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/no-such-page"])
def test_security_headers_on_anonymous_pages(app, client, path):
    assert_security_headers(client.get(path))


@pytest.mark.parametrize(
    "path", ["/", "/profile", "/account", "/partners", "/requests", "/logout"]
)
def test_security_headers_on_logged_in_pages(app, make_user, browser_client, path):
    make_user("ana@example.com")
    browser_client.login("ana@example.com")

    assert_security_headers(browser_client.client.get(path))


def test_security_headers_on_a_csrf_refusal(app, client):
    response = client.post("/login", data={})

    assert response.status_code == 400
    assert_security_headers(response)


# --- no inline script ------------------------------------------------------------


class ScriptScanner(HTMLParser):
    """Collects inline scripts and inline event handlers of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.problems.append(f"inline <script> at line {self.getpos()[0]}")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"{name}= on <{tag}> at line {self.getpos()[0]}")
            if name == "style":
                self.problems.append(f"style= on <{tag}> at line {self.getpos()[0]}")
            if (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL at line {self.getpos()[0]}")
        if tag == "style":
            self.problems.append(f"<style> block at line {self.getpos()[0]}")


def scan(html: str) -> list[str]:
    scanner = ScriptScanner()
    scanner.feed(html)
    return scanner.problems


def test_the_scanner_finds_inline_script_and_handlers():
    html = '<script>x()</script><a onclick="x()" href="javascript:x()">x</a>'

    assert len(scan(html)) == 3
    assert scan('<script type="module" src="/static/js/app.js"></script>') == []


TEMPLATE_FILES = sorted(TEMPLATES.rglob("*.html"))


def test_there_are_templates_to_scan():
    names = {path.name for path in TEMPLATE_FILES}
    assert {"base.html", "profile.html", "login.html"} <= names


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.name)
def test_templates_have_no_inline_script_or_handlers(path):
    source = path.read_text()

    assert re.findall(r"<script\b(?![^>]*\bsrc=)[^>]*>", source) == []
    assert re.findall(r"\son[a-z]+\s*=", source, flags=re.IGNORECASE) == []
    assert re.findall(r"\sstyle\s*=|<style\b", source, flags=re.IGNORECASE) == []


def test_rendered_pages_have_no_inline_script(
    app, make_user, make_partnership, browser_client
):
    ana = make_user("ana@example.com", topic_titles=["Renal clearance"])
    ben = make_user("ben@example.com")
    partnership = make_partnership(ana, ben)
    browser_client.login("ana@example.com")
    paths = ["/", "/profile", "/account", "/partners", "/requests"]
    paths.append(f"/partnerships/{partnership.id}")

    for path in paths:
        response = browser_client.client.get(path)
        assert response.status_code == 200, path
        assert scan(text_of(response)) == [], path


# --- login required and other people's objects -----------------------------------


@pytest.mark.parametrize(
    ("path", "next_param"),
    [
        ("/profile", "%2Fprofile"),
        ("/account", "%2Faccount"),
        ("/partners", "%2Fpartners"),
        ("/partners?exam=USMLE", "%2Fpartners%3Fexam%3DUSMLE"),
        ("/requests", "%2Frequests"),
        ("/partnerships/1", "%2Fpartnerships%2F1"),
    ],
)
def test_login_required_pages_send_anonymous_users_to_login(
    app, client, path, next_param
):
    response = client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={next_param}"


def test_after_login_the_user_lands_on_the_page_they_asked_for(app, make_user, client):
    make_user("ana@example.com")
    login_url = client.get("/requests").headers["Location"]
    token = csrf_from(text_of(client.get(login_url)))

    response = client.post(
        login_url,
        data={"email": "ana@example.com", "password": PASSWORD, "csrf_token": token},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/requests"


def test_the_dashboard_is_not_shown_to_anonymous_users(app, make_user, client):
    make_user("ana@example.com", display_name="Ana")

    page = text_of(client.get("/"))

    assert "Find one study partner" in page
    assert "Hi, Ana" not in page


def test_someone_elses_partnership_is_not_found(
    app, make_user, make_partnership, browser_client
):
    ana = make_user("ana@example.com")
    ben = make_user("ben@example.com")
    make_user("eve@example.com")
    partnership = make_partnership(ana, ben)
    browser_client.login("eve@example.com")

    page = browser_client.client.get(f"/partnerships/{partnership.id}")
    missing = browser_client.client.get("/partnerships/99999")

    assert page.status_code == missing.status_code == 404
    assert "Not found" in text_of(page)
    assert text_of(page) == text_of(missing)


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("end", {}),
        ("status", {"status": "paused"}),
        ("meeting", {"meeting_url": "https://evil.example/call"}),
        (
            "schedule",
            {"daily_time": "06:00", "timezone": "UTC", "session_minutes": "60"},
        ),
    ],
)
def test_someone_elses_partnership_cannot_be_changed(
    app, make_user, make_partnership, browser_client, action, data
):
    ana = make_user("ana@example.com")
    ben = make_user("ben@example.com")
    make_user("eve@example.com")
    partnership = make_partnership(ana, ben)
    partnership_id, minute = partnership.id, partnership.daily_minute
    browser_client.login("eve@example.com")

    response = browser_client.post(f"/partnerships/{partnership_id}/{action}", data)

    assert response.status_code == 404
    db.session.expire_all()
    stored = db.session.get(Partnership, partnership_id)
    assert stored.status == "active"
    assert stored.meeting_url is None
    assert stored.proposal is None
    assert stored.daily_minute == minute


def test_a_second_browser_does_not_share_the_login(app, make_user, browser_client):
    make_user("ana@example.com")
    browser_client.login("ana@example.com")

    other = Browser(app.test_client())

    assert logged_in(browser_client.client)
    assert not logged_in(other.client)
