"""Storing parsed LinkedIn exports: one transaction per file; re-importing a file changes nothing.

Rules (see the README section "LinkedIn: importing analytics exports"):

- Posts are keyed by (platform 'linkedin', `urn:li:<type>:<id>` derived from the URL);
  `published_at` is the publish date at 00:00 UTC (LinkedIn gives only the day).
- Counts are PostSnapshot rows dated by the export (creator export: its end date; single-post
  export: its download date), at 00:00 UTC. A snapshot is skipped when the same post already has
  one at the same `observed_at` with the same values, so a re-import adds nothing.
- Daily figures are upserted per (account, day) and written only when a value differs; a day
  already written by an export that ends later is kept (LinkedIn revises recent days upward, so
  the newer export is the better figure even when the older file is imported last).
- When a file changes nothing at all, its transaction is rolled back: not even a CrawlRun row.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from models import (
    Account,
    AccountDailyMetric,
    AccountPeriodMetric,
    AccountSnapshot,
    Ambassador,
    AudienceDemographic,
    CrawlRun,
    Post,
    PostSnapshot,
    key_of,
    utcnow,
)
from reach.linkedin.parse import (
    BadExport,
    CreatorExport,
    Export,
    PostKey,
    name_from_filename,
    normalise_name,
    parse_export,
)
from reach.runs import record_import

PLATFORM = "linkedin"
SOURCE = "import"
_SNAPSHOT_FIELDS = ("likes", "comments", "reposts", "impressions", "members_reached", "extra")


class AmbassadorNotFound(LookupError):
    """The file's ambassador is unknown or ambiguous; pass --ambassador SLUG."""


@dataclass
class StoreResult:
    """What storing one export wrote."""

    file: str
    kind: str
    ambassador: str
    account: str
    posts_new: int = 0
    posts_updated: int = 0
    post_snapshots: int = 0
    account_snapshots: int = 0
    days_written: int = 0
    days_kept_newer: int = 0
    periods_written: int = 0
    demographics_written: int = 0
    crawl_run_id: int | None = None

    @property
    def changed(self) -> bool:
        """True when anything was written."""
        return any(
            (
                self.posts_new,
                self.posts_updated,
                self.post_snapshots,
                self.account_snapshots,
                self.days_written,
                self.periods_written,
                self.demographics_written,
            )
        )

    def summary(self) -> str:
        """One line for the CLI and the flow's artifact."""
        if not self.changed:
            return f"{self.kind} export for {self.ambassador}: unchanged (already imported)"
        parts = [
            f"posts +{self.posts_new} ~{self.posts_updated}",
            f"post snapshots +{self.post_snapshots}",
        ]
        if self.kind == "creator":
            parts += [
                f"days written {self.days_written}",
                f"periods {self.periods_written}",
                f"follower snapshots +{self.account_snapshots}",
                f"demographics {self.demographics_written}",
            ]
            if self.days_kept_newer:
                parts.append(f"days kept from a newer export {self.days_kept_newer}")
        return f"{self.kind} export for {self.ambassador}: " + ", ".join(parts)


@dataclass
class FileOutcome:
    """The outcome of one file: imported (with what it wrote) or failed (with the reason)."""

    path: Path
    ok: bool
    message: str
    result: StoreResult | None = None


@dataclass
class _Counts:
    written: int = 0
    kept: int = 0
    rows: list[Any] = field(default_factory=list)


def midnight(day: dt.date) -> dt.datetime:
    """A day as 00:00 UTC, the instant import rows are dated at."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _assign(obj: object, values: dict[str, Any]) -> bool:
    """Set only what differs, so an unchanged row is never rewritten."""
    changed = False
    for attr, value in values.items():
        if getattr(obj, attr) != value:
            setattr(obj, attr, value)
            changed = True
    return changed


# --- who -------------------------------------------------------------------------------------


def match_ambassador(session: Session, filename: str, slug: str | None = None) -> Ambassador:
    """The ambassador given by slug, or named in the export's file name (accents, case, spaces ignored)."""
    if slug:
        person = session.exec(select(Ambassador).where(Ambassador.slug == slug)).first()
        if person is None:
            raise AmbassadorNotFound(f"no ambassador with slug {slug!r} (see `reach roster list`)")
        return person
    name = name_from_filename(filename)
    if not name:
        raise AmbassadorNotFound(
            f"cannot tell the ambassador from the file name {filename!r}: pass --ambassador SLUG"
        )
    wanted = normalise_name(name)
    matches = [
        a
        for a in session.exec(select(Ambassador)).all()
        if wanted in (normalise_name(a.name), normalise_name(a.slug))
    ]
    if not matches:
        raise AmbassadorNotFound(
            f"no ambassador matches the name {name!r} in the file name: pass --ambassador SLUG"
        )
    if len(matches) > 1:
        slugs = ", ".join(sorted(a.slug for a in matches))
        raise AmbassadorNotFound(
            f"the name {name!r} matches several ambassadors ({slugs}): pass --ambassador SLUG"
        )
    return matches[0]


