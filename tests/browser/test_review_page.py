"""The review pages in Chromium, on the demo's three weeks of history.

The real server runs with ``--demo`` (``ally/services/demo_history.py``): Ana
(New York) has taught RAAS, Frank–Starling and Loop diuretics twice a day for
three weeks, two days missed; RAAS is still rated low, so it is the first
topic to teach again. One server serves the whole module; the only test that
changes anything (the allow-list) puts it back as it found it.

- The overview: the figures line, the "Teach again" list (RAAS first, with the
  reasons its topics-table row gives), the SVG chart (title, line, points at
  the right heights, the same figures as the table under it), choosing a topic
  adds its line, the topics table, calibration and the per-partner table agree
  with each other.
- My explanations: newest first, two pages, rare words highlighted with the
  reading grade; the allow-list form exempts terms (and refuses a bad one).
- The export: the CSV and JSON downloads read back equal what the pages show.
- A phone: every page fits its width and still works.
- The charts: axis labels never overlap, each chart has its own title, text is
  readable on a phone, and the table of the same figures includes the chosen
  topic's line.

Every screenshot goes to ``tests/artifacts/<test name>/``.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from statistics import mean
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Locator, Page, expect

from ally.domain.vocabulary import SIGNAL_KINDS
from ally.web import charts
from tests.browser.conftest import ARTIFACTS_ROOT, TEST_SECRET_KEY
from tests.browser.test_dashboard_live import (
    NEW_YORK,
    PHONE,
    Watch,
    no_sideways_scroll,
    shoot,
)
from tests.browser.test_pages_render import CSP_PROBE
from tests.support.live_server import LiveServer

ANA = "ana@demo.example.com"
ANA_NAME = "Ana (demo)"
BEN_NAME = "Ben (demo)"
DEMO_PASSWORD = "teach-back-demo"
RAAS = "Renin–angiotensin–aldosterone system"
RAAS_KEY = "renin–angiotensin–aldosterone system"
MISSED_SESSIONS = 2  # demo_history.MISSED_DAYS_AGO
TURNS_TAUGHT_PER_SESSION = 2  # four turns, taking turns
PER_PAGE = 20
# The chart's geometry (ally/web/charts.py defaults): the y axis runs from 1 at
# the bottom of the plot to 5 at its top.
VIEW_WIDTH, VIEW_HEIGHT = charts.WIDTH, charts.HEIGHT
PLOT_TOP = charts.plot_top(["All topics"])  # one legend row
PLOT_HEIGHT = VIEW_HEIGHT - PLOT_TOP - charts.BOTTOM
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
POINT = re.compile(r"^(?P<series>.+), (?P<label>\S+): (?P<value>[\d.]+)$")
ALLOWED = ("renin", "angiotensin", "aldosterone")


# --- the server and the pages ---------------------------------------------------


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``python app.py --demo`` on a fresh SQLite file, for the whole module."""
    workdir = tmp_path_factory.mktemp("review-demo")
    server = LiveServer(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'ally.db'}",
            "SECRET_KEY": TEST_SECRET_KEY,
            "ALLY_SCHEDULER": "off",
            "ALLY_AUTH_RATE_LIMIT": "1000 per minute",
        },
        extra_args=("--demo",),
        log_path=workdir / "server.log",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        ARTIFACTS_ROOT.mkdir(parents=True, exist_ok=True)
        shutil.copy(server.log_path, ARTIFACTS_ROOT / "review-demo-server.log")


def open_as_ana(
    new_context, base: str, viewport: dict[str, int] | None = None
) -> tuple[Page, Watch]:
    """A fresh browser context in New York, logged in as Ana through the form."""
    context = new_context(viewport=viewport, timezone_id=NEW_YORK, locale="en-US")
    context.set_default_timeout(10_000)
    context.add_init_script(CSP_PROBE)
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(ANA)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("main").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name=f"Hi, {ANA_NAME}")).to_be_visible()
    return page, watch


def assert_clean(page: Page, watch: Watch) -> None:
    """No console errors, failed requests, HTTP errors or CSP violations."""
    violations = page.evaluate("window.__cspViolations || []")
    assert watch.problems + violations == [], watch.problems + violations


def as_shown(value: float) -> float:
    """A mean as the pages print it: rounded to 2 places, then shown with 1."""
    return float(f"{round(value, 2):.1f}")


