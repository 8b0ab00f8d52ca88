"""The demo's dashboard as a person sees it: Debian's chromium, headless, driven by Playwright, on a laptop
(1440x900) and on a phone (390x844).

The demo runs as a user runs it (a subprocess of the CLI, with its injected failure); the page must render
with no console error and no network request, the phone view must not scroll sideways, every chart must be
drawn with its tooltip, the KPIs and the call list must equal the warehouse's rpt views for any day picked
with the date control, sorting must work from the keyboard, and the health panel must show the injected
failure as failed. Screenshots go to out/dashboard.png and out/dashboard-phone.png (docs/ holds copies of
them, shown by the README).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from company_activity_local.demo.failure import injected_day
from company_activity_local.warehouse import open_warehouse

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip
REPO = Path(__file__).resolve().parents[3]
SCREENSHOTS = {"laptop": REPO / "out" / "dashboard.png", "phone": REPO / "out" / "dashboard-phone.png"}
VIEWPORTS = {"laptop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
DAYS, COMPANIES, SEED = 12, 80, 11
END = date(2026, 3, 12)
INJECTED = injected_day(END - timedelta(days=DAYS - 1))  # the day before the night's first date


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(dashboard, warehouse, demo output)."""
    out = tmp_path_factory.mktemp("demo") / "out"
    completed = subprocess.run(
        [str(Path(sys.executable).parent / "company-activity"), "demo",
         "--dates", f"{END - timedelta(days=DAYS - 1)}..{END}",
         "--companies", str(COMPANIES), "--seed", str(SEED), "--out", str(out)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    return out / "dashboard.html", out / "warehouse.duckdb", output


@pytest.fixture(scope="module")
def rpt(demo) -> Iterator[object]:
    with open_warehouse(duckdb_path=demo[1]) as warehouse:
        yield warehouse


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make install` installs Debian's chromium (as root)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _open(browser, url: str, viewport: dict[str, int]) -> tuple[object, Page, list[str], list[str]]:
    context = browser.new_context(viewport=viewport)
    opened = context.new_page()
    errors: list[str] = []
    blocked: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))

    def route(request_route) -> None:
        if request_route.request.url.startswith("file:"):
            request_route.continue_()
        else:
            blocked.append(request_route.request.url)
            request_route.abort()

    opened.route("**/*", route)
    opened.goto(url)
    opened.wait_for_selector("body[data-rendered=true]")
    return context, opened, errors, blocked


@pytest.fixture(params=sorted(VIEWPORTS))
def page(request, browser, demo) -> Iterator[tuple[Page, list[str], list[str], str]]:
    """The demo's dashboard at each viewport, every non-file request blocked; (page, errors, blocked, name)."""
    context, opened, errors, blocked = _open(browser, demo[0].as_uri(), VIEWPORTS[request.param])
    yield opened, errors, blocked, request.param
    context.close()


@pytest.fixture()
def laptop(browser, demo) -> Iterator[Page]:
    context, opened, _, _ = _open(browser, demo[0].as_uri(), VIEWPORTS["laptop"])
    yield opened
    context.close()


def _day_numbers(rpt, day: date) -> dict[str, int]:
    row = rpt.query("SELECT companies, active_users, companies_at_risk FROM rpt.daily_summary "
                    "WHERE activity_date = @d;", {"d": day})[0]  # fmt: skip
    calls = rpt.query("SELECT COUNT(*) AS n FROM rpt.call_list WHERE activity_date = @d;", {"d": day})[0]["n"]
    return {"companies": row["companies"], "active_users": row["active_users"],
            "companies_at_risk": row["companies_at_risk"], "to_call": calls}  # fmt: skip


def _kpis(opened: Page) -> dict[str, int]:
    return {name: int(opened.locator(f'[data-kpi="{name}"] .value').get_attribute("data-value"))
            for name in ("companies", "active_users", "companies_at_risk", "to_call")}  # fmt: skip


def _listed(opened: Page) -> list[str]:
    return opened.locator("#call-list tbody tr[data-company]").evaluate_all("trs => trs.map(tr => tr.dataset.company)")


def _ranked(rpt, day: date) -> list[str]:
    rows = rpt.query("SELECT company_id FROM rpt.call_list WHERE activity_date = @d ORDER BY call_rank;", {"d": day})
    return [r["company_id"] for r in rows]


def test_the_demo_writes_the_dashboard_and_prints_its_path(demo):
    dashboard, _, output = demo
    assert f"open the dashboard in a browser: {dashboard.resolve()}" in output  # the first of the next steps
    html = dashboard.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing to fetch


def test_the_page_renders_without_errors_network_or_sideways_scroll(page):
    opened, errors, blocked, name = page
    SCREENSHOTS[name].parent.mkdir(exist_ok=True)
    opened.screenshot(path=str(SCREENSHOTS[name]), full_page=True)
    assert errors == []
    assert blocked == []
    width = VIEWPORTS[name]["width"]
    assert opened.evaluate("document.documentElement.scrollWidth") <= width
    # every chart fits its card
    for box in opened.eval_on_selector_all(
        "[data-chart=trend] svg, [data-chart=users] svg, [data-chart=drilldown] svg",
        "els => els.map(e => [e.getBoundingClientRect().right, e.closest('section').getBoundingClientRect().right])",
    ):
        assert box[0] <= box[1] + 0.5, box
    assert SCREENSHOTS[name].stat().st_size > 10_000


def test_on_a_phone_the_list_shows_company_reasons_severity_and_average_first(browser, demo):
    context, opened, _, _ = _open(browser, demo[0].as_uri(), VIEWPORTS["phone"])
    try:
        headers = opened.locator("#call-list thead th").evaluate_all(
            "ths => ths.filter(th => th.offsetParent !== null).map(th => th.textContent.trim())")
        assert [h.split()[0] for h in headers[:4]] == ["Company", "Why", "Severity", "7-day"]
        table = opened.locator("#call-list").bounding_box()
        assert table["x"] + table["width"] <= VIEWPORTS["phone"]["width"]
    finally:
        context.close()


def test_every_chart_is_drawn_with_axis_titles_and_whole_number_ticks(laptop):
    charts = laptop.eval_on_selector_all(
        "[data-chart]",
        """els => els.map(e => ({
            chart: e.dataset.chart,
            lines: [...e.querySelectorAll('path')].filter(p => (p.getAttribute('d') || '').includes('L')).length,
            ticks: [...e.querySelectorAll('text[data-tick]')].map(t => Number(t.dataset.tick)),
            titles: [...e.querySelectorAll('text.axis-title')].map(t => t.textContent),
            dates: e.querySelectorAll('text[data-date-label]').length,
            label: (e.querySelector('svg') || {getAttribute: () => ''}).getAttribute('aria-label'),
        }))""",
    )
    by_kind = {c["chart"]: c for c in charts if c["chart"] != "sparkline"}
    assert by_kind["trend"]["lines"] == 5 and by_kind["users"]["lines"] == 1 and by_kind["drilldown"]["lines"] == 2
    for chart in by_kind.values():
        assert chart["ticks"] and all(t == int(t) for t in chart["ticks"]), chart
        assert chart["titles"][0] == "Day (UTC)" and chart["titles"][1], chart
        assert chart["dates"] >= 5 and chart["label"].startswith("Line chart"), chart
    assert by_kind["users"]["titles"][1] == "Active users (people)"
    sparklines = [c for c in charts if c["chart"] == "sparkline"]
    assert len(sparklines) == laptop.locator("#call-list tbody tr[data-company]").count() > 0
    label = laptop.locator("[data-chart=sparkline] svg").first.get_attribute("aria-label")
    assert re.search(r"Daily active users \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d \(\d+ loaded days\): highest \d+", label)


OKABE_ITO = {"rgb(0, 0, 0)", "rgb(230, 159, 0)", "rgb(86, 180, 233)", "rgb(0, 158, 115)", "rgb(240, 228, 66)",
             "rgb(0, 114, 178)", "rgb(213, 94, 0)", "rgb(204, 121, 167)"}  # fmt: skip


def test_series_differ_in_colour_blind_safe_colours_and_the_window_start_is_marked_incomplete(laptop, rpt):
    for chart in ("trend", "drilldown"):
        strokes = laptop.eval_on_selector_all(f"[data-chart={chart}] path[data-series]",
                                              "ps => ps.map(p => getComputedStyle(p).stroke)")  # fmt: skip
        assert len(strokes) >= 2 and len(set(strokes)) == len(strokes) and set(strokes) <= OKABE_ITO, (chart, strokes)
    # The first 7 loaded days have no complete week before them: shaded, so a fall there reads as incomplete.
    first = rpt.query("SELECT MIN(activity_date) AS d FROM rpt.loaded_days;")[0]["d"]
    shade = laptop.locator("[data-chart=trend] rect[data-incomplete]")
    assert shade.count() == 1 and shade.get_attribute("data-incomplete") == (first + timedelta(days=6)).isoformat()


def test_kpis_and_the_call_list_equal_the_rpt_views(laptop, rpt):
    assert _kpis(laptop) == _day_numbers(rpt, END)
    previous = _day_numbers(rpt, END - timedelta(days=7))
    assert int(laptop.locator('[data-kpi="companies"] [data-previous]').get_attribute("data-previous")) == \
        previous["companies"]
    assert _listed(laptop) == _ranked(rpt, END)
    missing = rpt.query("SELECT COUNT(*) AS n FROM rpt.usage_without_crm WHERE activity_date = @d;", {"d": END})[0]["n"]
    listed_missing = laptop.locator("#no-crm tbody tr[data-company]").count()
    assert listed_missing == min(missing, 50) and not set(_listed(laptop)) & set(
        laptop.locator("#no-crm tbody tr[data-company]").evaluate_all("trs => trs.map(t => t.dataset.company)"))


def test_the_date_control_changes_the_kpis_the_list_and_the_charts(laptop, rpt):
    other = END - timedelta(days=4)
    laptop.select_option("#day-select", label=other.isoformat())
    assert _kpis(laptop) == _day_numbers(rpt, other)
    assert _listed(laptop) == _ranked(rpt, other)
    last_label = laptop.locator("[data-chart=trend] text[data-date-label]").last.get_attribute("data-date-label")
    assert last_label == other.isoformat()  # the charts end on the day shown
    laptop.click("#day-next")
    assert _kpis(laptop) == _day_numbers(rpt, other + timedelta(days=1))
    assert other.isoformat() not in laptop.locator("#subtitle").inner_text()


def test_filters_apply_to_the_kpis_the_charts_and_the_list_and_an_empty_result_says_so(laptop, rpt):
    reasons = rpt.query("SELECT company_id FROM rpt.call_list WHERE activity_date = @d AND is_low_activity = 1;",
                        {"d": END})  # fmt: skip
    laptop.select_option("#filter-reason", "low_activity")
    assert int(laptop.locator('[data-kpi="to_call"] .value').get_attribute("data-value")) == len(reasons)
    assert sorted(_listed(laptop)) == sorted(r["company_id"] for r in reasons)
    assert laptop.locator("[data-chart=trend] path[data-series=stale_contact]").count() == 0
    laptop.select_option("#filter-reason", "")
    industry = rpt.query("SELECT TOP (1) industry_tag, COUNT(*) AS n FROM rpt.company_daily_activity "
                         "WHERE activity_date = @d AND industry_tag IS NOT NULL GROUP BY industry_tag "
                         "ORDER BY industry_tag;", {"d": END})[0]
    laptop.select_option("#filter-industry", label=industry["industry_tag"])
    assert int(laptop.locator('[data-kpi="companies"] .value').get_attribute("data-value")) == industry["n"]
    laptop.fill("#filter-text", "no company is called this")
    assert _listed(laptop) == []
    empty = laptop.locator("#call-list tbody").inner_text()
    assert "No company on this day's call list matches these filters." in empty


def test_tooltips_give_the_exact_value_on_hover_and_on_keyboard_focus(laptop, rpt):
    chart = laptop.locator("[data-chart=trend] svg")
    box = chart.bounding_box()
    chart.hover(position={"x": box["width"] - 14, "y": box["height"] / 2})  # scrolls it into view first
    tip = laptop.locator("#trend-tip")
    assert tip.is_visible() and tip.get_attribute("data-date") == END.isoformat()
    assert f"to call: {_day_numbers(rpt, END)['to_call']}" in tip.inner_text()
    laptop.mouse.move(0, 0)
    chart.focus()
    laptop.keyboard.press("ArrowLeft")
    previous = END - timedelta(days=1)
    assert tip.is_visible() and tip.get_attribute("data-date") == previous.isoformat()
    assert f"to call: {_day_numbers(rpt, previous)['to_call']}" in tip.inner_text()


def test_sorting_works_from_the_keyboard_and_never_is_the_most_stale(laptop):
    header = laptop.locator('#call-list th[data-key="days_since_contact"]')
    header.locator("button").focus()
    laptop.keyboard.press("Enter")
    assert header.get_attribute("aria-sort") == "ascending"
    values = laptop.locator("#call-list tbody td[data-days]").evaluate_all("tds => tds.map(td => td.dataset.days)")
    numbers = [int(v) for v in values if v != "never"]
    assert numbers == sorted(numbers) and values[len(numbers):] == ["never"] * (len(values) - len(numbers))
    laptop.keyboard.press("Enter")
    assert header.get_attribute("aria-sort") == "descending"
    values = laptop.locator("#call-list tbody td[data-days]").evaluate_all("tds => tds.map(td => td.dataset.days)")
    nevers = values.count("never")
    assert values[:nevers] == ["never"] * nevers and [int(v) for v in values[nevers:]] == sorted(
        (int(v) for v in values[nevers:]), reverse=True)


def test_the_health_panel_shows_the_injected_failure_as_failed(laptop, demo):
    status = laptop.locator("#health-status")
    assert status.get_attribute("data-status") == "failed"
    assert f"PL_daily_company_activity for {INJECTED.isoformat()}" in status.inner_text()
    failed = laptop.locator("#pipeline-runs tbody tr[data-status=Failed]")
    assert failed.count() == 1 and INJECTED.isoformat() in failed.inner_text()
    runs = (demo[1].parent / "warehouse.runs.jsonl").read_text().splitlines()
    assert laptop.locator("#pipeline-runs tbody tr[data-run-id]").count() == len(runs) // 2  # start + end per run


def test_the_drill_down_follows_the_chosen_company_and_marks_its_contacts(laptop, rpt):
    listed = _listed(laptop)
    contacts = {r["company_id"]: [] for r in rpt.query("SELECT DISTINCT company_id FROM rpt.company_contacts;")}
    for row in rpt.query("SELECT company_id, contact_date FROM rpt.company_contacts WHERE contact_date BETWEEN @a "
                         "AND @b ORDER BY contact_date;", {"a": END - timedelta(days=DAYS - 1), "b": END}):
        contacts[row["company_id"]].append(row["contact_date"].isoformat())
    company = next((c for c in listed if contacts.get(c)), listed[-1])
    laptop.locator(f'#call-list tbody tr[data-company="{company}"] button.company').press("Enter")
    assert company in laptop.locator("#drilldown-title").inner_text()
    assert laptop.locator("#drilldown path[data-series]").count() == 2
    markers = laptop.locator("#drilldown line[data-marker]").evaluate_all("ls => ls.map(l => l.dataset.marker)")
    assert sorted(markers) == contacts.get(company, [])


def test_contact_dates_are_marked_and_names_stay_text(browser, loaded, tmp_path):
    """A small warehouse where at-risk company a was contacted on day 3 (tests/support/dashboard_fixtures.py)."""
    from company_activity_local.cli import main
    from tests.support.dashboard_fixtures import EVIL
    from tests.support.warehouse_helpers import day

    html = tmp_path / "dashboard.html"
    assert main(["dashboard", "--warehouse", str(loaded), "-o", str(html)]) == 0
    context, opened, errors, _ = _open(browser, html.as_uri(), VIEWPORTS["laptop"])
    try:
        assert errors == []
        assert opened.title() == "Company Activity Dashboard"  # the name's <script> never ran
        assert opened.locator("#drilldown").get_attribute("data-company") == "a"
        markers = opened.locator("#drilldown line[data-marker]").evaluate_all("ls => ls.map(l => l.dataset.marker)")
        assert markers == [day(3).isoformat()]
        assert opened.locator('#call-list tbody tr[data-company="a"] button.company').inner_text() == f"{EVIL} (a)"
    finally:
        context.close()
