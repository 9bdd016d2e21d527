"""Deterministic fake world behind the sandbox: what each account has posted and how it was received.

Everything is a pure function of (platform, account name, calendar date, now, scale), so any
account name works and tests can ask for the exact expected answer without a server.
Content is keyed to calendar dates, not to the sandbox's day offset, so "day 1 today" equals
"day 0 tomorrow" and a later day only adds posts, grows counts and drops deleted posts.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import os
import random
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

WINDOW_DAYS = 60
DEFAULT_POSTS_PER_DAY = 1.5
PLATFORMS = ("mastodon", "bluesky", "blog")
# Counts and followers grow from this fixed epoch so they are monotonic in `now`, whatever the date.
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
# Every account deletes the first post of one calendar day in three, 72 h after posting it:
# one such post is always alive at any `now` and gone within three days, whatever the date.
DELETE_AFTER = timedelta(hours=72)


DATE_SETTING = "REACH_SANDBOX_DATE"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_date(text: str, source: str = DATE_SETTING) -> date:
    """A YYYY-MM-DD calendar date, or ValueError naming `source` and the refused value."""
    try:
        if not _ISO_DATE.fullmatch(text.strip()):
            raise ValueError
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{source} must be a date as YYYY-MM-DD, got {text!r}") from None


def date_from_env() -> date | None:
    """The sandbox's calendar date from REACH_SANDBOX_DATE, or None when it is not set."""
    value = os.environ.get(DATE_SETTING, "").strip()
    return parse_date(value) if value else None


def sandbox_today() -> date:
    """The sandbox's calendar date: REACH_SANDBOX_DATE, else the real current UTC date."""
    return date_from_env() or datetime.now(UTC).date()


def sandbox_now(day: int = 0, today: date | None = None) -> datetime:
    """Midnight UTC of the sandbox's date (`today`, else `sandbox_today()`) plus `day` days: its clock."""
    today = today or sandbox_today()
    return datetime.combine(today, time(0), tzinfo=UTC) + timedelta(days=day)


def day_from_env(default: int = 0) -> int:
    """The sandbox day from REACH_SANDBOX_DAY, else `default`."""
    value = os.environ.get("REACH_SANDBOX_DAY", "").strip()
    return int(value) if value else default


def stable_hash(*parts: object) -> int:
    """A 64-bit hash that is the same in every process (Python's hash() is salted)."""
    raw = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")


def rng(*parts: object) -> random.Random:
    """A random generator seeded by the given parts."""
    return random.Random(stable_hash(*parts))


# --- people and phrases -------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """Someone other than the ambassador: the author of a boosted, quoted or replied-to post, or a replier."""

    username: str
    display_name: str
    domain: str
    followers: int

    @property
    def acct(self) -> str:
        """Mastodon acct of a remote account."""
        return f"{self.username}@{self.domain}"

    @property
    def handle(self) -> str:
        """Bluesky handle."""
        return f"{self.username.replace('_', '-')}.{self.domain}"


_PEOPLE = [
    ("nora_lind", "Nora Lind", "fosstodon.example"),
    ("jean_dupont", "Jean Dupont 🥖", "piaille.example"),
    ("li_wei", "李伟", "m.cmx.example"),
    ("sam_okafor", "Sam Okafor", "hachyderm.example"),
    ("greta_m", "Greta Müller", "chaos.example"),
    ("ana_souza", "Ana Souza", "masto.example"),
    ("ken_ito", "伊藤 健", "mstdn.example"),
    ("mia_chen", "Mia Chen", "social.example"),
    ("pierre_l", "Pierre L.", "mamot.example"),
    ("devops_dan", "Dan :verified:", "infosec.example"),
    ("zoe_k", "Zoë K", "tech.example"),
    ("omar_h", "Omar Haddad", "mastodon.example"),
]


def person(index: int) -> Person:
    """A deterministic other person."""
    username, display, domain = _PEOPLE[index % len(_PEOPLE)]
    return Person(username, display, domain, 50 + stable_hash("followers", username) % 20000)


