"""SQLModel tables: roster, posts, append-only snapshots, crawl runs, sentiment, analytics, users."""

from models.alerts import Alert, AlertKind
from models.analytics import AccountDailyMetric, AccountPeriodMetric, AudienceDemographic
from models.content import AccountSnapshot, Post, PostSnapshot, Reply
from models.enums import (
    CRAWLED_PLATFORMS,
    PLATFORMS,
    AccountStatus,
    CrawledPlatform,
    Platform,
    PostKind,
    Role,
    RunStatus,
    SentimentState,
    Source,
)
from models.rollups import PostCounts
from models.roster import Account, Ambassador
from models.runs import CrawlOutcome, CrawlRun
from models.sentiment import Sentiment
from models.types import UTCDateTime, key_of, utcnow
from models.users import ApiToken, User

__all__ = [
    "CRAWLED_PLATFORMS",
    "PLATFORMS",
    "Account",
    "AccountDailyMetric",
    "AccountPeriodMetric",
    "AccountSnapshot",
    "AccountStatus",
    "Alert",
    "AlertKind",
    "Ambassador",
    "ApiToken",
    "AudienceDemographic",
    "CrawlOutcome",
    "CrawlRun",
    "CrawledPlatform",
    "Platform",
    "Post",
    "PostCounts",
    "PostKind",
    "PostSnapshot",
    "Reply",
    "Role",
    "RunStatus",
    "Sentiment",
    "SentimentState",
    "Source",
    "UTCDateTime",
    "User",
    "key_of",
    "utcnow",
]
