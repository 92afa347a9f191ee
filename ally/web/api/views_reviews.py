"""API: ratings received and given, and the review summary."""

from __future__ import annotations

from ...offload import no_collection
from ...services import reviews
from .base import ApiBlueprint, api_user, login_required, require_json_object
from .schemas import RatingArgs, RatingList, RatingSummaryOut

blp = ApiBlueprint("api_reviews", __name__, description="Ratings and review")
blp.before_request(require_json_object)


@blp.route("/ratings", methods=["GET"])
@login_required
@blp.arguments(RatingArgs, location="query")
@blp.response(200, RatingList)
def list_ratings(args):
    """Ratings of my explanations (role=received) or that I gave, newest first.

    A rating is visible to the two partners of its session and nobody else.
    """
    page = reviews.ratings(api_user().id, args["role"], args["page"], args["per_page"])
    return {
        "items": [vars(item) for item in page.items],
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
    }


@blp.route("/ratings/summary", methods=["GET"])
@login_required
@blp.response(200, RatingSummaryOut)
def rating_summary():
    """Per topic: count, mean, last, trend; the gaps list; calibration; and the
    mean simplicity over time (by day, week or month, depending on the span)."""
    # Thousands of rows live until the answer is built: see no_collection.
    with no_collection():
        return _summary_body(reviews.summary(api_user().id))


def _summary_body(s: reviews.Summary) -> dict:
    return {
        "explanations": s.explanations,
        "rated": s.rated,
        "mean": s.mean,
        "topics": [
            {
                "topic": t.topic,
                "key": t.key,
                "count": t.explanations,
                "rated": t.rated,
                "mean": t.mean,
                "last": t.last,
                "trend": t.trend,
                "last_taught": t.last_taught,
                "jargon_per_explanation": t.jargon_per_explanation,
            }
            for t in s.topics
        ],
        "gaps": [
            {
                "topic": g.stats.topic,
                "key": g.stats.key,
                "reasons": list(g.reasons),
                "last": g.stats.last,
                "mean": g.stats.mean,
                "last_taught": g.stats.last_taught,
            }
            for g in s.gaps
        ],
        "calibration": {
            "mean_difference": s.calibration.mean_difference,
            "over": s.calibration.over,
            "under": s.calibration.under,
            "same": s.calibration.same,
            "verdict": s.calibration.verdict,
        },
        "granularity": s.period,
        "series": [{"period": m, "mean": v, "count": n} for m, v, n in s.overall],
    }