# Ambassador posts: (language, text). Placeholders: {tag} hashtag, {mention} a person, {link} a URL.
_POSTS: list[tuple[str | None, str]] = [
    (
        "en",
        'Shipping day! Our new release cuts build times by 40% & makes caching "just work" {tag} {link}',
    ),
    ("en", "Great chat with {mention} about observability <3 — slides are up: {link} {tag}"),
    ("en", "Hiring: we're looking for a backend engineer who loves Python & Postgres {tag} 🚀"),
    ("en", "Three things I learned migrating 2 TB of data without downtime. Thread 🧵 {tag}"),
    ("en", "Quick tip: set timeouts on every outbound HTTP call. Your pager will thank you. {tag}"),
    ("fr", "Ravie de présenter notre nouvelle offre à Lyon cette semaine ! {tag} {link}"),
    (
        "fr",
        "Petit retour d'expérience sur la migration vers PostgreSQL 17 : c'était « facile » {tag}",
    ),
    ("fr", "Merci {mention} pour l'invitation au meetup, l'équipe était géniale 🎉 {tag}"),
    ("zh", "我们的新版本今天发布了，性能提升了百分之四十！{tag} {link}"),
    ("zh", "感谢 {mention} 的分享，关于可观测性的讨论非常精彩。{tag}"),
    ("de", "Heute auf der Konferenz in Berlin: wir zeigen die neue API {tag}"),
    (None, "🚀🚀🚀 {tag} {link}"),
    (None, "v2.3.1 → v2.4.0 {tag}"),
]

# Replies by other people: (language, sentiment, text). Sentiment is only meaningful for English.
_REPLIES: list[tuple[str | None, str | None, str]] = [
    ("en", "positive", "This is fantastic, great work! Love it."),
    ("en", "positive", "Wonderful news, congratulations to the whole team!"),
    ("en", "positive", "Excellent write-up, really helpful. Thanks!"),
    ("en", "negative", "This is terrible. The update broke everything for us."),
    ("en", "negative", "Awful experience, the worst release so far. Very disappointed."),
    ("en", "neutral", "Is there a changelog for this version?"),
    ("en", "neutral", "Which regions does it cover?"),
    ("fr", None, "Super nouvelle, bravo à toute l'équipe !"),
    ("fr", None, "Est-ce que ça marche aussi avec la version 3 ?"),
    ("zh", None, "太棒了，期待试用！"),
    ("zh", None, "请问什么时候支持中文界面？"),
    ("de", None, "Klingt gut, danke fürs Teilen."),
    (None, None, "👍👍"),
]

_OTHER_POSTS: list[tuple[str | None, str]] = [
    ("en", "Our open-source scheduler just hit 10k stars. Thank you all!"),
    ("en", "Hot take: most dashboards are never looked at twice."),
    ("fr", "Nouvel article de blog : bien choisir sa base de données."),
    ("zh", "今天的技术分享会录像已经上线。"),
    ("en", "Conference talk recordings are now online, enjoy."),
]

_TAGS = ["acme", "devops", "python", "opensource", "cloud", "hiring", "data"]
_LINK_PATHS = [
    "blog/release-2-4",
    "careers/backend",
    "docs/caching",
    "events/lyon",
    "talks/observability",
]
LINK_HOST = "https://acme.example"


def _render_text(template: str, tag: str, mention: Person | None, link: str | None) -> str:
    """Fill a phrase template with plain text (no markup)."""
    return (
        template.replace("{tag}", f"#{tag}")
        .replace("{mention}", f"@{mention.username}" if mention else "")
        .replace("{link}", link or "")
        .strip()
    )


# --- posts --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A reply by someone else to an ambassador's post."""

    key: str
    author: Person
    lang: str | None
    sentiment: str | None
    text: str
    published: datetime
    hidden: bool  # counted by the platform but not returned by context/getPostThread
    likes: int


@dataclass(frozen=True)
class OtherPost:
    """A post by someone else that an ambassador boosted, quoted or replied to."""

    key: str
    author: Person
    lang: str | None
    text: str
    published: datetime
    likes: int
    reposts: int
    replies: int
    quotes: int
    deleted: bool  # deleted before `now`: a quote shows notFound, a reply parent notFoundPost
    blocked: bool = False


