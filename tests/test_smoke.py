"""The app starts, migrates and serves its first pages."""


def test_landing_page_for_anonymous_users(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "Find one study partner" in response.get_data(as_text=True)


def test_health(client):
    assert client.get("/healthz").get_json() == {
        "ok": True,
        "checks": {"database": "ok"},
    }


def test_demo_pair_logs_in(app, browser_client):
    from ally.models import utcnow
    from ally.services.demo import DEMO_PASSWORD, DEMO_USERS, seed_demo

    seed_demo(utcnow())
    seed_demo(utcnow())  # idempotent
    response = browser_client.login(DEMO_USERS[0].email, DEMO_PASSWORD)
    assert response.status_code == 302
    page = browser_client.client.get("/").get_data(as_text=True)
    assert "You are partners with" in page and "Ben (demo)" in page
