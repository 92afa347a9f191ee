"""Partner pages: suggestions and filters, requests, accepting, blocking, dashboard."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from ally.extensions import db
from ally.models import Block, PartnerRequest, Partnership, utcnow
from ally.services import partners
from tests.conftest import Browser

# Every request in its own app context (see tests.conftest.IsolatedClient).
pytestmark = pytest.mark.usefixtures("isolated_requests")


@pytest.fixture
def browser_for(app):
    """A logged-in browser of its own for a user's email."""

    def login(email: str) -> Browser:
        browser = Browser(app.test_client())
        assert browser.login(email).status_code == 302
        return browser

    return login


@pytest.fixture
def ana_and_ben(make_user):
    """Two compatible students in London: 2 h 30 min in common, same exam."""
    ana = make_user(
        "ana@example.com",
        display_name="Ana",
        exam_date="2026-06-01",
        subjects=["Renal", "Cardio"],
    )
    ben = make_user(
        "ben@example.com",
        display_name="Ben",
        availability=[{"start": "19:00", "end": "21:30"}],
        exam_date="2026-06-13",
        subjects=["cardio", "Pharmacology", "renal"],
    )
    return ana, ben


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def flashes(response) -> list[str]:
    return re.findall(r'<p class="flash flash-\w+">([^<]*)</p>', text_of(response))


def suggestions(response) -> dict[str, list[str]]:
    """Display name -> reasons, in the order the page lists them."""
    found = {}
    blocks = text_of(response).split('<article class="suggestion"')[1:]
    for block in blocks:
        name = re.search(r"<h2>([^<]*)</h2>", block)[1]
        reasons = re.search(r'<ul class="reasons">(.*?)</ul>', block, re.S)[1]
        found[name] = re.findall(r"<li>([^<]*)</li>", reasons)
    return found


def count(model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def only_request() -> PartnerRequest:
    db.session.expire_all()
    return db.session.scalars(select(PartnerRequest)).one()


def send(browser: Browser, to_user_id, message: str = ""):
    return browser.post(
        "/partners/request",
        {"to_user_id": str(to_user_id), "message": message},
        csrf_page="/partners",
    )


# --- suggestions -----------------------------------------------------------------


def test_partners_page_lists_a_compatible_user_with_reasons(
    app, ana_and_ben, make_user, browser_for
):
    _, ben = ana_and_ben
    make_user("tokyo@example.com", display_name="Far away", timezone="Asia/Tokyo")
    make_user("busy@example.com", display_name="Not looking", looking_for_partner=False)

    page = browser_for("ana@example.com").client.get("/partners")

    assert page.status_code == 200
    assert suggestions(page) == {
        "Ben": [
            "2 h 30 min in common each day",
            "same exam, 12 days apart",
            "both on Renal and Cardio",
        ]
    }
    assert f'data-user-id="{ben.id}"' in text_of(page)
    assert "Ask Ben to be partners" in text_of(page)


def test_partners_page_asks_for_availability_first(app, make_user, browser_for):
    make_user("ana@example.com", availability=[])
    make_user("ben@example.com", display_name="Ben")

    page = browser_for("ana@example.com").client.get("/partners")

    assert page.status_code == 200
    assert "Add your daily availability" in text_of(page)
    assert suggestions(page) == {}


@pytest.fixture
def four_students(make_user):
    """Ana looks; Ben, Cleo and Dan differ in exam, subject and hours in common."""
    make_user("ana@example.com", display_name="Ana", subjects=["Renal", "Cardio"])
    make_user(
        "ben@example.com",
        display_name="Ben",
        availability=[{"start": "19:00", "end": "21:30"}],
        subjects=["Renal"],
    )
    make_user(
        "cleo@example.com",
        display_name="Cleo",
        exam="PLAB 1",
        subjects=["Cardio"],
    )
    make_user(
        "dan@example.com",
        display_name="Dan",
        availability=[{"start": "21:00", "end": "23:30"}],
        subjects=["Cardio", "Renal"],
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"Ben", "Cleo", "Dan"}),
        ({"exam": "usmle step 1"}, {"Ben", "Dan"}),
        ({"exam": "PLAB 1"}, {"Cleo"}),
        ({"subject": "cardio"}, {"Cleo", "Dan"}),
        ({"exam": "USMLE Step 1", "subject": "Cardio"}, {"Dan"}),
        ({"min_overlap": "120"}, {"Ben", "Cleo"}),
        ({"min_overlap": "180"}, {"Cleo"}),
        ({"min_overlap": "0"}, {"Ben", "Cleo", "Dan"}),
        ({"exam": "Nothing like it"}, set()),
    ],
)
def test_filters(app, four_students, browser_for, query, expected):
    page = browser_for("ana@example.com").client.get("/partners", query_string=query)

    assert page.status_code == 200
    assert set(suggestions(page)) == expected
    if not expected:
        assert "No compatible partner yet with these filters." in text_of(page)