@dataclass(frozen=True)
class PostSeed:
    """Everything about one post that does not depend on `now`."""

    key: str
    platform: str
    account: str
    kind: str  # "original" | "reply" | "boost" | "quote"
    published: datetime
    deleted_at: datetime | None
    lang: str | None
    text: str
    tag: str
    mention: Person | None
    link: str | None
    final_likes: int
    final_reposts: int
    final_quotes: int
    reply_offsets: tuple[float, ...]  # hours after publication at which replies arrive
    hidden_replies: frozenset[int]
    quotes_count_missing: bool  # Mastodon: served by a pre-4.5 code path without quotes_count
    edited: bool
    has_image: bool
    has_poll: bool
    other: OtherPost | None  # boosted / quoted / replied-to post
    self_reply_to: str | None  # key of the ambassador's own post this continues (a thread)


@dataclass(frozen=True)
class Post:
    """A post as seen at `now`, with its exact counts."""

    seed: PostSeed
    likes: int
    reposts: int
    replies: int
    quotes: int
    now: datetime
    pinned: bool = False

    @property
    def replies_visible(self) -> tuple[Reply, ...]:
        """Replies by other people that context/getPostThread return (hidden ones left out)."""
        return () if self.seed.kind == "boost" else replies_for(self.seed, self.now)

    @property
    def key(self) -> str:
        """Stable identity of the post."""
        return self.seed.key

    @property
    def kind(self) -> str:
        """original, reply, boost or quote."""
        return self.seed.kind

    @property
    def published(self) -> datetime:
        """When the ambassador posted it (for a boost: when they boosted)."""
        return self.seed.published

    @property
    def is_own(self) -> bool:
        """False for boosts: the content and its counts belong to someone else."""
        return self.seed.kind != "boost"


def growth(age_hours: float, final: int) -> int:
    """Count reached after `age_hours`: monotonic, most of it in the first two days."""
    if age_hours <= 0:
        return 0
    return int(final * (1 - math.exp(-age_hours / 30.0)))


def _other_post(key: str, published: datetime, quoted: bool) -> OtherPost:
    """Someone else's post, published a little before the ambassador's reaction."""
    r = rng("other", key)
    lang, text = r.choice(_OTHER_POSTS)
    # A quote of a deleted post is rendered as notFound; a reply parent can also be blocked.
    deleted = r.random() < (0.25 if quoted else 0.1)
    blocked = not deleted and not quoted and r.random() < 0.08
    return OtherPost(
        key=f"{key}/other",
        author=person(r.randrange(100)),
        lang=lang,
        text=text,
        published=published - timedelta(hours=r.uniform(1, 30)),
        likes=r.randrange(0, 400),
        reposts=r.randrange(0, 120),
        replies=r.randrange(0, 40),
        quotes=r.randrange(0, 10),
        deleted=deleted,
        blocked=blocked,
    )


def deletion_phase(platform: str, account: str, ordinal: int) -> int:
    """0 on the calendar days (date.toordinal()) whose first post the account deletes, else 1 or 2."""
    return (ordinal + stable_hash("del", platform, account)) % 3