def figures(page: Page) -> dict[str, Any]:
    """The figures line: explanations, rated and the mean."""
    text = page.locator("p.figures").inner_text()
    match = re.search(
        r"(\d+) explanations\s+(\d+) rated\s+mean (\d\.\d)/5\s+Export CSV · JSON",
        text,
    )
    assert match, text
    return {
        "explanations": int(match[1]),
        "rated": int(match[2]),
        "mean": float(match[3]),
    }


def table_rows(table: Locator) -> list[list[str]]:
    """The body cells of a table, as text."""
    return table.evaluate(
        "t => [...t.tBodies[0].rows].map(r => [...r.cells].map("
        "c => c.textContent.replace(/\\s+/g, ' ').trim()))"
    )


def topics_table(page: Page) -> dict[str, dict[str, Any]]:
    """Topic -> explanations, mean, last, trend, last taught."""
    rows = {}
    for topic, count, avg, last, trend, taught, *_ in table_rows(
        page.locator("table.topic-table")
    ):
        rows[topic] = {
            "explanations": int(count),
            "mean": float(avg),
            "last": int(last.removesuffix("/5")),
            "trend": trend,
            "last_taught": taught,
        }
    return rows


def figures_table(page: Page) -> tuple[str, list[tuple[str, float, int]]]:
    """The period word and (label, mean, ratings) of the chart's table."""
    chart = page.locator("#chart")
    details = chart.locator("details")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    table = details.locator("table")
    expect(table).to_be_visible()
    period = table.locator("thead th").first.inner_text().strip()
    rows = [(label, float(v), int(n)) for label, v, n in table_rows(table)]
    return period, rows


def read_chart(svg: Locator) -> dict[str, Any]:
    """Title, lines and points of a server-rendered chart, as the browser sees them."""
    return svg.evaluate(
        """svg => ({
          title: svg.querySelector(':scope > title')?.textContent,
          labelledby: svg.getAttribute('aria-labelledby'),
          viewBox: svg.getAttribute('viewBox'),
          box: (r => ({width: r.width, height: r.height}))(svg.getBoundingClientRect()),
          lines: [...svg.querySelectorAll('polyline')].map(p => ({
            stroke: p.getAttribute('stroke'),
            points: p.getAttribute('points').trim().split(/\\s+/)
              .map(xy => xy.split(',').map(Number)),
          })),
          points: [...svg.querySelectorAll('circle')].map(c => ({
            x: Number(c.getAttribute('cx')), y: Number(c.getAttribute('cy')),
            fill: c.getAttribute('fill'),
            title: c.querySelector('title')?.textContent,
          })),
          legend: [...svg.querySelectorAll('rect + text')].map(t => t.textContent),
        })"""
    )


def series_of(chart: dict[str, Any]) -> dict[str, list[tuple[str, float]]]:
    """Series name -> [(x label, value)] from the points' <title>s, in order."""
    series: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for point in chart["points"]:
        match = POINT.match(point["title"] or "")
        assert match, point
        series[match["series"]].append((match["label"], float(match["value"])))
    return dict(series)


def check_geometry(chart: dict[str, Any]) -> None:
    """Each point sits at its value's height, each line runs through its points."""
    assert chart["viewBox"] == f"0 0 {VIEW_WIDTH} {VIEW_HEIGHT}", chart["viewBox"]
    assert chart["box"]["width"] > 300 and chart["box"]["height"] > 100, chart["box"]
    by_colour: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for point in chart["points"]:
        value = float(POINT.match(point["title"])["value"])
        expected_y = PLOT_TOP + PLOT_HEIGHT * (1 - (value - 1) / 4)
        assert abs(point["y"] - expected_y) < 0.11, (point, expected_y)
        by_colour[point["fill"]].append((point["x"], point["y"]))
    assert len(chart["lines"]) == len(by_colour), chart["lines"]
    for line in chart["lines"]:
        centres = by_colour[line["stroke"]]
        assert [tuple(p) for p in line["points"]] == centres, line
        xs = [x for x, _ in centres]
        assert xs == sorted(xs) and len(set(xs)) == len(xs), xs


# --- My explanations, read off the pages ------------------------------------------

