"""The demo's dashboard as a person sees it: Debian's chromium, headless, driven by Playwright.

The demo runs as a user runs it (a subprocess of the CLI); the page must render with no console
error and no network request, every chart must be drawn, the KPIs must equal the same numbers
queried from the warehouse, and the at-risk table must filter and sort. A screenshot goes to
out/dashboard.png (docs/dashboard.png is a copy of it, shown by the README).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Page, sync_playwright

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run",
]  # fmt: skip
REPO = Path(__file__).resolve().parents[3]
SCREENSHOT = REPO / "out" / "dashboard.png"
DAYS, COMPANIES, SEED = 12, 80, 11
END = date(2026, 3, 12)


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
def browser() -> Iterator[object]:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make install` installs Debian's chromium (as root)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture()
def page(browser, demo) -> Iterator[tuple[Page, list[str], list[str]]]:
    """The demo's dashboard, opened with every non-file request blocked; (page, console errors, blocked)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    errors: list[str] = []
    blocked: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith("file:"):
            request_route.continue_()
        else:
            blocked.append(url)
            request_route.abort()

    opened.route("**/*", route)
    opened.goto(demo[0].as_uri())
    opened.wait_for_selector("body[data-rendered=true]")
    yield opened, errors, blocked
    context.close()


def _warehouse_numbers(warehouse: Path, day: date) -> dict[str, int]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        companies, users, risk = connection.execute(
            "SELECT COUNT(*), SUM(daily_active_users), COUNT(*) FILTER (WHERE is_churn_risk) "
            "FROM dbo.fact_daily_company_activity WHERE activity_date = ?",
            [day],
        ).fetchone()
    return {"companies": companies, "active_users": int(users), "companies_at_risk": risk}


def test_the_demo_writes_the_dashboard_and_prints_its_path(demo):
    dashboard, _, output = demo
    assert f"open the dashboard in a browser: {dashboard.resolve()}" in output  # the first of the next steps
    html = dashboard.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing to fetch


def test_the_page_renders_without_errors_or_network(page):
    opened, errors, blocked = page
    SCREENSHOT.parent.mkdir(exist_ok=True)
    opened.screenshot(path=str(SCREENSHOT), full_page=True)
    assert errors == []
    assert blocked == []
    assert SCREENSHOT.stat().st_size > 10_000


def test_every_chart_is_drawn(page):
    opened, _, _ = page
    charts = opened.eval_on_selector_all(
        "[data-chart]",
        """els => els.map(e => ({
            chart: e.dataset.chart,
            svg: e.querySelectorAll('svg').length,
            lines: [...e.querySelectorAll('path')].filter(p => (p.getAttribute('d') || '').includes('L')).length,
        }))""",
    )
    kinds = {c["chart"] for c in charts}
    assert kinds == {"trend", "drilldown", "sparkline"}
    for chart in charts:
        assert chart["svg"] == 1 and chart["lines"] >= 1, chart
    assert next(c for c in charts if c["chart"] == "trend")["lines"] == 4  # three reasons and the total
    assert next(c for c in charts if c["chart"] == "drilldown")["lines"] == 2  # daily and rolling
    rows = opened.locator("#at-risk tbody tr").count()
    assert sum(1 for c in charts if c["chart"] == "sparkline") == rows > 0


def test_kpis_equal_the_warehouse(page, demo):
    opened, _, _ = page
    now = _warehouse_numbers(demo[1], END)
    before = _warehouse_numbers(demo[1], END - timedelta(days=7))
    for name in ("companies", "active_users", "companies_at_risk"):
        kpi = opened.locator(f'[data-kpi="{name}"]')
        assert int(kpi.locator(".value").get_attribute("data-value")) == now[name], name
        assert int(kpi.locator("[data-previous]").get_attribute("data-previous")) == before[name], name
    subtitle = opened.locator("#subtitle").inner_text()
    assert f"Day {END.isoformat()}" in subtitle


