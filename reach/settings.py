"""One typed settings object for the whole project (env prefix REACH_, optional .env)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class Settings(BaseSettings):
    """Effective configuration: environment variables override `.env`, which overrides defaults."""

    model_config = SettingsConfigDict(env_prefix="REACH_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/reach.db",
        description="SQLAlchemy URL. SQLite (default, relative paths are made absolute) or "
        "postgresql+psycopg://user@host/db.",
    )
    contact_url: str = Field(
        default="https://github.com/ambassador-reach/ambassador-reach",
        description="Put in the crawler's user agent so platform operators can reach us.",
    )
    lookback_days: int = Field(default=30, ge=1, le=3650, description="How far back crawls go.")
    timezone: str = Field(default="UTC", description="IANA zone for schedules and report days.")
    allow_private_hosts: bool = Field(
        default=False,
        description="Accept http:// and private/loopback hosts in accounts (sandbox and tests).",
    )
    allowed_private_hosts: str = Field(
        default="",
        description="Hosts (names or addresses, space- or comma-separated) the crawler may reach although "
        "they are private, over http or https: an intranet blog. Redirects to other private hosts are "
        "still refused.",
    )
    tls_unverified_hosts: str = Field(
        default="",
        description="host or host:port entries whose TLS certificate is not verified (a server with a "
        "self-signed certificate you trust); every other certificate is verified.",
    )
    bluesky_appview_url: str = Field(
        default="https://public.api.bsky.app", description="Bluesky AppView base URL."
    )
    var_dir: Path = Field(default=Path("var"), description="Where the database and runs live.")
    reports_dir: Path = Field(default=Path("var/reports"), description="Where reports are written.")
    linkedin_inbox: Path = Field(
        default=Path("var/linkedin-inbox"),
        description="Folder the import-linkedin flow watches for analytics exports.",
    )
    roster_max_bytes: int = Field(
        default=5_000_000,
        ge=1,
        description="Largest roster file `reach roster import` reads, in bytes (10,000 accounts "
        "are about 0.7 MB as CSV); a larger file is refused before it is parsed.",
    )
    replies_per_post: int = Field(
        default=50, ge=0, description="Replies fetched per post, at most."
    )
    reply_requests_share: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Largest share of a host's night budget (see night_hours) spent on reply threads; "
        "threads beyond it, smallest comment growth first, wait for the next night.",
    )
    night_hours: float = Field(
        default=2,
        gt=0,
        le=24,
        description="Length of a night's crawl for budgeting: a host's night budget is its requests per "
        "rate-limit window times the windows in these hours (Mastodon 300 / 5 min over 2 h: 7,200).",
    )
    reply_author_salt: SecretStr = Field(
        default=SecretStr("change-me"),
        description="Salt for hashing repliers' ids (identities are never stored in clear).",
    )
    progress_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Seconds between a crawl's progress lines in its run log (pages and items so far).",
    )
    write_batch_size: int = Field(default=500, ge=1, description="Rows per database flush.")
    write_attempts: int = Field(
        default=5,
        ge=1,
        le=20,
        description="Tries of a crawl flush that meets a deadlock, a busy database or a lost connection "
        "(backoff 0.5 s, doubling) before the crawl stops and its run fails.",
    )
    feed_crawl_processes: int = Field(
        default=2,
        ge=1,
        le=16,
        description="Processes a blog-feed crawl is split over (its accounts shared out). A blog post costs a "
        "request of its own, so one process is CPU-bound; Mastodon and Bluesky crawls stay in one process, "
        "which owns the per-IP rate budget.",
    )
    crawl_shards: Literal["", "host"] = Field(
        default="",
        description="`host`: the nightly crawl fans out over Prefect workers, as child runs of the crawl-shard "
        "deployment, each taking whole hosts (needs PostgreSQL). Empty: one machine crawls everything.",
    )
    crawl_shard_count: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Shards of a fanned-out nightly (at most; one host never spans two). About the number of "
        "crawl-shard runs your workers run at once: the AppView and a large instance each fill one, "
        "small hosts are grouped.",
    )

    web_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Key that signs the dashboard's session cookies. Empty: a random key is made once and "
        "kept in var_dir/web-secret (set it when several servers share the sign-ins).",
    )
    web_session_hours: float = Field(
        default=12, gt=0, le=24 * 30, description="How long a dashboard sign-in lasts."
    )
    web_trusted_proxies: str = Field(
        default="",
        description="Addresses of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto the "
        "dashboard believes (comma-separated; empty: none, the connection's own address and scheme count).",
    )
    web_upload_max_bytes: int = Field(
        default=20_000_000,
        ge=1,
        description="Largest LinkedIn export the dashboard accepts, in bytes.",
    )
    dashboard_url: str = Field(
        default="",
        description="The dashboard's public address (https://reach.example.org): the Prefect artifacts link "
        "to its page of each run's period. Empty: the artifacts link no page.",
    )
    prefect_ui_url: str = Field(
        default="",
        validation_alias=AliasChoices("PREFECT_UI_URL", "REACH_PREFECT_UI_URL"),
        description="Prefect's UI address (PREFECT_UI_URL): the crawl health page links each crawl run's "
        "flow run there.",
    )

    notify_urls: SecretStr = Field(
        default=SecretStr(""),
        description="Where digests and alerts go: Apprise URLs, space-separated (mailtos://user:pass@host?to=..., "
        "slack://..., msteams://..., json://host/path). They hold credentials: shown masked.",
    )
    notify_secret_block: str = Field(
        default="",
        description="Name of a Prefect Secret block holding the Apprise URLs (space- or newline-separated), "
        "used in addition to REACH_NOTIFY_URLS.",
    )
    alert_drop_pct: float = Field(
        default=30,
        gt=0,
        le=100,
        description="A platform's accounts crawled ok or posts seen this far (%) below the median of its last "
        "7 successful runs raise a coverage alert.",
    )
    alert_post_engagements: int = Field(
        default=1000,
        ge=1,
        description="A post passing this many engagements raises a milestone alert.",
    )
    alert_followers_pct: float = Field(
        default=5,
        gt=0,
        description="An account gaining more than this % of its followers in a day raises a spike alert.",
    )

    @field_validator("database_url")
    @classmethod
    def _absolute_sqlite_path(cls, value: str) -> str:
        # Prefect workers and Scrapy subprocesses may run elsewhere: pin SQLite files absolutely.
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                f"not a database URL: {value!r} (e.g. sqlite:///var/reach.db or "
                "postgresql+psycopg://user@host/db)"
            ) from None
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            path = Path(url.database).expanduser()
            if not path.is_absolute():
                url = url.set(database=str(path.resolve()))
            return url.render_as_string(hide_password=False)
        return value

    @field_validator("var_dir", "reports_dir", "linkedin_inbox")
    @classmethod
    def _absolute_dir(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like Europe/Paris)"
            ) from exc
        return value

    @property
    def private_host_allowlist(self) -> frozenset[str]:
        return _host_list(self.allowed_private_hosts)

    @property
    def tls_unverified(self) -> frozenset[str]:
        return _host_list(self.tls_unverified_hosts)

    @property
    def is_sqlite(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "sqlite"

    def masked(self) -> dict[str, Any]:
        """Effective settings with secrets masked, for display."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else ""
            elif name == "database_url":
                value = make_url(value).render_as_string(hide_password=True)
            shown[f"REACH_{name.upper()}"] = str(value)
        return shown


def _host_list(text: str) -> frozenset[str]:
    return frozenset(
        h.strip().strip("[]").lower() for h in text.replace(",", " ").split() if h.strip()
    )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; call `get_settings.cache_clear()` after changing env)."""
    return Settings()
