"""The pages' figures on a hand-computed dataset, the JSON API, exports and the LinkedIn upload
(the app in-process, both backends)."""

import datetime as dt
import io
import json
import re
from pathlib import Path

import openpyxl
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import Session

from models import Account, AccountDailyMetric, CrawlRun, Post
from reach.report import build_report, render_json
from tests.reach import factories as f
from tests.reach.test_linkedin import creator_workbook
from tests.web.conftest import MARCH, sign_in, token_for


def cards(html: str) -> dict[str, str]:
    """Each headline card's value and change line, by its metric key."""
    found = {}
    for key, body in re.findall(r'id="card-(\w+)">(.*?)</div></div>', html, re.DOTALL):
        value = re.search(r'class="value">([^<]*)<', body)
        change = re.search(r'class="change[^"]*">([^<]*)<', body)
        found[key] = f"{value.group(1) if value else ''} | {change.group(1) if change else ''}"
    return found


def test_overview_shows_the_figures_and_their_change_against_the_previous_period(
    seeded: Session, client: TestClient
) -> None:
    sign_in(client)
    html = client.get("/", params=MARCH).text
    shown = cards(html)
    # March: Ngozi's 31,000 + 2,900 and Amélie's 40 + 3 + 7 + 0; Jan 29 - Feb 28: 10 + 2.
    assert shown["engagements"] == "33,950 | +33,938 (+282816.7%) vs 2026-01-29 to 2026-02-28"
    assert shown["posts"] == "2 | +1 (+100.0%) vs 2026-01-29 to 2026-02-28"
    # New followers: Ngozi's daily series 100 + 1,200 + 300, Amélie 2,000 -> 3,600. Before: none.
    assert shown["new_followers"].startswith("3,200 | no change to show")
    assert shown["impressions"].startswith("3,000 |")
    assert "Period 2026-03-01 to 2026-03-31 inclusive" in html
    assert "31,000" in html and "2,900" in html
    # The figures' meanings come from the registry.
    assert "New followers (net)" in html and "How each number is computed" in html
    # Which languages were scored, with their n: the seeded case has scored nothing yet.
    assert 'id="sentiment-languages"' in html and "has been scored yet" in html


def test_a_period_without_data_says_so(seeded: Session, client: TestClient) -> None:
    sign_in(client)
    html = client.get("/", params={"range": "month", "month": "2025-06"}).text
    assert 'id="no-data"' in html and "This period holds no data" in html


def test_bad_period_values_get_a_clear_error(seeded: Session, client: TestClient) -> None:
    sign_in(client)
    for params, message in (
        ({"range": "custom", "since": "2026-03-31", "until": "2026-03-01"}, "is after until"),
        ({"range": "custom", "since": "2026-3-1x", "until": "2026-03-01"}, "is not a date"),
        ({"range": "month", "month": "March"}, "is not a month"),
        ({"range": "forever"}, "unknown range"),
    ):
        answer = client.get("/", params=params)
        assert answer.status_code == 400 and message in answer.text, params


def test_rolling_ranges_end_on_the_chosen_day(seeded: Session, client: TestClient) -> None:
    sign_in(client)
    html = client.get("/", params={"range": "7d", "until": "2026-03-31"}).text
    assert "Overview: 2026-03-25 to 2026-03-31" in html
    assert "vs 2026-03-18 to 2026-03-24" in html


def rows(html: str) -> list[str]:
    return re.findall(r'<tr data-slug="([^"]+)">', html)


def test_leaderboard_ranks_sorts_and_filters(seeded: Session, client: TestClient) -> None:
    sign_in(client)
    html = client.get("/ambassadors", params=MARCH).text
    assert rows(html) == ["ngozi-eze", "amelie-laurent"]
    ngozi = html.split('data-slug="ngozi-eze"')[1].split("</tr>")[0]
    assert "31,000" in ngozi and "2,900" in ngozi and "1,600" in ngozi
    # Amélie ranked 1st in February (the only one with figures) and is 2nd now: down one.
    amelie = html.split('data-slug="amelie-laurent"')[1].split("</tr>")[0]
    assert "▼ 1" in amelie
    by_likes_up = client.get("/ambassadors", params={**MARCH, "sort": "likes", "dir": "asc"}).text
    assert rows(by_likes_up) == ["amelie-laurent", "ngozi-eze"]
    by_name = client.get("/ambassadors", params={**MARCH, "sort": "name", "dir": "asc"}).text
    assert rows(by_name) == ["amelie-laurent", "ngozi-eze"]
    nigeria = client.get("/ambassadors", params={**MARCH, "country": "NG"}).text
    assert rows(nigeria) == ["ngozi-eze"]
    mastodon = client.get("/ambassadors", params={**MARCH, "platform": "mastodon"}).text
    assert rows(mastodon) == ["amelie-laurent"]
    design = client.get("/ambassadors", params={**MARCH, "team": "Design"}).text
    assert rows(design) == ["ngozi-eze"]
    assert client.get("/ambassadors", params={**MARCH, "sort": "shoe_size"}).status_code == 400