def test_suggestions_are_best_first(app, four_students, browser_for):
    page = browser_for("ana@example.com").client.get("/partners")

    # The same exam outweighs hours in common beyond one session.
    assert list(suggestions(page)) == ["Ben", "Dan", "Cleo"]
    scores = [int(n) for n in re.findall(r"match (\d+)/100", text_of(page))]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 3
    assert suggestions(page)["Cleo"] == ["4 h in common each day", "both on Cardio"]
    assert suggestions(page)["Dan"] == [
        "1 h in common each day",
        "same exam",
        "both on Renal and Cardio",
    ]


@pytest.mark.parametrize(
    ("min_overlap", "message"),
    [
        (
            "-5",
            "Minimum minutes in common each day: Number must be between 0 and 1440.",
        ),
        (
            "1441",
            "Minimum minutes in common each day: Number must be between 0 and 1440.",
        ),
        ("lots", "Minimum minutes in common each day: Not a valid integer value."),
    ],
)
def test_a_bad_minimum_overlap_shows_a_message(
    app, four_students, browser_for, min_overlap, message
):
    page = browser_for("ana@example.com").client.get(
        "/partners", query_string={"min_overlap": min_overlap}
    )

    assert page.status_code == 400
    assert message in flashes(page)
    assert suggestions(page) == {}


# --- requests --------------------------------------------------------------------


def test_send_a_request_from_the_page(app, ana_and_ben, browser_for):
    ana, ben = ana_and_ben
    browser = browser_for("ana@example.com")

    response = send(browser, ben.id, "  Same exam and hours: teach back daily?  ")

    assert response.status_code == 302
    assert response.headers["Location"] == "/requests"
    request = only_request()
    assert (request.from_user_id, request.to_user_id) == (ana.id, ben.id)
    assert request.message == "Same exam and hours: teach back daily?"
    assert request.status == "pending"
    sent = browser.client.get("/requests")
    assert "Request sent. You will see here when they answer." in flashes(sent)
    assert "To <strong>Ben</strong>" in text_of(sent)
    page = browser.client.get("/partners")
    assert "Request sent — waiting for an answer." in text_of(page)
    assert "Ask Ben to be partners" not in text_of(page)


@pytest.mark.parametrize(
    ("to_user", "message", "shown"),
    [
        ("ben", "m" * 501, "Message: Field cannot be longer than 500 characters."),
        ("ana", "", "You cannot send a request to yourself."),
        ("", "", "To User Id: This field is required."),
        ("abc", "", "Choose a student first."),
    ],
)
def test_bad_requests_show_a_message_and_write_nothing(
    app, ana_and_ben, browser_for, to_user, message, shown
):
    ana, ben = ana_and_ben
    to_user_id = {"ana": ana.id, "ben": ben.id}.get(to_user, to_user)
    browser = browser_for("ana@example.com")

    response = send(browser, to_user_id, message)

    assert response.status_code == 302
    assert response.headers["Location"] == "/partners"
    assert shown in flashes(browser.client.get("/partners"))
    assert count(PartnerRequest) == 0


def test_a_second_request_to_the_same_student_is_refused(app, ana_and_ben, browser_for):
    _, ben = ana_and_ben
    browser = browser_for("ana@example.com")
    send(browser, ben.id)

    send(browser, ben.id)

    assert "You already have a pending request to this student." in flashes(
        browser.client.get("/partners")
    )
    assert count(PartnerRequest) == 1


def test_a_request_to_an_unknown_user_is_not_found(app, ana_and_ben, browser_for):
    response = send(browser_for("ana@example.com"), 99999)

    assert response.status_code == 404
    assert count(PartnerRequest) == 0