def linkedin_account(session: Session, ambassador: Ambassador, vanity: str | None) -> Account:
    """The ambassador's LinkedIn account from the roster, or one created for imports."""
    accounts = session.exec(
        select(Account)
        .where(Account.ambassador_id == ambassador.id, Account.platform == PLATFORM)
        .order_by(col(Account.id))
    ).all()
    for account in accounts:
        if vanity and account.key == vanity:
            return account
    if accounts:
        return accounts[0]
    # No roster entry: the vanity name from a /posts/ URL is the profile's key; without one, a
    # key with a colon, which no profile URL can produce, so it never collides with the roster.
    taken = (
        vanity
        and session.exec(
            select(Account).where(Account.platform == PLATFORM, Account.key == vanity)
        ).first()
    )
    if vanity and not taken:
        key, handle, profile = (
            vanity,
            f"https://www.linkedin.com/in/{vanity}",
            f"https://www.linkedin.com/in/{vanity}",
        )
    else:
        key, handle, profile = f"import:{ambassador.slug}", ambassador.name, None
    account = Account(
        ambassador_id=key_of(ambassador),
        platform=PLATFORM,
        handle=handle,
        key=key,
        profile_url=profile,
        source=SOURCE,
    )
    session.add(account)
    session.flush()
    return account


# --- what ------------------------------------------------------------------------------------


def _upsert_posts(
    session: Session,
    account: Account,
    items: Sequence[tuple[str, PostKey, dt.date]],
    observed: dt.datetime,
    result: StoreResult,
) -> dict[str, Post]:
    """Posts by URN: created once, then only their seen-window moves (from the exports' dates)."""
    urns = [key.urn for _, key, _ in items]
    existing = {
        p.platform_post_id: p
        for p in session.exec(
            select(Post).where(Post.platform == PLATFORM, col(Post.platform_post_id).in_(urns))
        ).all()
    }
    for url, key, published_on in items:
        post = existing.get(key.urn)
        if post is None:
            post = Post(
                account_id=key_of(account),
                platform=PLATFORM,
                platform_post_id=key.urn,
                url=url,
                published_at=midnight(published_on),
                kind="original",
                source=SOURCE,
                first_seen_at=observed,
                last_seen_at=observed,
            )
            session.add(post)
            existing[key.urn] = post
            result.posts_new += 1
        elif _assign(
            post,
            {
                "first_seen_at": min(post.first_seen_at, observed),
                "last_seen_at": max(post.last_seen_at, observed),
            },
        ):
            result.posts_updated += 1
    session.flush()
    return existing


def _add_post_snapshots(
    session: Session,
    run: CrawlRun,
    observed: dt.datetime,
    values_by_post: dict[int, dict[str, Any]],
    result: StoreResult,
) -> None:
    """Append a snapshot per post unless an identical one exists at the same observed_at."""
    ids = list(values_by_post)
    existing: dict[int, list[tuple[Any, ...]]] = {}
    for snap in session.exec(
        select(PostSnapshot).where(
            col(PostSnapshot.post_id).in_(ids), PostSnapshot.observed_at == observed
        )
    ).all():
        existing.setdefault(snap.post_id, []).append(
            tuple(getattr(snap, f) for f in _SNAPSHOT_FIELDS)
        )
    for post_id, values in values_by_post.items():
        if tuple(values[f] for f in _SNAPSHOT_FIELDS) in existing.get(post_id, []):
            continue
        session.add(
            PostSnapshot(post_id=post_id, crawl_run_id=key_of(run), observed_at=observed, **values)
        )
        result.post_snapshots += 1