@lru_cache(maxsize=200_000)
def day_seeds(platform: str, account: str, ordinal: int, scale: float) -> tuple[PostSeed, ...]:
    """The posts an account publishes on one calendar day (date.toordinal()), independent of `now`."""
    r = rng("day", platform, account, ordinal)
    count = int(scale) + (1 if r.random() < scale - int(scale) else 0)
    start = datetime.combine(date.fromordinal(ordinal), time(0), tzinfo=UTC)
    times = sorted(r.uniform(6, 23.5) for _ in range(count))
    deleting_day = deletion_phase(platform, account, ordinal) == 0
    seeds: list[PostSeed] = []
    for i, hour in enumerate(times):
        key = f"{platform}/{account}/{ordinal}/{i}"
        published = start + timedelta(hours=hour)
        roll = r.random()
        forced_original = deleting_day and i == 0
        kind = "original"
        if not forced_original:
            kind = (
                "boost"
                if roll < 0.15
                else "quote"
                if roll < 0.25
                else "reply"
                if roll < 0.4
                else "original"
            )
        self_reply_to = None
        if kind == "reply" and seeds and r.random() < 0.5:
            self_reply_to = seeds[-1].key  # continue own thread: not filtered by exclude_replies
        lang, template = r.choice(_POSTS)
        tag = r.choice(_TAGS)
        mention = person(r.randrange(100)) if "{mention}" in template else None
        link = (
            f"{LINK_HOST}/{r.choice(_LINK_PATHS)}?utm_source={platform}"
            if "{link}" in template
            else None
        )
        popular = r.random() < 0.1
        final_likes = 0 if r.random() < 0.12 else int(r.paretovariate(1.3) * (60 if popular else 6))
        n_replies = 0 if r.random() < 0.3 else min(40, int(r.paretovariate(1.5) * 2))
        offsets = tuple(sorted(r.expovariate(1 / 14.0) for _ in range(n_replies)))
        hidden = frozenset(j for j in range(n_replies) if r.random() < 0.1)
        other = None
        if kind in ("boost", "quote") or (kind == "reply" and self_reply_to is None):
            other = _other_post(key, published, quoted=kind == "quote")
        seeds.append(
            PostSeed(
                key=key,
                platform=platform,
                account=account,
                kind=kind,
                published=published,
                deleted_at=published + DELETE_AFTER if forced_original else None,
                lang=lang,
                text=_render_text(template, tag, mention, link),
                tag=tag,
                mention=mention,
                link=link,
                final_likes=final_likes,
                final_reposts=final_likes // 4 + r.randrange(0, 3),
                final_quotes=0 if r.random() < 0.6 else r.randrange(1, 6),
                reply_offsets=offsets if kind != "boost" else (),
                hidden_replies=hidden,
                quotes_count_missing=r.random() < 0.2,
                edited=r.random() < 0.1,
                has_image=r.random() < 0.15,
                has_poll=platform == "mastodon" and kind == "original" and r.random() < 0.05,
                other=other,
                self_reply_to=self_reply_to,
            )
        )
    return tuple(seeds)


def _arrived(seed: PostSeed, now: datetime) -> int:
    """How many replies have arrived by `now` (the platform's reply count)."""
    age = (now - seed.published).total_seconds() / 3600
    return bisect.bisect_right(seed.reply_offsets, age)


@lru_cache(maxsize=50_000)
def replies_for(seed: PostSeed, now: datetime) -> tuple[Reply, ...]:
    """Visible replies to a post at `now`."""
    visible = []
    for j in range(_arrived(seed, now)):
        if j in seed.hidden_replies:
            continue
        r = rng("reply", seed.key, j)
        lang, sentiment, text = r.choice(_REPLIES)
        visible.append(
            Reply(
                key=f"{seed.key}/r{j}",
                author=person(r.randrange(100)),
                lang=lang,
                sentiment=sentiment,
                text=text,
                published=seed.published + timedelta(hours=seed.reply_offsets[j]),
                hidden=False,
                likes=r.randrange(0, 5),
            )
        )
    return tuple(visible)


def _post_at(seed: PostSeed, now: datetime) -> Post:
    """A seed seen at `now`: counts grown to their value at that moment."""
    if seed.kind == "boost":
        # A boost has no engagement of its own: the counts belong to the boosted post.
        other = seed.other
        assert other is not None
        return Post(seed, other.likes, other.reposts, other.replies, other.quotes, now)
    age = (now - seed.published).total_seconds() / 3600
    return Post(
        seed,
        likes=growth(age, seed.final_likes),
        reposts=growth(age, seed.final_reposts),
        replies=_arrived(seed, now),
        quotes=growth(age, seed.final_quotes),
        now=now,
    )


