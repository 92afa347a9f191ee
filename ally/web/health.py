"""`GET /healthz`: whether this process can serve, for a load balancer."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from ..extensions import limiter
from ..services.health import UNAVAILABLE, health

bp = Blueprint("health", __name__)


@bp.route("/healthz")
@limiter.exempt
def healthz():
    """200 when the database (and Redis, where configured) answer, else 503."""
    result = health(current_app._get_current_object())
    body: dict = {"ok": result.ok, "checks": result.checks}
    if not result.ok:
        body["error"] = UNAVAILABLE
        body["message"] = "; ".join(result.problems())
    response = jsonify(body)
    response.status_code = 200 if result.ok else 503
    # Every probe must reach this process: no proxy or browser may keep one.
    response.headers["Cache-Control"] = "no-store"
    return response
