"""The digest: its figures (the seed case's March against February), its text and HTML, and its
delivery to real receivers on loopback (an SMTP server, JSON webhooks, a closed port), through
the core and through `reach digest`."""

import datetime as dt
import email
import socket
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import func, select
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

from cli.main import app
from models import Account, Ambassador
from reach.digest import build_digest, digest_period, render_email, render_text, send_digest
from reach.settings import get_settings
from tests.reach import factories as f
from tests.receivers import JsonReceiver

PASSWORD = "S3cretPass"
MARCH = ("2026-03-01", "2026-03-31")
runner = CliRunner()


def seed(session: Session) -> None:
    """The model case plus a February post, so March has a previous period with figures:
    Amélie's Feb 20 post with 10 likes and 2 comments (as tests/web/conftest.py seeds it)."""
    f.seed_case(session)
    amelie = session.execute(
        select(Ambassador).where(Ambassador.slug == "amelie-laurent")
    ).scalar_one()
    masto = session.execute(select(Account).where(Account.ambassador_id == amelie.id)).scalar_one()
    feb = f.run(session, f.at("2026-02-21", 2))
    old = f.post(session, masto, f.at("2026-02-20"), text="February news")
    f.post_snapshot(session, old, feb, likes=10, comments=2)
    session.commit()


@pytest.fixture
def seeded(session: Session) -> Session:
    seed(session)
    return session