@lru_cache(maxsize=8192)
def posts(
    platform: str, account: str, now: datetime, scale: float = DEFAULT_POSTS_PER_DAY
) -> tuple[Post, ...]:
    """An account's live posts in the WINDOW_DAYS before `now`, newest first, with the pinned one marked."""
    account = account.lower()
    first = (now - timedelta(days=WINDOW_DAYS)).date().toordinal()
    seeds = [
        s
        for ordinal in range(first, now.date().toordinal() + 1)
        for s in day_seeds(platform, account, ordinal, scale)
        if now - timedelta(days=WINDOW_DAYS) <= s.published < now
        and (s.deleted_at is None or s.deleted_at > now)
    ]
    seeds.sort(key=lambda s: s.published, reverse=True)
    live = [_post_at(s, now) for s in seeds]
    pin = pinned_key(live, now)
    return tuple(Post(**{**p.__dict__, "pinned": True}) if p.key == pin else p for p in live)


def pinned_key(live: list[Post], now: datetime) -> str | None:
    """The pinned post: the most-liked original older than 20 days (so it is not on the first page)."""
    old = [p for p in live if p.kind == "original" and p.published < now - timedelta(days=20)]
    candidates = old or [p for p in live if p.kind == "original"]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p.seed.final_likes, p.key)).key


def find_post(platform: str, account: str, key: str, now: datetime, scale: float) -> Post | None:
    """A live post by key."""
    return next((p for p in posts(platform, account, now, scale) if p.key == key), None)


# --- profiles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """An account's profile at `now`."""

    platform: str
    account: str
    display_name: str
    bio: str
    created_at: datetime
    followers: int
    following: int
    posts_count: int


@lru_cache(maxsize=65_536)
def profile(
    platform: str, account: str, now: datetime, scale: float = DEFAULT_POSTS_PER_DAY
) -> Profile:
    """Profile with followers growing every day since EPOCH (never shrinking)."""
    account = account.lower()
    r = rng("profile", platform, account)
    base = int(r.paretovariate(1.2) * 150)
    # At least one new follower a day, so growth between two sandbox days shows on every date.
    per_day = r.uniform(1.0, 6.0)
    days = max(0.0, (now - EPOCH).total_seconds() / 86400)
    name = account.split(".")[0].replace("_", " ").replace("-", " ").title()
    created = EPOCH - timedelta(days=r.randrange(30, 2000))
    older_posts = int(r.uniform(50, 3000))
    return Profile(
        platform=platform,
        account=account,
        display_name=f"{name} ✨" if r.random() < 0.3 else name,
        bio=r.choice(
            [
                "Developer advocate @ Acme. Opinions my own. 🇫🇷🇬🇧",
                "Ingénieure chez Acme — données & cloud.",
                "Acme 开发者关系 | Python | 开源",
                "Building things at Acme & talking about them.",
            ]
        ),
        created_at=created,
        followers=base + int(days * per_day),
        following=int(r.uniform(20, 900)) + int(days * 0.2),
        posts_count=older_posts + len(posts(platform, account, now, scale)),
    )


# --- blogs --------------------------------------------------------------------------------------

BLOG_STYLES = ("blogposting", "socialmedia", "text")


@dataclass(frozen=True)
class BlogPost:
    """A blog article at `now`. `likes`/`comments` are exact; text-only pages show them rounded."""

    key: str
    blog: str
    slug: str
    title: str
    lang: str
    author: str
    published: datetime
    comments_open: bool
    comments: int
    likes: int
    shares: int
    style: str  # how the item page exposes counts: see BLOG_STYLES

    @property
    def path(self) -> str:
        """URL path of the item page."""
        return f"/blogs/{self.blog}/{self.published:%Y/%m}/{self.slug}/"

    @property
    def counts_in_feed(self) -> bool:
        """WordPress only writes slash:comments / thr:total when comments exist or are open."""
        return self.comments > 0 or self.comments_open

    @property
    def likes_text(self) -> str:
        """Rounded like count as a page shows it ("31K likes")."""
        return f"{humanize(self.likes)} likes"

    @property
    def comments_text(self) -> str:
        """Comment count as a page shows it ("2,900 comments")."""
        return f"{self.comments:,} comments"


