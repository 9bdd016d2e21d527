"""The dashboard in Debian's chromium (Playwright), served by a real `reach web` on loopback, on
SQLite and PostgreSQL."""

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from tests.web.conftest import PASSWORD, USERS, WebServer

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
QUERY = "range=custom&since=2026-03-01&until=2026-03-31"

pytestmark = pytest.mark.slow


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip(reason="no chromium found (install Debian's `chromium` package; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def signed_in(browser: Any, server: WebServer, width: int = 1440, role: str = "editor") -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.problems = []
    page.on("pageerror", lambda e: page.problems.append(str(e)))
    page.on(
        "console",
        lambda m: page.problems.append(m.text) if m.type == "error" else None,
    )
    page.goto(server.url + "/")
    assert "/signin" in page.url
    page.fill("input[name=email]", USERS[role])
    page.fill("input[name=password]", PASSWORD)
    page.click("form.signin button[type=submit]")
    page.wait_for_url(server.url + "/")
    return page


def points(page: Any, chart: str) -> int:
    page.wait_for_selector(f"#{chart} .main-svg", timeout=20000)
    return int(page.locator(f"#{chart} .scatterlayer .point").count())


def test_the_seed_case_on_every_page_with_charts_drawn_and_no_script_run(
    browser: Any, web_server: WebServer
) -> None:
    page = signed_in(browser, web_server)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{web_server.url}/?{QUERY}")
    page.wait_for_selector("#chart-top-posts .main-svg", timeout=20000)
    assert page.locator(".js-plotly-plot").count() == 4
    headline = page.inner_text("#headline")
    assert "33,950" in headline and "+33,938" in headline and "3,200" in headline
    body = page.inner_text("body")
    assert "31,000" in body and "2,900" in body
    assert "<script>window.__pwned = 1</script>" in body  # the post's text, shown as text
    assert page.evaluate("typeof window.__pwned") == "undefined"
    # The followers chart fits its card on first draw.
    fits = page.evaluate(
        "(() => { const c = document.querySelector('#chart-followers');"
        " const s = c.querySelector('.main-svg'); return s.getBoundingClientRect().width"
        " <= c.getBoundingClientRect().width + 1; })()"
    )
    assert fits

    page.goto(f"{web_server.url}/ambassadors?{QUERY}")
    first = page.inner_text("#leaderboard tbody tr:first-child")
    assert "Ngozi Eze" in first and "31,000" in first and "1,600" in first
    page.click("#leaderboard th a[data-sort-key=likes]")  # highest first
    page.click("#leaderboard th a[data-sort-key=likes]")  # then lowest first
    assert "Amélie Laurent" in page.inner_text("#leaderboard tbody tr:first-child")
    page.select_option("#filters select[name=country]", "NG")
    page.click("#filters button[type=submit]")
    assert page.locator("#leaderboard tbody tr").count() == 1
    assert "Ngozi Eze" in page.inner_text("#leaderboard tbody")

    page.goto(f"{web_server.url}/ambassadors/amelie-laurent?{QUERY}")
    assert points(page, "chart-account-followers") == 2  # crawled on Mar 15 and Mar 31
    page.goto(f"{web_server.url}/ambassadors/ngozi-eze?{QUERY}")
    assert points(page, "chart-account-followers") == 31  # LinkedIn's daily series
    ngozi = page.inner_text("body")
    assert "31,000" in ngozi and "2,900" in ngozi and "1,600" in ngozi

    page.goto(f"{web_server.url}/ambassadors/amelie-laurent?{QUERY}")
    page.click("#posts a[href^='/posts/']")
    # Likes, comments, reposts and quotes: each a line with a point at its one snapshot.
    assert points(page, "chart-post-history") == 4
    assert page.locator("#chart-post-history .scatterlayer .trace").count() == 4
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.problems == []
    assert all(u.startswith(web_server.url) for u in requests)  # no CDN, nothing external


def test_at_390_px_nothing_scrolls_sideways(browser: Any, web_server: WebServer) -> None:
    page = signed_in(browser, web_server, width=390)
    for path in (
        f"/?{QUERY}",
        f"/ambassadors?{QUERY}",
        f"/ambassadors/ngozi-eze?{QUERY}",
        "/health",
    ):
        page.goto(web_server.url + path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
    page.goto(f"{web_server.url}/?{QUERY}")
    page.wait_for_selector("#chart-followers .main-svg", timeout=20000)
    drawn = page.evaluate(
        "document.querySelector('#chart-followers .main-svg').getBoundingClientRect().width"
    )
    assert drawn <= 390


def test_an_upload_from_the_form_shows_its_figures_or_its_problem(
    browser: Any, web_server: WebServer, tmp_path: Path, seeded: Session
) -> None:
    import datetime as dt

    from tests.reach.test_linkedin import creator_workbook

    days = [dt.date(2026, 4, 1) + dt.timedelta(n) for n in range(30)]
    good = creator_workbook(
        tmp_path / "Content_2026-04-01_2026-04-30_NgoziEze.xlsx",
        days[0],
        days[-1],
        followers={d: 10 for d in days},
        total=12300,
    )
    bad = tmp_path / "Content_2026-04-01_2026-04-30_NgoziEze_empty.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a workbook")
    page = signed_in(browser, web_server)
    page.goto(web_server.url + "/linkedin")
    page.set_input_files("input[name=file]", str(bad))
    page.click("form.upload button[type=submit]")
    problem = page.inner_text("#upload-outcome")
    assert problem.startswith(bad.name)
    page.set_input_files("input[name=file]", str(good))
    page.select_option("select[name=ambassador]", "ngozi-eze")
    page.click("form.upload button[type=submit]")
    assert "Content_2026-04-01_2026-04-30_NgoziEze.xlsx" in page.inner_text("#upload-outcome")
    page.goto(f"{web_server.url}/ambassadors/ngozi-eze?range=month&month=2026-04")
    assert "300" in page.inner_text("#card-new_followers")


def test_forwarded_headers_count_only_from_a_trusted_proxy(
    seeded: Session, db_url: str, tmp_path: Path
) -> None:
    """Behind a proxy on 127.0.0.1 (trusted), X-Forwarded-Proto https makes the cookie Secure;
    the same header from an address not configured changes nothing."""
    import re

    def cookie_via(trusted: str) -> str:
        var = tmp_path / f"var-{trusted or 'none'}"
        var.mkdir()
        server = WebServer(db_url, var, env={"REACH_WEB_TRUSTED_PROXIES": trusted})
        try:
            with httpx.Client(base_url=server.url) as client:
                page = client.get("/signin")
                token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
                answer = client.post(
                    "/signin",
                    data={"email": USERS["viewer"], "password": PASSWORD, "csrf_token": token},
                    headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
                )
                return answer.headers.get("set-cookie", "").lower()
        finally:
            server.stop()

    assert "secure" in cookie_via("127.0.0.1")
    assert "secure" not in cookie_via("")