ARTICLES_JS = """
() => [...document.querySelectorAll('article.explanation')].map(a => {
  const dd = {};
  for (const dt of a.querySelectorAll('dl.turn-facts > dt')) {
    dd[dt.textContent.trim()] = dt.nextElementSibling;
  }
  const summary = dd['Your summary'];
  let text = null, grade = null, rareListed = [], rareMarked = [];
  if (summary) {
    const copy = summary.cloneNode(true);
    copy.querySelector('small')?.remove();
    text = copy.textContent.trim();
    const small = summary.querySelector('small.readability').textContent;
    grade = small.match(/Reading grade (\\S+)/)[1];
    const listed = small.match(/rare words: (.*)$/);
    rareListed = listed ? listed[1].split(', ') : [];
    rareMarked = [...summary.querySelectorAll('mark.rare')].map(m => m.textContent);
  }
  return {
    id: a.id,
    topic: a.querySelector('h2').textContent.trim(),
    meta: a.querySelector('header p').textContent.trim(),
    simplicity: dd['Simplicity'].textContent.trim(),
    note: dd['Listener’s note']?.textContent.trim() ?? '',
    jargon: dd['Jargon flagged']
      ? [...dd['Jargon flagged'].querySelectorAll('mark')].map(m => m.textContent)
      : [],
    signals: dd['Signals'].textContent.trim(),
    summary: text, grade, rareListed, rareMarked,
  };
})
"""


def parse_article(raw: dict[str, Any]) -> dict[str, Any]:
    """One article as the export would spell it."""
    when, partner = raw["meta"].split(" · to ")
    taught = datetime.strptime(when, "%a %d %b %Y, %H:%M")
    rated = re.fullmatch(r"(\d)/5(?: · you said (\d)/5)?", raw["simplicity"])
    assert rated, raw["simplicity"]
    signals = {k: int(n) for k, n in re.findall(r"(\w+) (\d+)", raw["signals"])}
    assert set(signals) == set(SIGNAL_KINDS), raw["signals"]
    return {
        "id": raw["id"],
        "taught": taught,
        "date": taught.date().isoformat(),
        "topic": raw["topic"],
        "listener": partner,
        "simplicity": int(rated[1]),
        "self_simplicity": int(rated[2]) if rated[2] else None,
        "note": raw["note"].strip("“”"),
        "jargon": raw["jargon"],
        "signals": signals,
        "summary": raw["summary"],
        "grade": raw["grade"],
        "rare_listed": raw["rareListed"],
        "rare_marked": raw["rareMarked"],
    }


def read_explanations(page: Page, base: str) -> list[dict[str, Any]]:
    """Every article of /review/explanations, walking the pages with Older →."""
    page.goto(f"{base}/review/explanations")
    found = []
    while True:
        found += [parse_article(raw) for raw in page.evaluate(ARTICLES_JS)]
        older = page.locator("nav.pager").get_by_role("link", name="Older →")
        if older.count() == 0:
            return found
        older.click()
        page.wait_for_load_state()


# --- the overview -------------------------------------------------------------------