def humanize(n: int) -> str:
    """31400 -> "31K", 1250000 -> "1.2M", 950 -> "950"."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M".replace(".0M", "M")
    if n >= 10_000:
        return f"{n // 1000}K"
    if n >= 1_000:
        return f"{n / 1000:.1f}K".replace(".0K", "K")
    return str(n)


def blog_feed_format(blog: str) -> str:
    """Each blog publishes one feed flavour: "rss" (WordPress /feed/) or "atom" (/feed/atom/)."""
    return "atom" if stable_hash("feed", blog.lower()) % 3 == 0 else "rss"


def blog_style(blog: str) -> str:
    """How a blog's item pages expose counts."""
    return BLOG_STYLES[stable_hash("style", blog.lower()) % len(BLOG_STYLES)]


_BLOG_TITLES = [
    ("en", "How we cut our build times by 40%"),
    ("en", "Lessons from migrating 2 TB without downtime"),
    ("en", "Why timeouts matter & how to pick them"),
    ("fr", "Notre retour d'expérience sur PostgreSQL 17"),
    ("fr", "Cinq conseils pour votre premier meetup"),
    ("en", "A week at Acme: what a developer advocate does"),
]


@lru_cache(maxsize=8192)
def blog_posts(
    blog: str, now: datetime, scale: float = DEFAULT_POSTS_PER_DAY
) -> tuple[BlogPost, ...]:
    """A blog's articles of the last WINDOW_DAYS, newest first."""
    blog = blog.lower()
    style = blog_style(blog)
    out: list[BlogPost] = []
    first = (now - timedelta(days=WINDOW_DAYS)).date().toordinal()
    for ordinal in range(first, now.date().toordinal() + 1):
        r = rng("blogday", blog, ordinal)
        # Blogs post far less than social accounts: about scale/5 articles a day.
        if r.random() >= min(1.0, scale / 5):
            continue
        published = datetime.combine(date.fromordinal(ordinal), time(0), tzinfo=UTC) + timedelta(
            hours=r.uniform(7, 20)
        )
        if not (now - timedelta(days=WINDOW_DAYS) <= published < now):
            continue
        lang, title = r.choice(_BLOG_TITLES)
        # WordPress's sanitize_title strips accents: slugs are ASCII.
        slug = (
            unicodedata.normalize("NFKD", title.lower().replace("&", "and"))
            .encode("ascii", "ignore")
            .decode()
        )
        slug = (
            "-".join("".join(c if c.isalnum() else " " for c in slug).split())[:50]
            + f"-{ordinal % 1000}"
        )
        age = (now - published).total_seconds() / 3600
        # Text-only pages carry big rounded numbers ("31K likes") to exercise approximate parsing.
        big = style == "text"
        comments_open = r.random() > 0.2
        final_comments = (
            (r.randrange(1000, 5000) if big else r.randrange(0, 30)) if comments_open else 0
        )
        final_likes = r.randrange(10_000, 60_000) if big else r.randrange(0, 300)
        out.append(
            BlogPost(
                key=f"blog/{blog}/{ordinal}",
                blog=blog,
                slug=slug,
                title=title,
                lang=lang,
                author=blog.replace("-", " ").title(),
                published=published,
                comments_open=comments_open,
                comments=growth(age, final_comments),
                likes=growth(age, final_likes),
                shares=growth(age, final_likes // 10),
                style=style,
            )
        )
    out.sort(key=lambda p: p.published, reverse=True)
    return tuple(out)


@dataclass
class Expected:
    """What a crawler should find for one account at one moment: the truth tests compare against."""

    platform: str
    account: str
    now: datetime
    profile: Profile | None
    posts: list[Post] = field(default_factory=list)
    blog_posts: list[BlogPost] = field(default_factory=list)


def expected(
    platform: str,
    account: str,
    day: int = 0,
    now: datetime | None = None,
    scale: float = DEFAULT_POSTS_PER_DAY,
) -> Expected:
    """The truth for (platform, account, day): profile and posts with exact counts and kinds."""
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}")
    now = now or sandbox_now(day)
    if platform == "blog":
        return Expected(
            platform, account, now, None, blog_posts=list(blog_posts(account, now, scale))
        )
    return Expected(
        platform,
        account,
        now,
        profile(platform, account, now, scale),
        posts=list(posts(platform, account, now, scale)),
    )