def test_the_recipient_sees_the_request(app, ana_and_ben, browser_for):
    ana, ben = ana_and_ben
    send(browser_for("ana@example.com"), ben.id, "Hi Ben!")
    request_id = only_request().id
    browser = browser_for("ben@example.com")

    page = browser.client.get("/requests")

    body = text_of(page)
    assert f'data-request-id="{request_id}"' in body
    assert "<strong>Ana</strong> wants to be your partner" in body
    assert "<blockquote>Hi Ben!</blockquote>" in body
    assert f"/requests/{request_id}/accept" in body
    assert re.search(r'<span class="badge"[^>]*>1</span>', body)
    partners_page = text_of(browser.client.get("/partners"))
    assert "They asked you!" in partners_page


def test_accept_from_the_page_pairs_both(app, ana_and_ben, browser_for):
    ana, ben = ana_and_ben
    ana_browser = browser_for("ana@example.com")
    send(ana_browser, ben.id)
    request_id = only_request().id
    ben_browser = browser_for("ben@example.com")

    response = ben_browser.post(f"/requests/{request_id}/accept", csrf_page="/requests")

    partnership = db.session.scalars(select(Partnership)).one()
    assert response.status_code == 302
    assert response.headers["Location"] == f"/partnerships/{partnership.id}"
    assert (partnership.user_a_id, partnership.user_b_id) == (ana.id, ben.id)
    assert partnership.status == "active"
    assert partnership.timezone == "Europe/London"
    assert partnership.daily_minute == 19 * 60
    assert only_request().status == "accepted"
    page = ben_browser.client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "Accepted: you have a study partner!" in flashes(page)
    assert "Partnership with Ana" in text_of(page)
    ben_dashboard = text_of(ben_browser.client.get("/"))
    ana_dashboard = text_of(ana_browser.client.get("/"))
    assert "You are partners with <strong>Ana</strong>" in ben_dashboard
    assert "You are partners with <strong>Ben</strong>" in ana_dashboard
    assert "Daily teach-back hour at <strong>19:00</strong>" in ana_dashboard
    assert "No pending requests." in ana_dashboard
    assert ana_browser.client.get(f"/partnerships/{partnership.id}").status_code == 200