def _store_days(
    session: Session, account: Account, export: CreatorExport, result: StoreResult
) -> None:
    existing = {
        m.day: m
        for m in session.exec(
            select(AccountDailyMetric).where(
                AccountDailyMetric.account_id == account.id,
                col(AccountDailyMetric.day).between(export.period_start, export.period_end),
            )
        ).all()
    }
    # Which export wrote a day is known by its file; its period end says which export is newer.
    ends = {
        p.source_file: p.period_end
        for p in session.exec(
            select(AccountPeriodMetric).where(AccountPeriodMetric.account_id == account.id)
        ).all()
    }
    now = utcnow()
    for day in export.days:
        values = {
            k: v
            for k, v in (
                ("impressions", day.impressions),
                ("engagements", day.engagements),
                ("new_followers", day.new_followers),
            )
            if v is not None
        }
        row = existing.get(day.day)
        if row is None:
            session.add(
                AccountDailyMetric(
                    account_id=key_of(account),
                    day=day.day,
                    source_file=export.file,
                    imported_at=now,
                    **values,
                )
            )
            result.days_written += 1
            continue
        if all(getattr(row, k) == v for k, v in values.items()):
            continue
        written_by_end = ends.get(row.source_file)
        if row.source_file != export.file and written_by_end and written_by_end > export.period_end:
            result.days_kept_newer += 1
            continue
        _assign(row, values | {"source_file": export.file, "imported_at": now})
        result.days_written += 1


def _store_period(
    session: Session, account: Account, export: CreatorExport, result: StoreResult
) -> None:
    row = session.exec(
        select(AccountPeriodMetric).where(
            AccountPeriodMetric.account_id == account.id,
            AccountPeriodMetric.period_start == export.period_start,
            AccountPeriodMetric.period_end == export.period_end,
        )
    ).first()
    # Members reached is de-duplicated over the period: stored per period, never summed.
    values: dict[str, Any] = {
        "impressions": export.impressions,
        "members_reached": export.members_reached,
        "followers_total": export.followers_total,
    }
    if row is None:
        session.add(
            AccountPeriodMetric(
                account_id=key_of(account),
                period_start=export.period_start,
                period_end=export.period_end,
                source_file=export.file,
                **values,
            )
        )
        result.periods_written += 1
    elif _assign(row, values):
        row.source_file, row.imported_at = export.file, utcnow()
        result.periods_written += 1


def _store_followers(
    session: Session, account: Account, run: CrawlRun, export: CreatorExport, result: StoreResult
) -> None:
    if export.followers_total is None:
        return
    observed = midnight(export.followers_on)
    same = session.exec(
        select(AccountSnapshot).where(
            AccountSnapshot.account_id == account.id,
            AccountSnapshot.observed_at == observed,
            AccountSnapshot.followers == export.followers_total,
        )
    ).first()
    if same is None:
        session.add(
            AccountSnapshot(
                account_id=key_of(account),
                crawl_run_id=key_of(run),
                observed_at=observed,
                followers=export.followers_total,
            )
        )
        result.account_snapshots += 1


def _store_demographics(
    session: Session, account: Account, export: CreatorExport, result: StoreResult
) -> None:
    existing = {
        (d.scope, d.category, d.value): d
        for d in session.exec(
            select(AudienceDemographic).where(
                AudienceDemographic.account_id == account.id,
                AudienceDemographic.period_end == export.period_end,
                col(AudienceDemographic.post_id).is_(None),
            )
        ).all()
    }
    seen: set[tuple[str, str, str]] = set()
    for demo in export.demographics:
        key = (demo.scope, demo.category[:120], demo.value[:300])
        if key in seen:
            continue  # the unique key allows one row per (scope, category, value)
        seen.add(key)
        values: dict[str, Any] = {"share": demo.share, "share_pct": demo.share_pct}
        row = existing.get(key)
        if row is None:
            session.add(
                AudienceDemographic(
                    account_id=key_of(account),
                    period_end=export.period_end,
                    scope=key[0],
                    category=key[1],
                    value=key[2],
                    **values,
                )
            )
            result.demographics_written += 1
        elif _assign(row, values):
            result.demographics_written += 1


def _start_run(session: Session, export: Export, flow_run_id: str | None) -> CrawlRun:
    kind = "creator" if isinstance(export, CreatorExport) else "post"
    return record_import(session, PLATFORM, export.file, kind, flow_run_id)