def figure(html: str, chart_id: str) -> dict:
    raw = re.search(rf'class="figure" data-for="{chart_id}">(.*?)</script>', html, re.DOTALL).group(
        1
    )  # type: ignore[union-attr]
    return json.loads(raw)


def test_ambassador_page_follows_each_account(seeded: Session, client: TestClient) -> None:
    sign_in(client)
    amelie = client.get("/ambassadors/amelie-laurent", params=MARCH).text
    series = figure(amelie, "chart-account-followers")["data"]
    # One point per crawl day inside March (the Feb 28 snapshot is before the period).
    assert [(s["x"], s["y"]) for s in series] == [(["2026-03-15", "2026-03-31"], [2700, 3600])]
    assert "&lt;script&gt;window.__pwned" in amelie and "<script>window.__pwned" not in amelie
    ngozi = client.get("/ambassadors/ngozi-eze", params=MARCH).text
    line = figure(ngozi, "chart-account-followers")["data"][0]
    # LinkedIn: the export's 12,000 walked back through its daily new followers: no jump.
    assert len(line["x"]) == 31 and line["y"][-1] == 12000
    assert line["y"][0] == 12000 - 1200 - 300 and line["y"][9] == 12000 - 300
    assert "1,600" in ngozi and "31,000" in ngozi
    assert client.get("/ambassadors/nobody", params=MARCH).status_code == 404


def test_post_page_charts_every_snapshot(seeded: Session, client: TestClient) -> None:
    masto_post = seeded.execute(select(Post.id).where(Post.text == "February news")).scalar_one()
    post = seeded.get(Post, masto_post)
    assert post is not None
    later = f.run(seeded, f.at("2026-03-01", 2))
    f.post_snapshot(seeded, post, later, likes=25, comments=4)
    seeded.commit()
    sign_in(client)
    html = client.get(f"/posts/{masto_post}").text
    lines = {s["name"]: s["y"] for s in figure(html, "chart-post-history")["data"]}
    assert lines == {"Likes": [10, 25], "Comments": [2, 4]}
    assert f'href="{post.url}"' in html and "Open the public post" in html
    # A post crawled from the project's sandbox names a real platform where it does not exist.
    account = seeded.get(Account, post.account_id)
    assert account is not None
    account.base_url = "http://127.0.0.1:8787"
    seeded.commit()
    html = client.get(f"/posts/{masto_post}").text
    assert f'href="{post.url}"' not in html and "sandbox post" in html
    assert client.get("/posts/999999").status_code == 404