def test_review_overview_figures_gaps_chart_and_tables(
    new_context, demo_server: LiveServer, artifacts_dir: Path
) -> None:
    base = demo_server.url
    page, watch = open_as_ana(new_context, base)
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Review"
    ).click()
    expect(page).to_have_url(f"{base}/review")
    expect(page.get_by_role("heading", name="Review", exact=True)).to_be_visible()
    shoot(page, artifacts_dir, "01-review-overview")

    # 1. The figures line agrees with the topics table.
    shown = figures(page)
    topics = topics_table(page)
    assert set(topics) == {RAAS, "Frank–Starling mechanism", "Loop diuretics"}
    assert shown["explanations"] == sum(t["explanations"] for t in topics.values())
    assert shown["rated"] == shown["explanations"], shown  # the demo rates every turn
    raas = topics[RAAS]
    assert raas["last"] <= 2 and raas["mean"] < 3, raas
    assert all(
        t["trend"] in ("↑ improving", "→ flat", "↓ worse") for t in topics.values()
    )
    assert topics["Frank–Starling mechanism"]["trend"] == "↑ improving", topics

    # 2. "Teach again": RAAS first, each gap for a reason its row shows, the
    # lowest last rating first, and no topic left out that a rule catches.
    gaps = page.locator("#gaps ol.gaps > li")
    expect(gaps.first).to_contain_text(RAAS)
    gap_texts = [" ".join(t.split()) for t in gaps.all_inner_texts()]
    assert gap_texts[0].startswith(
        f"{RAAS} — last rated {raas['last']}/5; average {raas['mean']:.1f}/5; "
    ), gap_texts[0]
    assert re.search(
        r"; \d+\.\d jargon flags per explanation; last taught ", gap_texts[0]
    )
    assert gap_texts[0].endswith(f"last taught {raas['last_taught']}"), gap_texts[0]
    gap_topics = [t.split(" — ")[0] for t in gap_texts]
    for name in gap_topics:
        row = topics[name]
        text = gap_texts[gap_topics.index(name)]
        if row["last"] <= 2:
            assert f"last rated {row['last']}/5" in text, text
        if row["mean"] < 3:
            assert f"average {row['mean']:.1f}/5" in text, text
    for name, row in topics.items():
        if row["last"] <= 2 or row["mean"] < 3:
            assert name in gap_topics, (name, row, gap_texts)
    lasts = [topics[name]["last"] for name in gap_topics]
    assert lasts == sorted(lasts), gap_texts
    shoot(page, artifacts_dir, "02-gaps")

    # 3. The chart: an SVG with its title, one line through points at the right
    # heights, the same figures as the table under it.
    svg = page.locator("#chart svg.chart")
    expect(svg).to_be_visible()
    period, rows = figures_table(page)
    assert period == "Day", period  # three weeks: one point a day
    chart = read_chart(svg)
    assert chart["title"] == f"Mean simplicity per {period.lower()}", chart["title"]
    check_geometry(chart)
    assert series_of(chart) == {"All topics": [(label, v) for label, v, _ in rows]}
    assert chart["legend"] == ["All topics"], chart["legend"]
    assert all(DAY.fullmatch(label) for label, _, _ in rows), rows
    total = sum(n for _, _, n in rows)
    assert total == shown["rated"], (total, shown)
    assert abs(sum(v * n for _, v, n in rows) / total - shown["mean"]) <= 0.051
    svg.screenshot(path=str(artifacts_dir / "03-chart.png"))
    shoot(page, artifacts_dir, "04-chart-table-open")

    # 4. Choosing a topic and "Show" adds its line; the URL says which topic.
    page.get_by_label("Topic", exact=True).select_option(label=RAAS)
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"/review\?topic="))
    assert parse_qs(urlparse(page.url).query) == {"topic": [RAAS_KEY]}, page.url
    expect(page.locator("#chart-heading")).to_have_text(f"Simplicity over time: {RAAS}")
    expect(page.get_by_label("Topic", exact=True)).to_have_value(RAAS_KEY)
    expect(svg.locator("polyline")).to_have_count(2)
    chart = read_chart(svg)
    check_geometry(chart)
    lines = series_of(chart)
    assert list(lines) == ["All topics", RAAS], list(lines)
    assert lines["All topics"] == [(label, v) for label, v, _ in rows]
    assert 1 < len(lines[RAAS]) <= len(rows)
    assert {label for label, _ in lines[RAAS]} <= {label for label, _, _ in rows}
    assert chart["legend"] == ["All topics", RAAS], chart["legend"]
    svg.screenshot(path=str(artifacts_dir / "05-chart-with-raas.png"))
    shoot(page, artifacts_dir, "06-review-topic-raas")

    # The gap's link opens the same view; an unknown topic is a 404.
    page.goto(f"{base}/review")
    page.locator("#gaps ol.gaps > li").first.get_by_role("link").click()
    assert parse_qs(urlparse(page.url).query) == {"topic": [RAAS_KEY]}, page.url
    expect(page.locator("#chart svg.chart polyline")).to_have_count(2)
    missing = page.request.get(f"{base}/review?topic=no-such-topic")
    assert missing.status == 404, missing.status

    # 5. Calibration: the verdict, the counts and the chart agree; the
    # partner's line is the same per-day means as the main chart.
    calibration = page.locator("section[aria-labelledby=calibration-heading]")
    text = " ".join(calibration.locator("p").first.inner_text().split())
    match = re.fullmatch(
        r"(You tend to rate your explanations (higher|lower) than your partner\."
        r"|Your own ratings match your partner's closely\.) "
        r"\(self minus partner: ([+-]\d\.\d) on average over (\d+) turns; "
        r"higher (\d+), same (\d+), lower (\d+)\)",
        text,
    )
    assert match, text
    difference, turns = float(match[3]), int(match[4])
    higher, same, lower = int(match[5]), int(match[6]), int(match[7])
    assert higher + same + lower == turns == shown["rated"], text
    if difference >= 0.5:
        assert match[2] == "higher", text
    elif difference <= -0.5:
        assert match[2] == "lower", text
    else:
        assert match[2] is None, text
    own = read_chart(calibration.locator("svg.chart"))
    assert own["title"] == "Self-rating against partner's rating per day"
    check_geometry(own)
    self_line = series_of(own)
    assert list(self_line) == ["You (self-rating)", "Your partner"], list(self_line)
    assert self_line["Your partner"] == [(label, v) for label, v, _ in rows]
    counts = {label: n for label, _, n in rows}
    weighted = [
        sum(v * counts[label] for label, v in self_line[name]) / total
        for name in ("You (self-rating)", "Your partner")
    ]
    assert abs((weighted[0] - weighted[1]) - difference) <= 0.051, (weighted, text)
    calibration.screenshot(path=str(artifacts_dir / "07-calibration.png"))

    # 6. With each partner: Ben, the sessions held and missed, the means.
    partners = table_rows(
        page.locator("section[aria-labelledby=partners-heading] table")
    )
    assert len(partners) == 1, partners
    partner, held, missed, streak, mine, theirs = partners[0]
    assert partner == BEN_NAME
    assert int(missed) == MISSED_SESSIONS
    assert int(held) * TURNS_TAUGHT_PER_SESSION == shown["explanations"], partners
    assert 1 <= int(streak) <= int(held), partners
    assert float(mine) == shown["mean"], (mine, shown)  # one partner: all of it
    assert 1 <= float(theirs) <= 5, theirs
    shoot(page, artifacts_dir, "08-review-from-the-gap-link")
    assert_clean(page, watch)


