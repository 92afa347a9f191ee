"""The OpenAPI document: valid, complete, with the error answers described."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from ally.web.api.base import PUBLIC_PATHS

API = "/api/v1"
METHODS = {"get", "post", "patch", "put", "delete"}


@pytest.fixture
def spec(client):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def _openapi_path(rule: str) -> str:
    # Flask's <int:id> is OpenAPI's {id}.
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def test_document_validates(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Ally API"


def test_every_api_route_is_documented(app, spec):
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(f"{API}/") or rule.rule.endswith("openapi.json"):
            continue
        for method in rule.methods & {m.upper() for m in METHODS}:
            routes.add((method.lower(), _openapi_path(rule.rule)))
    documented = {
        (method, path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in METHODS
    }
    assert len(routes) >= 25
    assert routes == documented


def test_error_schema_and_responses(spec):
    error = spec["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message"}
    ref = {"$ref": "#/components/schemas/Error"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            responses = operation["responses"]
            assert "default" in responses, (method, path)
            public = path.removeprefix(API) in PUBLIC_PATHS
            if not public or path.endswith("/token"):
                assert "401" in responses, (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            if method != "get":
                assert {"413", "415"} <= set(responses), (method, path)
            for code, response in responses.items():
                if "$ref" in response:
                    name = response["$ref"].rsplit("/", 1)[1]
                    response = spec["components"]["responses"][name]
                if code.startswith("4") or code == "default":
                    content = response["content"]["application/json"]["schema"]
                    assert content == ref or content.get("$ref", "").endswith(
                        "/Error"
                    ), (method, path, code)


def test_specific_operations(spec):
    paths = spec["paths"]
    assert "429" in paths[f"{API}/auth/token"]["post"]["responses"]
    assert "409" in paths[f"{API}/partner-requests"]["post"]["responses"]
    patch = paths[f"{API}/partnerships/{{partnership_id}}"]["patch"]["responses"]
    assert {"200", "202", "400", "404", "409"} <= set(patch)
    assert "201" in paths[f"{API}/topics"]["post"]["responses"]


def test_security(spec):
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    assert spec["security"] == [{"bearerAuth": []}]
    # Registering and getting a token need no credentials.
    assert spec["paths"][f"{API}/auth/register"]["post"]["security"] == []
    assert spec["paths"][f"{API}/auth/token"]["post"]["security"] == []
    assert "security" not in spec["paths"][f"{API}/me"]["get"]


def test_documented_shapes_match_design(spec):
    schemas = spec["components"]["schemas"]
    me = set(schemas["MeOut"]["properties"])
    assert me >= {
        "id",
        "email",
        "display_name",
        "timezone",
        "exam",
        "exam_date",
        "subjects",
        "bio",
        "looking_for_partner",
        "auto_match",
        "availability",
    }
    partnership = set(schemas["PartnershipOut"]["properties"])
    assert partnership >= {
        "daily_time",
        "timezone",
        "session_minutes",
        "turns",
        "weekdays",
        "meeting_url",
        "status",
    }
    assert schemas["TopicList"]["properties"]["items"]["type"] == "array"