def test_filter_by_reason_and_sort(page, demo):
    opened, _, _ = page
    with duckdb.connect(str(demo[1]), read_only=True) as connection:
        expected = dict(connection.execute(
            "SELECT reason, COUNT(*) FROM (SELECT unnest(string_split(churn_risk_reason, ',')) AS reason "
            "FROM dbo.fact_daily_company_activity WHERE activity_date = ? AND is_churn_risk) GROUP BY reason",
            [END],
        ).fetchall())  # fmt: skip
    assert expected, "the demo day has no at-risk company"
    for reason, count in expected.items():
        opened.select_option("#filter-reason", reason)
        visible = opened.locator("#at-risk tbody tr:not([hidden])")
        assert visible.count() == count == int(opened.locator("#at-risk-count").get_attribute("data-shown"))
        reasons = visible.locator("td.reasons").evaluate_all("tds => tds.map(td => td.dataset.reasons.split(','))")
        assert all(reason in r for r in reasons)
    opened.select_option("#filter-reason", "")
    opened.click('th[data-sort="6"]')  # days since contact, ascending
    values = opened.locator("#at-risk tbody tr:not([hidden]) td:nth-child(6)").all_inner_texts()
    numbers = [int(v) for v in values if v != "never"]
    assert numbers == sorted(numbers) and values[len(numbers):] == ["never"] * (len(values) - len(numbers))


def test_drill_down_follows_the_clicked_row_and_marks_its_contacts(page, demo):
    opened, _, _ = page
    rows = opened.locator("#at-risk tbody tr")
    with duckdb.connect(str(demo[1]), read_only=True) as connection:
        contacts = {
            company: sorted(d.isoformat() for d in dates)
            for company, dates in connection.execute(
                "SELECT company_id, list(contact_date) FROM dbo.crm_contact_history "
                "WHERE contact_date BETWEEN ? AND ? GROUP BY company_id",
                [END - timedelta(days=DAYS - 1), END],
            ).fetchall()
        }
    listed = rows.evaluate_all("trs => trs.map(tr => tr.dataset.company)")
    # A listed company with contacts in the window if there is one (its markers are then checked).
    company = next((c for c in listed if c in contacts), listed[-1])
    opened.locator(f'#at-risk tbody tr[data-company="{company}"]').click()
    assert company in opened.locator("#drilldown-title").inner_text()
    assert opened.locator("#drilldown-company").input_value() == company
    assert opened.locator("#drilldown path[data-series]").count() == 2
    markers = opened.locator("#drilldown line[data-marker]").evaluate_all("ls => ls.map(l => l.dataset.marker)")
    assert sorted(markers) == contacts.get(company, [])


def test_pipeline_health_shows_freshness_and_the_last_loads(page, demo):
    opened, _, _ = page
    with duckdb.connect(str(demo[1]), read_only=True) as connection:
        runs = connection.execute("SELECT COUNT(*) FROM etl.load_log").fetchone()[0]
    assert opened.locator("#load-runs tbody tr").count() == min(runs, 15)
    assert opened.locator("#freshness tr[data-key='Latest loaded fact day'] td").inner_text() == END.isoformat()
    assert "Up to date" in opened.locator("#health-status").inner_text()


def test_contact_dates_are_marked_and_names_stay_text(browser, loaded, tmp_path):
    """A small warehouse where at-risk company a was contacted on day 3 (tests/support/dashboard_fixtures.py)."""
    from company_activity_local.cli import main
    from tests.support.dashboard_fixtures import EVIL
    from tests.support.warehouse_helpers import day

    html = tmp_path / "dashboard.html"
    assert main(["dashboard", "--warehouse", str(loaded), "-o", str(html)]) == 0
    context = browser.new_context()
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(html.as_uri())
    opened.wait_for_selector("body[data-rendered=true]")
    try:
        assert errors == []
        assert opened.title() == "Company Activity Dashboard"  # the name's <script> never ran
        assert opened.locator("#drilldown-company").input_value() == "a"
        markers = opened.locator("#drilldown line[data-marker]").evaluate_all("ls => ls.map(l => l.dataset.marker)")
        assert markers == [day(3).isoformat()]
        assert opened.locator('#at-risk tbody tr[data-company="a"] td').first.inner_text() == f"{EVIL} (a)"
    finally:
        context.close()
