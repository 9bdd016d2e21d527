"""The HTML report in headless Debian chromium: charts drawn, numbers shown, no script injected."""

import shutil
from pathlib import Path

import pytest
from sqlmodel import Session

from reach.report import build_report, write_report
from tests.reach import factories as f

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.mark.slow
def test_html_report_draws_charts_shows_numbers_and_runs_no_injected_script(
    session: Session, db_url: str, tmp_path: Path
) -> None:
    if CHROMIUM is None:
        pytest.skip(reason="no chromium found (install Debian's `chromium` package; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    f.seed_case(session)
    report = build_report(db_url, f.SEED_SINCE, f.SEED_UNTIL, timezone="UTC")
    path = write_report(report, "html", tmp_path / "report.html")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri())
            page.wait_for_selector("#chart-top-posts .main-svg", timeout=20000)
            assert page.locator(".js-plotly-plot").count() == 4
            assert page.locator("#chart-top-posts .bars path").count() >= 2
            assert page.evaluate("typeof window.__pwned") == "undefined"
            body = page.inner_text("body")
            assert "31,000" in body and "2,900" in body and "1,600" in body
            assert "<script>window.__pwned = 1</script>" in body  # shown literally, as text
            assert all(u.startswith(("file:", "data:", "about:")) for u in requests)
            shot = page.screenshot(full_page=True)
            # A drawn page has many colours; a blank one compresses to almost nothing.
            assert len(shot) > 50_000
            # Sorting: clicking "Likes" twice puts the highest first.
            header = page.locator("#ambassadors-table th", has_text="Likes")
            header.click()
            header.click()
            assert "Ngozi Eze" in page.inner_text("#ambassadors-table tbody tr:first-child")
        finally:
            browser.close()