def test_the_api_report_is_reach_report_json(
    seeded: Session, client: TestClient, db_url: str
) -> None:
    token = token_for(seeded, "viewer")
    answer = client.get(
        "/api/report",
        params={"since": "2026-03-01", "until": "2026-03-31", "by": "country"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200
    expected = json.loads(
        render_json(build_report(db_url, dt.date(2026, 3, 1), dt.date(2026, 3, 31), "country"))
    )
    got = answer.json()
    assert got["rows"] == expected["rows"] and got["metrics"] == expected["metrics"]
    bad = client.get(
        "/api/report", params={"by": "planet"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert bad.status_code == 400 and "unknown grouping" in bad.json()["error"]


def test_exports_download_the_current_view(
    seeded: Session, client: TestClient, tmp_path: Path
) -> None:
    sign_in(client)
    csv = client.get("/export/csv", params=MARCH)
    assert csv.status_code == 200 and "attachment" in csv.headers["content-disposition"]
    assert (
        "reach-report-2026-03-01-2026-03-31-by-ambassador.csv" in csv.headers["content-disposition"]
    )
    assert "Ngozi Eze" in csv.text and "31000" in csv.text
    xlsx = client.get("/export/xlsx", params=MARCH)
    path = tmp_path / "r.xlsx"
    path.write_bytes(xlsx.content)
    assert openpyxl.load_workbook(path).sheetnames
    assert client.get("/export/json", params=MARCH).json()["period"]["since"] == "2026-03-01"
    html = client.get("/export/html", params=MARCH).text
    assert "<script>" in html and "31,000" in html  # self-contained: plotly inlined
    assert client.get("/export/pdf", params=MARCH).status_code == 404


def _upload(client: TestClient, path: Path, ambassador: str = "ngozi-eze"):
    page = client.get("/linkedin")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    return client.post(
        "/linkedin",
        data={"csrf_token": csrf, "ambassador": ambassador},
        files={"file": (path.name, io.BytesIO(path.read_bytes()))},
    )


def _stored(session: Session) -> tuple[int, int]:
    session.expire_all()
    return (
        session.execute(select(func.count(CrawlRun.id))).scalar_one(),
        session.execute(select(func.count(AccountDailyMetric.id))).scalar_one(),
    )


def test_a_good_linkedin_upload_is_imported_and_shows_its_figures(
    seeded: Session, client: TestClient, tmp_path: Path
) -> None:
    sign_in(client, "editor")
    days = [dt.date(2026, 4, 1) + dt.timedelta(n) for n in range(30)]
    path = creator_workbook(
        tmp_path / "Content_2026-04-01_2026-04-30_NgoziEze.xlsx",
        days[0],
        days[-1],
        followers={d: 10 for d in days},
        total=12300,
    )
    answer = _upload(client, path)
    assert answer.status_code == 200, answer.text
    assert 'class="ok" id="upload-outcome"' in answer.text and path.name in answer.text
    april = client.get("/ambassadors/ngozi-eze", params={"range": "month", "month": "2026-04"}).text
    assert cards(april)["new_followers"].startswith("300 |")
    assert (
        seeded.execute(
            select(func.count(Account.id)).where(Account.platform == "linkedin")
        ).scalar_one()
        == 1
    )


def test_a_bad_linkedin_upload_shows_its_problem_and_stores_nothing(
    seeded: Session, client: TestClient, tmp_path: Path
) -> None:
    sign_in(client, "editor")
    before = _stored(seeded)
    good = creator_workbook(tmp_path / "Content_2026-01-01_2026-01-31_NgoziEze.xlsx")
    book = openpyxl.load_workbook(good)
    book.remove(book[book.sheetnames[0]])
    bad = tmp_path / "Content_2026-04-01_2026-04-30_NgoziEze_bad.xlsx"
    book.save(bad)
    answer = _upload(client, bad)
    assert answer.status_code == 422
    message = answer.text.split('id="upload-outcome">')[1].split("<")[0]
    assert message.startswith(bad.name + ": ") and "sheet" in message.lower()
    assert _stored(seeded) == before
    not_xlsx = tmp_path / "notes.txt"
    not_xlsx.write_text("hello")
    assert _upload(client, not_xlsx).status_code == 422
    assert _stored(seeded) == before


def test_an_editor_imports_a_roster_and_a_bad_one_changes_nothing(
    seeded: Session, client: TestClient, tmp_path: Path
) -> None:
    from models import Ambassador

    sign_in(client, "viewer")
    assert "Ngozi Eze" in client.get("/roster").text
    assert 'action="/roster"' not in client.get("/roster").text  # a viewer sees no form
    sign_in(client, "editor")
    page = client.get("/roster")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    header = "ambassador,country,cohort,team,platform,account\n"
    good = header + "Kofi Mensah,GH,2026,Sales,bluesky,kofi.bsky.social\n"
    answer = client.post(
        "/roster",
        data={"csrf_token": csrf},
        files={"file": ("roster.csv", io.BytesIO(good.encode()))},
    )
    assert answer.status_code == 200 and "ambassadors +1" in answer.text
    bad = header + "Ama Owusu,ZZ,2026,Sales,bluesky,ama.bsky.social\n"
    answer = client.post(
        "/roster", data={"csrf_token": csrf}, files={"file": ("bad.csv", io.BytesIO(bad.encode()))}
    )
    assert answer.status_code == 422 and "nothing imported" in answer.text
    seeded.expire_all()
    names = set(seeded.execute(select(Ambassador.name)).scalars())
    assert "Kofi Mensah" in names and "Ama Owusu" not in names