# --- My explanations and the allow-list -------------------------------------------


def test_explanations_pages_rare_words_and_the_allow_list(
    new_context, demo_server: LiveServer, artifacts_dir: Path
) -> None:
    base = demo_server.url
    page, watch = open_as_ana(new_context, base)
    page.goto(f"{base}/review")
    total = figures(page)["explanations"]
    assert total > PER_PAGE

    # 1. Page 1: the newest twenty, "Older →" only.
    page.get_by_role("navigation", name="Review").get_by_role(
        "link", name="My explanations"
    ).click()
    expect(page).to_have_url(f"{base}/review/explanations")
    pages = -(-total // PER_PAGE)
    pager = page.locator("nav.pager")
    expect(pager).to_contain_text(f"Page 1 of {pages} ({total} in all)")
    expect(pager.get_by_role("link", name="← Newer")).to_have_count(0)
    first = [parse_article(raw) for raw in page.evaluate(ARTICLES_JS)]
    assert len(first) == PER_PAGE
    newest_raas = next(a for a in first if a["topic"] == RAAS)
    assert newest_raas["grade"] and float(newest_raas["grade"]) > 12, newest_raas
    marked = {w.casefold() for w in newest_raas["rare_marked"]}
    assert marked == {w.casefold() for w in newest_raas["rare_listed"]}, newest_raas
    assert set(ALLOWED) | {"juxtaglomerular"} <= marked, marked
    article = page.locator(f"#{newest_raas['id']}")
    expect(article.locator("mark.rare").first).to_be_visible()
    article.screenshot(path=str(artifacts_dir / "01-raas-article-rare-words.png"))
    shoot(page, artifacts_dir, "02-explanations-page-1")

    # 2. Older → and ← Newer.
    pager.get_by_role("link", name="Older →").click()
    expect(page).to_have_url(f"{base}/review/explanations?page=2&per_page={PER_PAGE}")
    expect(pager).to_contain_text(f"Page 2 of {pages} ({total} in all)")
    second = [parse_article(raw) for raw in page.evaluate(ARTICLES_JS)]
    assert len(second) == min(PER_PAGE, total - PER_PAGE)
    assert not {a["id"] for a in first} & {a["id"] for a in second}
    times = [a["taught"] for a in first + second]
    assert times == sorted(times, reverse=True), "not newest first"
    shoot(page, artifacts_dir, "03-explanations-page-2")
    pager.get_by_role("link", name="← Newer").click()
    expect(page).to_have_url(f"{base}/review/explanations?page=1&per_page={PER_PAGE}")
    expect(pager).to_contain_text(f"Page 1 of {pages}")
    bad = page.request.get(f"{base}/review/explanations?page=0")
    assert bad.status == 400 and "page must be 1 to" in bad.text(), bad.status

    # 3. The allow-list: saved terms are no longer marked rare; a bad list is
    # refused and nothing is written.
    try:
        page.goto(f"{base}/review#terms")
        terms = page.get_by_label("One per line or separated by commas")
        expect(terms).to_have_value("")
        terms.fill(f"{ALLOWED[0]}, {ALLOWED[1]}\n{ALLOWED[2]}")
        page.get_by_role("button", name="Save terms").click()
        expect(page.locator(".flash-success")).to_have_text("Saved 3 terms.")
        expect(page).to_have_url(f"{base}/review#terms")
        expect(terms).to_have_value(", ".join(ALLOWED))
        shoot(page, artifacts_dir, "04-terms-saved")

        typed = f"{ALLOWED[0]}, {'x' * 41}"
        terms.fill(typed)
        with page.expect_response(f"{base}/review/terms") as answer:
            page.get_by_role("button", name="Save terms").click()
        assert answer.value.status == 400  # the form's refusal, shown in place
        # The browser reports a 400 page as a failed load; both are expected.
        watch.problems.remove(f"HTTP 400 {base}/review/terms")
        page.wait_for_load_state()
        watch.problems[:] = [
            p for p in watch.problems if "status of 400 (BAD REQUEST)" not in p
        ]
        error = page.locator("#terms-error")
        expect(error).to_contain_text("Terms are limited to 40 characters")
        expect(error).to_be_in_viewport()
        expect(terms).to_have_value(typed)  # what was typed is kept
        shoot(page, artifacts_dir, "05-terms-refused")
        page.goto(f"{base}/review#terms")
        expect(terms).to_have_value(", ".join(ALLOWED))  # nothing written

        page.goto(f"{base}/review/explanations")
        after = next(
            parse_article(raw)
            for raw in page.evaluate(ARTICLES_JS)
            if raw["id"] == newest_raas["id"]
        )
        marked_after = {w.casefold() for w in after["rare_marked"]}
        assert marked_after == marked - set(ALLOWED), (marked, marked_after)
        assert {w.casefold() for w in after["rare_listed"]} == marked_after
        assert after["grade"] == newest_raas["grade"]  # the grade does not change
        page.locator(f"#{after['id']}").screenshot(
            path=str(artifacts_dir / "06-raas-article-with-allow-list.png")
        )
    finally:
        page.goto(f"{base}/review#terms")
        page.get_by_label("One per line or separated by commas").fill("")
        page.get_by_role("button", name="Save terms").click()
        expect(page.locator(".flash-success")).to_have_text("Saved 0 terms.")
    assert_clean(page, watch)


# --- the export -----------------------------------------------------------------


def download(page: Page, link: Locator, artifacts_dir: Path, pattern: str) -> Path:
    """Click a download link; save the file into the artifacts; return its path."""
    with page.expect_download() as info:
        link.click()
    got = info.value
    assert got.failure() is None, got.failure()
    assert re.fullmatch(pattern, got.suggested_filename), got.suggested_filename
    path = artifacts_dir / got.suggested_filename
    got.save_as(path)
    return path


def test_export_downloads_equal_what_the_pages_show(
    new_context, demo_server: LiveServer, artifacts_dir: Path
) -> None:
    base = demo_server.url
    page, watch = open_as_ana(new_context, base)
    page.goto(f"{base}/review")
    shown = figures(page)
    topics = topics_table(page)
    _, overall = figures_table(page)
    partner_row = table_rows(
        page.locator("section[aria-labelledby=partners-heading] table")
    )[0]
    line = page.locator("p.figures")

    csv_path = download(
        page,
        line.get_by_role("link", name="Export CSV"),
        artifacts_dir,
        r"ally-received-\d{8}\.csv",
    )
    json_path = download(
        page,
        line.get_by_role("link", name="JSON"),
        artifacts_dir,
        r"ally-received-\d{8}\.json",
    )
    with csv_path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        csv_rows = list(reader)
        header = reader.fieldnames
    exported = json.loads(json_path.read_text(encoding="utf-8"))
    assert exported["role"] == "received"
    items = exported["items"]

    # 1. The CSV and the JSON hold the same rows, one per explanation.
    assert len(items) == len(csv_rows) == shown["explanations"], len(items)
    assert header == list(items[0]), header
    for row, item in zip(csv_rows, items, strict=True):
        as_text = {
            k: "; ".join(v) if isinstance(v, list) else "" if v is None else str(v)
            for k, v in item.items()
        }
        assert row == as_text, (row, item)

    # 2. The figures: topics table, mean, and the chart's per-day means.
    by_topic: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        by_topic[item["topic"]].append(item)
    assert set(by_topic) == set(topics)
    for name, row in topics.items():
        values = [i["simplicity"] for i in by_topic[name]]
        assert len(values) == row["explanations"], name
        assert as_shown(mean(values)) == row["mean"], (name, values)
        assert values[-1] == row["last"], (name, values)
    raas_values = [i["simplicity"] for i in by_topic[RAAS]]
    assert as_shown(mean(i["simplicity"] for i in items)) == shown["mean"]
    assert float(partner_row[4]) == shown["mean"]
    # The chart buckets by day; in the demo every session falls on the same
    # day in UTC and in New York, so the export's local dates line up.
    per_day: dict[str, list[int]] = defaultdict(list)
    for item in items:
        per_day[item["date"]].append(item["simplicity"])
    assert [(d, round(mean(v), 2), len(v)) for d, v in per_day.items()] == overall

    # 3. The RAAS line of the chart is the RAAS rows' per-day means.
    page.goto(f"{base}/review?topic={RAAS_KEY}")
    raas_line = series_of(read_chart(page.locator("#chart svg.chart")))[RAAS]
    raas_days: dict[str, list[int]] = defaultdict(list)
    for item in by_topic[RAAS]:
        raas_days[item["date"]].append(item["simplicity"])
    assert raas_line == [(d, round(mean(v), 2)) for d, v in raas_days.items()]

    # 4. Row by row, the export is what "My explanations" shows (oldest first
    # there, newest first on the pages).
    articles = read_explanations(page, base)
    assert len(articles) == len(items)
    for article, item in zip(reversed(articles), items, strict=True):
        assert (
            article["date"],
            article["topic"],
            article["listener"],
            article["simplicity"],
            article["self_simplicity"],
            article["note"],
            article["jargon"],
            article["summary"],
            article["grade"],
            article["rare_listed"],
        ) == (
            item["date"],
            item["topic"],
            item["listener"],
            item["simplicity"],
            item["self_simplicity"],
            item["note"],
            item["jargon"],
            item["summary"],
            f"{item['reading_grade']:.1f}",
            item["rare_words"],
        ), (article, item)
        assert article["signals"] == {
            kind: item[f"signals_{kind}"] for kind in SIGNAL_KINDS
        }
        assert item["teacher"] == ANA_NAME
    assert [
        a["simplicity"] for a in reversed(articles) if a["topic"] == RAAS
    ] == raas_values

    # 5. The ratings I gave (role=given, the given page's JSON link): their mean
    # is the per-partner table's "Theirs", and they are all Ana's, of Ben.
    page.goto(f"{base}/review/given")
    given_path = download(
        page,
        page.get_by_role("main").get_by_role("link", name="JSON"),
        artifacts_dir,
        r"ally-given-\d{8}\.json",
    )
    given = json.loads(given_path.read_text(encoding="utf-8"))
    assert given["role"] == "given" and given["items"], given
    assert {(g["teacher"], g["listener"]) for g in given["items"]} == {
        (BEN_NAME, ANA_NAME)
    }
    assert as_shown(mean(g["simplicity"] for g in given["items"])) == float(
        partner_row[5]
    )
    shoot(page, artifacts_dir, "01-ratings-given")
    assert_clean(page, watch)


# --- a phone ----------------------------------------------------------------------


def test_review_pages_on_a_phone(
    new_context, demo_server: LiveServer, artifacts_dir: Path
) -> None:
    base = demo_server.url
    page, watch = open_as_ana(new_context, base, viewport=PHONE)
    page.goto(f"{base}/review")
    expect(page.locator("#gaps ol.gaps > li").first).to_contain_text(RAAS)
    expect(page.locator("#chart svg.chart")).to_be_visible()
    no_sideways_scroll(page)
    shoot(page, artifacts_dir, "01-phone-review")
    page.locator("#chart svg.chart").screenshot(
        path=str(artifacts_dir / "02-phone-chart.png")
    )
    _, rows = figures_table(page)
    assert rows, "no figures"
    no_sideways_scroll(page)

    page.get_by_label("Topic", exact=True).select_option(label=RAAS)
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#chart svg.chart polyline")).to_have_count(2)
    no_sideways_scroll(page)
    shoot(page, artifacts_dir, "03-phone-review-raas")

    # The export links are reachable and still download on a phone.
    with page.expect_download() as info:
        page.locator("p.figures").get_by_role("link", name="Export CSV").click()
    assert info.value.suggested_filename.endswith(".csv")

    for path, name in (
        ("/review/explanations", "04-phone-explanations"),
        ("/review/explanations?page=2&per_page=20", "05-phone-explanations-2"),
        ("/review/given", "06-phone-given"),
    ):
        page.goto(f"{base}{path}")
        expect(page.locator("h1")).to_be_visible()
        if path.startswith("/review/explanations"):
            expect(page.locator("mark.rare").first).to_be_visible()
        no_sideways_scroll(page)
        shoot(page, artifacts_dir, name)
    assert_clean(page, watch)


# --- known defects ------------------------------------------------------------------


def axis_label_overlaps(svg: Locator) -> list[str]:
    """Pairs of x-axis labels whose boxes overlap on screen."""
    return svg.evaluate(
        """svg => {
          const labels = [...svg.querySelectorAll('text')]
            .filter(t => /^\\d{4}-/.test(t.textContent))
            .map(t => ({text: t.textContent, r: t.getBoundingClientRect()}));
          const out = [];
          for (let i = 1; i < labels.length; i++) {
            const a = labels[i - 1], b = labels[i];
            if (a.r.right > b.r.left) out.push(`${a.text} / ${b.text}`);
          }
          return out;
        }"""
    )


def test_chart_axis_labels_do_not_overlap(
    new_context, demo_server: LiveServer, artifacts_dir: Path
) -> None:
    page, _ = open_as_ana(new_context, demo_server.url)
    page.goto(f"{demo_server.url}/review")
    charts = page.locator("svg.chart")
    expect(charts).to_have_count(3)
    charts.first.screenshot(path=str(artifacts_dir / "chart-axis.png"))
    overlaps = [axis_label_overlaps(charts.nth(i)) for i in range(3)]
    assert overlaps == [[], [], []], overlaps


def test_each_chart_is_named_by_its_own_title(
    new_context, demo_server: LiveServer
) -> None:
    page, _ = open_as_ana(new_context, demo_server.url)
    page.goto(f"{demo_server.url}/review")
    expect(page.locator("svg.chart")).to_have_count(3)
    ids = page.evaluate("[...document.querySelectorAll('[id]')].map(e => e.id)")
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    expect(
        page.get_by_role("img", name="Self-rating against partner's rating per day")
    ).to_have_count(1)
    expect(
        page.get_by_role(
            "img", name="Prediction, self-rating, partner and re-check per day"
        )
    ).to_have_count(1)


def test_chart_text_is_readable_on_a_phone(
    new_context, demo_server: LiveServer, artifacts_dir: Path
) -> None:
    page, _ = open_as_ana(new_context, demo_server.url, viewport=PHONE)
    page.goto(f"{demo_server.url}/review")
    svg = page.locator("#chart svg.chart")
    svg.screenshot(path=str(artifacts_dir / "phone-chart.png"))
    smallest = svg.evaluate(
        """svg => {
          const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
          return Math.min(...[...svg.querySelectorAll('text')].map(
            t => Number(t.getAttribute('font-size')) * scale));
        }"""
    )
    assert smallest >= 9, f"chart text renders at {smallest:.1f} px"


def test_the_table_holds_every_figure_the_chart_draws(
    new_context, demo_server: LiveServer
) -> None:
    page, _ = open_as_ana(new_context, demo_server.url)
    page.goto(f"{demo_server.url}/review?topic={RAAS_KEY}")
    drawn = series_of(read_chart(page.locator("#chart svg.chart")))
    assert set(drawn) == {"All topics", RAAS}
    details = page.locator("#chart details")
    details.locator("summary").click()
    cells = " ".join(" ".join(row) for row in table_rows(details.locator("table")))
    header = details.locator("thead").inner_text()
    assert RAAS in header, header
    for label, value in drawn[RAAS]:
        assert f"{label}" in cells and f"{value:.2f}" in cells, (label, value)