def free_port(host: str) -> int:
    """A port on `host` free right now (closed: nothing listens on it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class SmtpReceiver:
    """An aiosmtpd server on 127.0.0.2 that keeps each message; AUTH PLAIN/LOGIN without TLS
    (loopback only), accepting PASSWORD."""

    def __init__(self, host: str = "127.0.0.2") -> None:
        self.messages: list[bytes] = []
        messages = self.messages

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                messages.append(envelope.original_content or envelope.content)
                return "250 OK"

        def authenticate(
            server: Any, session: Any, envelope: Any, mechanism: str, auth: Any
        ) -> Any:
            return AuthResult(success=auth.password == PASSWORD.encode())

        self.port = free_port(host)
        self.controller = Controller(
            Handler(), hostname=host, port=self.port, authenticator=authenticate,
            auth_require_tls=False,
        )  # fmt: skip
        self.controller.start()
        # Apprise's mailto:// form for a plain SMTP server: the server in ?smtp=, the port after
        # the host, mode=insecure (no TLS), the sender and the recipient spelled out.
        self.url = (
            f"mailto://reach:{PASSWORD}@{host}:{self.port}"
            f"?smtp={host}&from=reach@example.org&to=team@example.org&mode=insecure"
        )

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def hook() -> Iterator[JsonReceiver]:
    receiver = JsonReceiver("127.0.0.3", credentials=f"user:{PASSWORD}")
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def refusing() -> Iterator[JsonReceiver]:
    receiver = JsonReceiver("127.0.0.3", status=500, credentials=f"user:{PASSWORD}")
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def dashboard(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("REACH_DASHBOARD_URL", "https://reach.example.org")
    get_settings.cache_clear()
    return "https://reach.example.org/?range=custom&since=2026-03-01&until=2026-03-31"


def march(session: Session) -> Any:
    return build_digest(session, dt.date(2026, 3, 1), dt.date(2026, 3, 31))


def parts(raw: bytes) -> tuple[str, str, list[EmailMessage]]:
    """A received e-mail -> (its text/plain body, its text/html body, its attachments)."""
    message = email.message_from_bytes(raw, policy=default_policy)
    assert isinstance(message, EmailMessage)
    assert message.is_multipart()
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    attachments = list(message.iter_attachments())
    return str(plain.get_content()), str(html.get_content()), attachments  # type: ignore[union-attr]


def stored(session: Session) -> dict[str, int]:
    """Rows per table: what a sending must leave as it found it."""
    session.expire_all()
    counts = {
        t.name: session.execute(select(func.count()).select_from(t)).scalar_one()
        for t in SQLModel.metadata.sorted_tables
    }
    session.commit()
    return counts


# The period ----------------------------------------------------------------------------------


def test_day_is_yesterday_week_the_seven_days_to_yesterday_month_the_last_calendar_month() -> None:
    today = dt.date(2026, 4, 1)
    assert digest_period("day", today) == (dt.date(2026, 3, 31), dt.date(2026, 3, 31))
    assert digest_period("week", today) == (dt.date(2026, 3, 25), dt.date(2026, 3, 31))
    assert digest_period("month", today) == (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert digest_period("month", dt.date(2026, 1, 15)) == (
        dt.date(2025, 12, 1),
        dt.date(2025, 12, 31),
    )
    assert digest_period("month", dt.date(2024, 3, 31)) == (
        dt.date(2024, 2, 1),
        dt.date(2024, 2, 29),
    )
    with pytest.raises(ValueError, match="unknown digest period"):
        digest_period("year", today)


# The figures ---------------------------------------------------------------------------------


def test_march_is_compared_with_the_31_days_before_it(seeded: Session) -> None:
    digest = march(seeded)
    assert (digest.previous.since, digest.previous.until) == (
        dt.date(2026, 1, 29),
        dt.date(2026, 2, 28),
    )
    changes = {c.key: c for c in digest.changes}
    assert (changes["engagements"].value, changes["engagements"].previous) == (33950, 12)
    assert (changes["posts"].value, changes["posts"].previous) == (2, 1)
    assert changes["new_followers"].value == 3200 and changes["new_followers"].previous is None
    top = digest.top_posts[0]
    assert (top.ambassador, top.platform, top.likes, top.comments, top.engagements) == (
        "Ngozi Eze",
        "linkedin",
        31000,
        2900,
        33900,
    )
    assert top.url and top.url.startswith("https://www.linkedin.com/feed/update/")
    assert [r.name for r in digest.top_by_engagements] == ["Ngozi Eze", "Amélie Laurent"]
    assert {r.name: r.new_followers for r in digest.top_by_new_followers} == {
        "Ngozi Eze": 1600,
        "Amélie Laurent": 1600,
    }
    assert digest.failures == [] and digest.link is None
    assert "2026-03-01 to 2026-03-31" in digest.meaning


def test_the_short_text_has_the_headline_changes_the_top_post_failures_and_link(
    seeded: Session, dashboard: str
) -> None:
    text = render_text(march(seeded))
    assert text.splitlines()[0] == "Reach digest 2026-03-01 to 2026-03-31"
    assert "Engagements: 33,950, +33,938 (+282,817%)" in text
    assert "Posts: 2, +1 (+100%)" in text
    assert "New followers (net): 3,200, no figure for the previous period" in text
    assert "(changes against 2026-01-29 to 2026-02-28)" in text
    assert (
        "Top post: Ngozi Eze on LinkedIn: 33,900 engagements (31,000 likes, 2,900 comments)" in text
    )
    assert "Crawl runs: none failed." in text
    assert f"Dashboard: {dashboard}" in text
    assert "Amélie" not in text  # the short text stops at the first post


def test_a_period_without_data_reads_na_never_zero(seeded: Session) -> None:
    digest = build_digest(seeded, dt.date(2025, 6, 1), dt.date(2025, 6, 1))
    text = render_text(digest)
    full, html = render_email(digest)
    assert digest.title == "Reach digest 2025-06-01"
    assert "Engagements: n/a, no figure this period" in text
    assert "New followers (net): n/a" in text
    assert "Posts: 0" in text  # a count of posts is a real 0: none was published
    assert "Engagements: 0" not in text and "Engagements: 0" not in full
    assert "Top post: none with counts in the period." in text
    assert "none with a figure" in full and "No post of the period has counts." in html


def test_failed_and_partial_runs_of_the_period_are_listed_and_escaped(seeded: Session) -> None:
    def run(day: str, platform: str, status: str, message: str | None) -> None:
        row = f.run(seeded, f.at(day, 4), platform)
        row.status = status
        row.message = message
        seeded.add(row)

    run("2026-03-12", "bluesky", "failed", f.INJECTED)
    run("2026-03-13", "mastodon", "partial", "3 of 40 accounts failed:\nRateLimited")
    run("2026-04-01", "bluesky", "failed", "after the period")
    run("2026-02-27", "feed", "failed", "before the period")
    seeded.commit()
    digest = march(seeded)
    assert [(x.platform, x.status) for x in digest.failures] == [
        ("bluesky", "failed"),
        ("mastodon", "partial"),
    ]
    assert digest.failures[1].message == "3 of 40 accounts failed: RateLimited"
    assert "Crawl runs: 2 failed or partial (Bluesky, Mastodon)." in render_text(digest)
    full, html = render_email(digest)
    assert "Mastodon partial 2026-03-13 04:00: 3 of 40 accounts failed: RateLimited" in full
    assert "<script>window.__pwned" not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html


# Delivery ------------------------------------------------------------------------------------


def test_email_is_multipart_text_and_html_with_the_report_attached(
    seeded: Session, smtp: SmtpReceiver
) -> None:
    results = send_digest(march(seeded), [smtp.url])
    assert [(r.ok, r.error) for r in results] == [(True, "")]
    assert PASSWORD not in results[0].target and "****" in results[0].target
    assert len(smtp.messages) == 1
    message = email.message_from_bytes(smtp.messages[0], policy=default_policy)
    assert message["Subject"] == "Reach digest 2026-03-01 to 2026-03-31"
    assert message["To"] == "team@example.org"
    plain, html, attachments = parts(smtp.messages[0])
    for body in (plain, html):
        for figure in ("31,000", "2,900", "1,600", "33,950", "+33,938 (+282,817%)"):
            assert figure in body
        assert "2026-01-29 to 2026-02-28" in body  # the previous period it is compared with
    assert "Top 5 posts:" in plain and "1. Ngozi Eze on LinkedIn" in plain  # ours, not a conversion
    assert "<table" in html
    assert len(attachments) == 1
    report = attachments[0]
    assert report.get_filename() == "reach-report-2026-03-01-2026-03-31-by-ambassador.html"
    assert report.get_content_type() == "text/html"
    content = report.get_content()
    content = content.decode() if isinstance(content, bytes) else content
    assert "31,000" in content and "<html" in content


def test_email_without_the_report_attached(seeded: Session, smtp: SmtpReceiver) -> None:
    results = send_digest(march(seeded), [smtp.url], attach_report=False)
    assert [r.ok for r in results] == [True]
    plain, html, attachments = parts(smtp.messages[0])
    assert attachments == [] and "31,000" in plain and "31,000" in html


def test_chat_webhook_gets_the_short_text_with_the_link(
    seeded: Session, hook: JsonReceiver, dashboard: str
) -> None:
    results = send_digest(march(seeded), [hook.url])
    assert [(r.ok, r.target) for r in results] == [
        (True, hook.url.replace(PASSWORD, "****")),
    ]
    [body] = hook.received
    assert body["title"] == "Reach digest 2026-03-01 to 2026-03-31"
    assert body["message"] == render_text(march(seeded)).strip()
    assert f"Dashboard: {dashboard}" in body["message"]
    assert "31,000 likes" in body["message"]
    assert "<" not in body["message"] and "Top 5 posts" not in body["message"]
    assert body["attachments"] == []  # the report goes to e-mail only


def test_targets_down_or_refusing_are_failed_results_and_nothing_stored_changes(
    seeded: Session, smtp: SmtpReceiver, hook: JsonReceiver, refusing: JsonReceiver
) -> None:
    closed = free_port("127.0.0.3")
    closed_smtp = free_port("127.0.0.2")
    urls = [
        f"json://user:{PASSWORD}@127.0.0.3:{closed}/hook",
        refusing.url,
        (
            f"mailto://reach:{PASSWORD}@127.0.0.2:{closed_smtp}?smtp=127.0.0.2"
            "&from=reach@example.org&to=team@example.org&mode=insecure"
        ),
        smtp.url.replace(PASSWORD, "WrongPass"),
        hook.url,
        "nonsense://whatever",
    ]
    before = stored(seeded)
    results = send_digest(march(seeded), urls)
    assert stored(seeded) == before
    assert [r.ok for r in results] == [False, False, False, False, True, False]
    assert "Connection refused" in results[0].error
    assert "error=500" in results[1].error and len(refusing.received) == 1
    assert "Connection refused" in results[2].error
    assert "Connection error while submitting email" in results[3].error
    assert smtp.messages == []  # the wrong password sent nothing
    assert "not a notification URL Apprise understands" in results[5].error
    assert len(hook.received) == 1  # the targets that failed held up no other
    for result in results:
        assert PASSWORD not in result.target + result.error
        assert "WrongPass" not in result.target + result.error


# The command line ----------------------------------------------------------------------------


def reach(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_dry_run_prints_the_figures_and_the_masked_targets_and_sends_nothing(
    seeded: Session, hook: JsonReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "REACH_NOTIFY_URLS",
        f"{hook.url}\nmailtos://user:{PASSWORD}@127.0.0.2:9?smtp=127.0.0.2"
        "&from=reach@example.org&to=team@example.org",
    )
    get_settings.cache_clear()
    result = reach("digest", "--since", MARCH[0], "--until", MARCH[1], "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for figure in ("31,000", "2,900", "1,600", "+33,938", "--- chat text ---", "Top 5 posts:"):
        assert figure in out
    assert f"{hook.url.replace(PASSWORD, '****')}: would get the chat text" in out
    assert "mailtos://user:****@127.0.0.2:9/team%40example.org: would get e-mail" in out
    assert PASSWORD not in result.output and PASSWORD not in result.stderr
    assert hook.received == []


def test_sending_prints_one_masked_line_per_target_and_exits_1_when_one_failed(
    seeded: Session, hook: JsonReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "REACH_NOTIFY_URLS",
        f"mailtos://user:{PASSWORD}@127.0.0.2:{free_port('127.0.0.2')}?smtp=127.0.0.2"
        f"&from=reach@example.org&to=team@example.org json://user:{PASSWORD}@127.0.0.3:9/x "
        f"{hook.url}",
    )
    get_settings.cache_clear()
    result = reach("digest", "--since", MARCH[0], "--until", MARCH[1])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("mailtos://user:****@127.0.0.2:") and ": failed: " in lines[0]
    assert lines[1].startswith("json://user:****@127.0.0.3:9/x: failed: ")
    assert "Connection refused" in lines[1]
    assert lines[2] == f"{hook.url.replace(PASSWORD, '****')}: sent"
    assert PASSWORD not in result.output and PASSWORD not in result.stderr


def test_sending_to_receivers_that_take_it_exits_0_and_shows_no_password(
    seeded: Session, smtp: SmtpReceiver, hook: JsonReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REACH_NOTIFY_URLS", f"{smtp.url} {hook.url}")
    get_settings.cache_clear()
    result = reach("digest", "--since", MARCH[0], "--until", MARCH[1])
    assert result.exit_code == 0, result.output
    assert [line.rsplit(": ", 1)[1] for line in result.stdout.splitlines()] == ["sent", "sent"]
    assert PASSWORD not in result.output and PASSWORD not in result.stderr
    assert len(smtp.messages) == 1 and len(hook.received) == 1
    assert "31,000" in parts(smtp.messages[0])[0]


def test_config_show_masks_the_notify_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REACH_NOTIFY_URLS", f"json://user:{PASSWORD}@127.0.0.3:9/x")
    get_settings.cache_clear()
    result = reach("config", "show")
    assert result.exit_code == 0
    assert PASSWORD not in result.output and "127.0.0.3" not in result.output
    assert get_settings().masked()["REACH_NOTIFY_URLS"] == "********"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "2026-03-31", "--until", "2026-03-01"), "--since 2026-03-31 is after --until"),
        (("--since", "2026-02-30", "--until", "2026-03-01"), "is not a date"),
        (("--since", "2026-03-01"), "--since and --until go together"),
        (("--period", "year"), "unknown --period 'year'"),
        (("--period", "week", "--since", "2026-03-01", "--until", "2026-03-02"), "not both"),
        ((), "no target: set REACH_NOTIFY_URLS"),
    ],
)
def test_bad_input_or_no_target_is_one_line_and_exit_2(
    db_url: str, args: tuple[str, ...], message: str
) -> None:
    result = reach("digest", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


# Targets kept in a Prefect Secret block ---------------------------------------------------------


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[None]:
    """Prefect's test harness (a temporary API, about 9 s to start) for the block tests."""
    from prefect.testing.utilities import prefect_test_harness

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
        with prefect_test_harness(server_startup_timeout=60):
            yield