def test_decline_from_the_page(app, ana_and_ben, browser_for):
    ana, ben = ana_and_ben
    ana_browser = browser_for("ana@example.com")
    send(ana_browser, ben.id)
    request_id = only_request().id
    ben_browser = browser_for("ben@example.com")

    response = ben_browser.post(
        f"/requests/{request_id}/decline", csrf_page="/requests"
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/requests"
    assert only_request().status == "declined"
    assert count(Partnership) == 0
    assert "Request declined." in flashes(ben_browser.client.get("/requests"))
    ana_requests = text_of(ana_browser.client.get("/requests"))
    assert '<td data-label="With">Ben</td>' in ana_requests
    assert '<td data-label="Outcome">declined</td>' in ana_requests
    assert "No pending requests." in text_of(ana_browser.client.get("/"))


def test_cancel_from_the_page(app, ana_and_ben, browser_for):
    ana, ben = ana_and_ben
    ana_browser = browser_for("ana@example.com")
    send(ana_browser, ben.id)
    request_id = only_request().id

    response = ana_browser.post(f"/requests/{request_id}/cancel", csrf_page="/requests")

    assert response.status_code == 302
    assert only_request().status == "cancelled"
    assert "Request withdrawn." in flashes(ana_browser.client.get("/requests"))
    ben_page = text_of(browser_for("ben@example.com").client.get("/requests"))
    assert "No requests waiting for you." in ben_page


@pytest.mark.parametrize(
    ("who", "action"),
    [
        ("ana", "accept"),  # the sender cannot accept their own request
        ("ana", "decline"),
        ("ben", "cancel"),  # the recipient cannot withdraw it
        ("eve", "accept"),
        ("eve", "decline"),
        ("eve", "cancel"),
    ],
)
def test_only_the_right_side_may_answer(
    app, ana_and_ben, make_user, browser_for, who, action
):
    _, ben = ana_and_ben
    make_user("eve@example.com")
    send(browser_for("ana@example.com"), ben.id)
    request_id = only_request().id

    response = browser_for(f"{who}@example.com").post(
        f"/requests/{request_id}/{action}", csrf_page="/requests"
    )

    assert response.status_code == 404
    assert only_request().status == "pending"
    assert count(Partnership) == 0


def test_an_unknown_action_is_not_found(app, ana_and_ben, browser_for):
    _, ben = ana_and_ben
    send(browser_for("ana@example.com"), ben.id)
    request_id = only_request().id

    response = browser_for("ben@example.com").post(
        f"/requests/{request_id}/approve", csrf_page="/requests"
    )

    assert response.status_code == 404
    assert only_request().status == "pending"


def test_answering_twice_shows_a_message(app, ana_and_ben, browser_for):
    _, ben = ana_and_ben
    send(browser_for("ana@example.com"), ben.id)
    request_id = only_request().id
    ben_browser = browser_for("ben@example.com")
    ben_browser.post(f"/requests/{request_id}/decline", csrf_page="/requests")

    response = ben_browser.post(f"/requests/{request_id}/accept", csrf_page="/requests")

    assert response.status_code == 302
    assert "This request is no longer pending (it was declined)." in flashes(
        ben_browser.client.get("/requests")
    )
    assert count(Partnership) == 0


# --- blocks ----------------------------------------------------------------------


def test_block_hides_both_ways(app, ana_and_ben, browser_for):
    ana, ben = ana_and_ben
    ana_browser = browser_for("ana@example.com")
    ben_browser = browser_for("ben@example.com")
    send(ana_browser, ben.id)
    assert "They asked you!" in text_of(ben_browser.client.get("/partners"))

    response = ana_browser.post(f"/users/{ben.id}/block", csrf_page="/partners")

    assert response.status_code == 302
    assert count(Block, Block.blocker_id == ana.id, Block.blocked_id == ben.id) == 1
    assert only_request().status == "cancelled"
    assert suggestions(ana_browser.client.get("/partners")) == {}
    assert suggestions(ben_browser.client.get("/partners")) == {}
    assert "No requests waiting for you." in text_of(
        ben_browser.client.get("/requests")
    )
    # Neither can ask the other any more; the blocked side learns nothing.
    assert send(ben_browser, ana.id).status_code == 404
    assert send(ana_browser, ben.id).status_code == 404
    assert count(PartnerRequest) == 1
    assert "Ben" in text_of(ana_browser.client.get("/account"))


def test_unblock_shows_them_again(app, ana_and_ben, browser_for):
    ana, ben = ana_and_ben
    ana_browser = browser_for("ana@example.com")
    ana_browser.post(f"/users/{ben.id}/block", csrf_page="/partners")

    ana_browser.post(f"/users/{ben.id}/unblock")

    assert count(Block) == 0
    assert set(suggestions(ana_browser.client.get("/partners"))) == {"Ben"}


def test_blocking_a_partner_ends_the_partnership(
    app, ana_and_ben, make_partnership, browser_for
):
    ana, ben = ana_and_ben
    partnership_id = make_partnership(ana, ben).id
    ben_browser = browser_for("ben@example.com")

    ben_browser.post(f"/users/{ana.id}/block", csrf_page="/")

    db.session.expire_all()
    assert db.session.get(Partnership, partnership_id).status == "ended"
    assert "You have no partner yet." in text_of(ben_browser.client.get("/"))


# --- the dashboard ---------------------------------------------------------------


def test_dashboard_shows_pending_requests_in_and_out(
    app, ana_and_ben, make_user, browser_for
):
    ana, ben = ana_and_ben
    cleo = make_user("cleo@example.com", display_name="Cleo")
    partners.send_request(ana.id, ben.id, "", utcnow())
    partners.send_request(cleo.id, ana.id, "Want to pair up? I love renal.", utcnow())
    incoming_id = db.session.scalar(
        select(PartnerRequest.id).where(PartnerRequest.from_user_id == cleo.id)
    )

    page = text_of(browser_for("ana@example.com").client.get("/"))

    assert "You have no partner yet." in page
    waiting = page.split("<h3>Waiting for your answer</h3>")[1].split("</ul>")[0]
    assert "Cleo: “Want to pair up? I love renal.”" in waiting
    assert f"/requests/{incoming_id}/accept" in waiting
    assert f"/requests/{incoming_id}/decline" in waiting
    asked = page.split("<h3>You asked</h3>")[1].split("</ul>")[0]
    assert "Ben — waiting, expires" in asked
    assert "Cleo" not in asked
    assert "No pending requests." not in page


def test_dashboard_without_requests(app, ana_and_ben, browser_for):
    page = text_of(browser_for("ana@example.com").client.get("/"))

    assert "No pending requests." in page
    assert "Waiting for your answer" not in page
    assert "You asked" not in page