def store_export(
    session: Session, export: Export, ambassador: Ambassador, flow_run_id: str | None = None
) -> StoreResult:
    """Write one parsed export in the caller's transaction; the caller commits or rolls back."""
    if isinstance(export, CreatorExport):
        vanity = next((p.key.vanity for p in export.posts if p.key.vanity), None)
    else:
        vanity = export.key.vanity
    account = linkedin_account(session, ambassador, vanity)
    kind = "creator" if isinstance(export, CreatorExport) else "post"
    result = StoreResult(export.file, kind, ambassador.slug, account.key)
    run = _start_run(session, export, flow_run_id)
    result.crawl_run_id = run.id
    observed = midnight(export.observed_on)
    if isinstance(export, CreatorExport):
        posts = _upsert_posts(
            session,
            account,
            [(p.url, p.key, p.published_on) for p in export.posts],
            observed,
            result,
        )
        _add_post_snapshots(
            session,
            run,
            observed,
            {
                posts[p.key.urn].id: {  # type: ignore[misc]
                    "likes": None,
                    "comments": None,
                    "reposts": None,
                    "members_reached": None,
                    # NULL where one TOP POSTS table lacks the post: unknown, not 0.
                    "impressions": p.impressions,
                    "extra": {"engagements": p.engagements} if p.engagements is not None else None,
                }
                for p in export.posts
            },
            result,
        )
        _store_days(session, account, export, result)
        _store_period(session, account, export, result)
        _store_followers(session, account, run, export, result)
        _store_demographics(session, account, export, result)
    else:
        posts = _upsert_posts(
            session, account, [(export.url, export.key, export.published_on)], observed, result
        )
        extra = dict(export.extra)
        if export.demographics:
            # Kept with the snapshot: AudienceDemographic's unique key has no post, so two posts'
            # demographics on one day would overwrite each other there.
            extra["demographics"] = [
                {
                    "category": d.category,
                    "value": d.value,
                    "share": d.share,
                    "share_pct": d.share_pct,
                }
                for d in export.demographics
            ]
        _add_post_snapshots(
            session,
            run,
            observed,
            {
                posts[export.key.urn].id: export.metrics | {"extra": extra or None},  # type: ignore[dict-item]
            },
            result,
        )
    session.flush()
    run.finished_at = utcnow()
    run.items = result.post_snapshots + result.days_written + result.account_snapshots
    run.stats = (run.stats or {}) | {
        "ambassador": ambassador.slug,
        "posts_new": result.posts_new,
        "post_snapshots": result.post_snapshots,
        "days_written": result.days_written,
        "days_kept_newer": result.days_kept_newer,
        "periods_written": result.periods_written,
        "account_snapshots": result.account_snapshots,
        "demographics_written": result.demographics_written,
    }
    return result


# --- files -----------------------------------------------------------------------------------


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and the .xlsx files directly inside given folders (Excel lock files skipped)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.is_file()
                    and p.suffix.lower() == ".xlsx"
                    and not p.name.startswith(("~$", "."))
                )
            )
        else:
            out.append(path)
    return out


def import_files(
    paths: Sequence[Path],
    ambassador_slug: str | None = None,
    url: str | None = None,
    flow_run_id: str | None = None,
) -> list[FileOutcome]:
    """Import each file in its own transaction; a bad file is reported and the others still import."""
    from reach.db import session_scope

    outcomes: dict[int, FileOutcome] = {}
    parsed: list[tuple[int, Path, Export]] = []
    for index, path in enumerate(paths):
        try:
            parsed.append((index, path, parse_export(path)))
        except BadExport as exc:
            outcomes[index] = FileOutcome(path, False, str(exc))
    # Oldest export first, so that where two overlap the newer one's days are written last.
    parsed.sort(key=lambda item: (item[2].observed_on, item[1].name))
    for index, path, export in parsed:
        try:
            with session_scope(url) as session:
                ambassador = match_ambassador(session, path.name, ambassador_slug)
                result = store_export(session, export, ambassador, flow_run_id)
                if not result.changed:
                    session.rollback()  # nothing new: leave no trace, not even a CrawlRun
                    result.crawl_run_id = None
        except AmbassadorNotFound as exc:
            outcomes[index] = FileOutcome(path, False, f"{path.name}: {exc}")
        except IntegrityError as exc:
            outcomes[index] = FileOutcome(
                path, False, f"{path.name}: database refused it: {exc.orig}"
            )
        else:
            outcomes[index] = FileOutcome(path, True, f"{path.name}: {result.summary()}", result)
    return [outcomes[i] for i in sorted(outcomes)]