def test_the_secret_block_adds_its_urls_to_the_environment_ones(
    prefect_api: None, seeded: Session, hook: JsonReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.system import Secret

    from flows.notify import notify_urls

    in_block = f"slack://TokenA{PASSWORD}/TokenB/TokenC/#reach"
    Secret(value=f"{in_block}\n{hook.url}").save("reach-notify", overwrite=True)
    monkeypatch.setenv("REACH_NOTIFY_URLS", hook.url)
    monkeypatch.setenv("REACH_NOTIFY_SECRET_BLOCK", "reach-notify")
    get_settings.cache_clear()
    assert notify_urls() == [hook.url, in_block]  # each once, the environment's first
    result = reach("digest", "--since", MARCH[0], "--until", MARCH[1], "--dry-run")
    assert result.exit_code == 0, result.output
    targets = result.stdout.split("--- targets (nothing sent) ---")[1].strip().splitlines()
    assert len(targets) == 2 and targets[1].startswith("slack://")
    assert PASSWORD not in result.output and PASSWORD not in result.stderr


def test_a_missing_secret_block_is_one_line_and_exit_2(
    prefect_api: None, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REACH_NOTIFY_SECRET_BLOCK", "no-such-block")
    get_settings.cache_clear()
    result = reach("digest", "--since", MARCH[0], "--until", MARCH[1])
    assert result.exit_code == 2
    assert "Prefect Secret block 'no-such-block' (REACH_NOTIFY_SECRET_BLOCK) not found" in (
        result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1
