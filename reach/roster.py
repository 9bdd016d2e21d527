"""Roster files (CSV or YAML) in and out: validate every row, then import all or nothing."""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pycountry
import yaml
from slugify import slugify
from sqlmodel import Session, SQLModel, select

from models import Account, Ambassador, utcnow
from reach.handles import HandleError, parse_account
from reach.report.cells import csv_cell, csv_uncell

CSV_COLUMNS = ["ambassador", "slug", "country", "cohort", "team", "platform", "account", "active"]
_COLUMNS_READ = set(CSV_COLUMNS)
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}
# Errors listed before the rest are only counted: a file of bad rows gets a readable answer.
MAX_LISTED_ERRORS = 100


def _column_length(model: type[SQLModel], attr: str) -> int:
    length = model.__table__.c[attr].type.length  # type: ignore[attr-defined]
    assert isinstance(length, int)
    return length


# Each input field's limit is its column's, so nothing the database would refuse gets that far.
_FIELD_LIMITS = {
    "ambassador": _column_length(Ambassador, "name"),
    "slug": _column_length(Ambassador, "slug"),
    "cohort": _column_length(Ambassador, "cohort"),
    "team": _column_length(Ambassador, "team"),
    "platform": _column_length(Account, "platform"),
    "account": _column_length(Account, "handle"),
}
_ACCOUNT_LIMITS = {
    attr: _column_length(Account, attr) for attr in ("key", "base_url", "profile_url")
}


class RosterError(ValueError):
    """A roster file has invalid rows; `errors` lists the first ones with their line numbers.

    `more` counts the errors found beyond those listed.
    """

    def __init__(self, source: str, errors: list[str], more: int = 0) -> None:
        self.errors = errors
        self.more = more
        total = len(errors) + more
        lines = errors + ([f"... and {more} more"] if more else [])
        super().__init__(f"{source}: {total} error(s), nothing imported:\n" + "\n".join(lines))


@dataclass
class RosterRow:
    """One ambassador-account pair as read from a file, with where it came from."""

    line: int
    name: str
    slug: str
    country: str
    cohort: str | None
    team: str | None
    active: bool
    platform: str | None = None
    account: str | None = None
    key: str | None = None
    base_url: str | None = None
    profile_url: str | None = None


@dataclass
class ImportResult:
    """What an import changed."""

    ambassadors_created: int = 0
    ambassadors_updated: int = 0
    accounts_created: int = 0
    accounts_updated: int = 0
    unchanged: int = 0
    messages: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(
            (
                self.ambassadors_created,
                self.ambassadors_updated,
                self.accounts_created,
                self.accounts_updated,
            )
        )


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _shown(value: str, limit: int = 60) -> str:
    """A value quoted for a message, cut short so that a huge field cannot flood the output."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def _known_country(code: str) -> bool:
    return len(code) == 2 and _known_alpha_2(code)


@lru_cache(maxsize=1024)
def _known_alpha_2(code: str) -> bool:
    return pycountry.countries.get(alpha_2=code) is not None


@lru_cache(maxsize=65536)
def _slug(text: str) -> str:
    """The one slug rule, for slugs derived from a name and slugs given in the file."""
    return slugify(text)


def _raw_rows_csv(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    try:
        fieldnames = reader.fieldnames
    except csv.Error as exc:
        raise RosterError("header", [f"line 1: {exc}"]) from None
    missing = {"ambassador", "country", "platform", "account"} - set(fieldnames or [])
    if missing:
        raise RosterError("header", [f"line 1: missing column(s): {', '.join(sorted(missing))}"])
    while True:
        first_line = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field limit" in str(exc):  # 131,072 characters, far above any column's length
                message = (
                    f"line {first_line}: a field is longer than the "
                    f"{csv.field_size_limit():,} characters the CSV reader takes"
                )
            else:
                message = f"line {first_line}: not readable as CSV: {exc}"
            raise RosterError("csv", [message]) from None
        # Only the columns we read are kept: a field in a column of its own is never looked at.
        yield (
            reader.line_num,
            {
                k.strip(): csv_uncell(_text(v))
                for k, v in record.items()
                if k and k.strip() in _COLUMNS_READ
            },
        )


class _Sequence(list[Any]):
    """A YAML sequence with the line each item starts on."""

    lines: list[int]


_YAML_NULLS = {"", "~", "null", "Null", "NULL"}


def _yaml_tree(text: str) -> Any:
    """The document as dicts, lists and strings, each list knowing its items' lines.

    Read from the parser's events: composing nodes cost 4 s for a 5 MB roster, the events 0.4 s.
    Scalars stay the text written ("NO" is Norway, not false). Aliases are refused: a few lines of
    them can expand to millions of rows.
    """
    events = yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))

    def line(event: yaml.Event) -> int:
        return event.start_mark.line + 1 if event.start_mark is not None else 0

    def value(event: yaml.Event, depth: int = 0) -> Any:
        if depth > 10:  # a roster nests three deep; "[[[[..." must not exhaust the stack
            raise RosterError("yaml", [f"line {line(event)}: nested too deeply"])
        if isinstance(event, yaml.ScalarEvent):
            plain = event.style is None or event.style == ""
            return None if plain and event.value in _YAML_NULLS else event.value
        if isinstance(event, yaml.SequenceStartEvent):
            items = _Sequence()
            items.lines = []
            while not isinstance(event := next(events), yaml.SequenceEndEvent):
                items.lines.append(line(event))
                items.append(value(event, depth + 1))
            return items
        if isinstance(event, yaml.MappingStartEvent):
            mapping: dict[str, Any] = {}
            while not isinstance(event := next(events), yaml.MappingEndEvent):
                key = value(event, depth + 1)
                mapping[key if isinstance(key, str) else repr(key)] = value(next(events), depth + 1)
            return mapping
        if isinstance(event, yaml.AliasEvent):
            message = (
                f"line {line(event)}: YAML aliases (*name) are not read in a "
                "roster: write each ambassador out"
            )
            raise RosterError("yaml", [message])
        raise RosterError("yaml", [f"line {line(event)}: unexpected YAML {event}"])

    try:
        documents = []
        for event in events:
            if isinstance(event, yaml.DocumentStartEvent):
                documents.append(value(next(events)))
        if len(documents) > 1:
            raise RosterError("yaml", ["expected one YAML document, found several (---)"])
    except yaml.YAMLError as exc:
        raise RosterError("yaml", [f"not valid YAML: {exc}"]) from None
    return documents[0] if documents else None


def _raw_rows_yaml(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Flatten `ambassadors: [{name, country, ..., accounts: [{platform, account}]}]` to rows."""
    data = _yaml_tree(text)
    if data is None:
        return
    people = data.get("ambassadors") if isinstance(data, dict) else data
    if not isinstance(people, _Sequence):
        raise RosterError("yaml", ["line 1: expected a list under 'ambassadors:'"])
    for line, person in zip(people.lines, people, strict=True):
        if not isinstance(person, dict):
            yield line, {"ambassador": ""}
            continue
        base = {
            "ambassador": _text(person.get("name")),
            "slug": _text(person.get("slug")),
            "country": _text(person.get("country")),
            "cohort": _text(person.get("cohort")),
            "team": _text(person.get("team")),
            "active": _text(person.get("active")),
        }
        accounts = person.get("accounts")
        if not isinstance(accounts, _Sequence) or not accounts:
            yield line, base | {"platform": "", "account": ""}
            continue
        for account_line, account in zip(accounts.lines, accounts, strict=True):
            account = account if isinstance(account, dict) else {}
            yield (
                account_line,
                base
                | {
                    "platform": _text(account.get("platform")),
                    "account": _text(account.get("account")),
                },
            )


def _read_text(path: Path, max_bytes: int) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(
                max_bytes + 1
            )  # never more than the limit in memory, whatever stat says
    except OSError as exc:
        raise RosterError(str(path), [f"cannot read file: {exc}"]) from None
    if len(data) > max_bytes:
        message = (
            f"file is larger than {max_bytes:,} bytes (REACH_ROSTER_MAX_BYTES): "
            "split it, or raise the limit if it really is one roster"
        )
        raise RosterError(str(path), [message])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RosterError(str(path), [f"cannot read file: not UTF-8 text ({exc})"]) from None


def _too_long(record: dict[str, str]) -> list[str]:
    problems = []
    for name, limit in _FIELD_LIMITS.items():
        value = record.get(name, "")
        if len(value) > limit:
            problems.append(f"{name} is {len(value)} characters, longer than the {limit} allowed")
    return problems


def parse_roster(
    path: Path, allow_private_hosts: bool = False, max_bytes: int | None = None
) -> list[RosterRow]:
    """Read and validate a roster file; raise RosterError listing the bad rows (the first 100).

    `max_bytes` defaults to REACH_ROSTER_MAX_BYTES.
    """
    if max_bytes is None:
        from reach.settings import get_settings

        max_bytes = get_settings().roster_max_bytes
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".yaml", ".yml"):
        raise RosterError(str(path), [f"unknown roster format {suffix!r}: use .csv, .yaml or .yml"])
    text = _read_text(path, max_bytes)
    errors: list[str] = []
    more = 0
    check = _RowCheck(allow_private_hosts)
    try:
        for line, record in _raw_rows_csv(text) if suffix == ".csv" else _raw_rows_yaml(text):
            problems = _too_long(record) or check(line, record)
            room = MAX_LISTED_ERRORS - len(errors)
            errors.extend(f"line {line}: {problem}" for problem in problems[: max(room, 0)])
            more += max(len(problems) - max(room, 0), 0)
    except RosterError as exc:
        raise RosterError(str(path), errors + exc.errors, more) from None
    if errors:
        raise RosterError(str(path), errors, more)
    return check.rows


class _RowCheck:
    """Checks rows one by one against each other: the good rows so far, accounts and slugs seen."""

    def __init__(self, allow_private_hosts: bool) -> None:
        self.allow_private_hosts = allow_private_hosts
        self.rows: list[RosterRow] = []
        self.seen_accounts: dict[tuple[str, str], int] = {}
        self.people: dict[str, RosterRow] = {}
        self.written_slugs: dict[str, str] = {}

    def __call__(self, line: int, record: dict[str, str]) -> list[str]:
        """What is wrong with one row (its fields within their lengths); a good row is kept."""
        problems: list[str] = []
        name = record.get("ambassador", "")
        if not name:
            problems.append("missing ambassador name")
        written = record.get("slug", "")
        slug = _slug(written or name)
        if written and not slug:
            problems.append(f"slug {_shown(written)} has no letter or digit")
        elif name and not slug:
            problems.append(f"cannot derive a slug from name {_shown(name)}: add a slug column")
        elif len(slug) > _FIELD_LIMITS["slug"]:
            source = "normalised" if written else "derived from the name"
            problems.append(
                f"slug {source} is {len(slug)} characters, longer than the "
                f"{_FIELD_LIMITS['slug']} allowed: give a shorter one in a slug column"
            )
        country = record.get("country", "").upper()
        if not country:
            problems.append("missing country")
        elif not _known_country(country):
            problems.append(
                f"unknown country code {_shown(record.get('country', ''))} "
                "(use ISO 3166 alpha-2, e.g. FR)"
            )
        active_text = record.get("active", "").lower()
        if active_text and active_text not in _TRUE | _FALSE:
            problems.append(f"active must be true or false, got {_shown(record.get('active', ''))}")
        row = RosterRow(
            line,
            name,
            slug,
            country,
            record.get("cohort") or None,
            record.get("team") or None,
            active_text not in _FALSE,
        )
        platform, account = record.get("platform", "").lower(), record.get("account", "")
        if platform or account:
            if not platform:
                problems.append("missing platform")
            else:
                try:
                    parsed = parse_account(platform, account, self.allow_private_hosts)
                except HandleError as exc:
                    problems.append(str(exc))
                else:
                    for attr, limit in _ACCOUNT_LIMITS.items():
                        value = getattr(parsed, attr) or ""
                        if len(value) > limit:
                            problems.append(
                                f"account's {attr} is {len(value)} characters, "
                                f"longer than the {limit} allowed"
                            )
                    row.platform, row.account, row.key = platform, account, parsed.key
                    row.base_url, row.profile_url = parsed.base_url, parsed.profile_url
                    first = self.seen_accounts.setdefault((platform, parsed.key), line)
                    if first != line:
                        problems.append(
                            f"duplicate account {platform} {parsed.key} (first on line {first})"
                        )
        if not problems and slug in self.people:
            earlier = self.people[slug]
            spelled, there = "", self.written_slugs[slug]
            if there != (written or slug):  # "Amara" and "amara" are one ambassador
                spelled = f", slug written {_shown(written or slug)} here and {_shown(there)} there"
            for attr in ("name", "country", "cohort", "team", "active"):
                if getattr(earlier, attr) != getattr(row, attr):
                    problems.append(
                        f"{attr} {_shown(str(getattr(row, attr)))} differs from line {earlier.line} "
                        f"({_shown(str(getattr(earlier, attr)))}) for ambassador {slug!r}{spelled}"
                    )
        if not problems:
            self.people.setdefault(slug, row)
            self.written_slugs.setdefault(slug, written or slug)
            self.rows.append(row)
        return problems


def _assign(obj: object, values: dict[str, object]) -> bool:
    changed = False
    for attr, value in values.items():
        if getattr(obj, attr) != value:
            setattr(obj, attr, value)
            changed = True
    return changed


def import_roster(session: Session, rows: list[RosterRow]) -> ImportResult:
    """Upsert ambassadors by slug and accounts by (platform, key); the caller commits once."""
    result = ImportResult()
    now = utcnow()
    stored = session.exec(select(Ambassador)).all()
    ambassadors = {a.slug: a for a in stored}
    # Slugs stored before they were normalised ("Amara") are found by their normalised form.
    for person in stored:
        ambassadors.setdefault(_slug(person.slug), person)
    accounts = {(a.platform, a.key): a for a in session.exec(select(Account)).all()}
    done: set[str] = set()
    for row in rows:
        found = ambassadors.get(row.slug)
        values: dict[str, object] = {
            "name": row.name,
            "country": row.country,
            "cohort": row.cohort,
            "team": row.team,
            "active": row.active,
        }
        if found is None:
            person = Ambassador(
                slug=row.slug,
                name=row.name,
                country=row.country,
                cohort=row.cohort,
                team=row.team,
                active=row.active,
            )
            session.add(person)
            session.flush()
            ambassadors[row.slug] = person
            result.ambassadors_created += 1
        else:
            person = found
            if row.slug not in done and _assign(person, values):
                person.updated_at = now
                result.ambassadors_updated += 1
        done.add(row.slug)
        if row.platform is None or row.key is None or row.account is None:
            continue
        assert person.id is not None  # flushed above
        account = accounts.get((row.platform, row.key))
        values = {
            "ambassador_id": person.id,
            "handle": row.account,
            "base_url": row.base_url,
            "profile_url": row.profile_url,
        }
        if account is None:
            source = "import" if row.platform == "linkedin" else "crawl"
            account = Account(
                platform=row.platform,
                key=row.key,
                source=source,
                ambassador_id=person.id,
                handle=row.account,
                base_url=row.base_url,
                profile_url=row.profile_url,
            )
            session.add(account)
            accounts[(row.platform, row.key)] = account
            result.accounts_created += 1
        elif _assign(account, values):
            account.updated_at = now
            result.accounts_updated += 1
        else:
            result.unchanged += 1
    session.flush()
    return result


def roster_rows(session: Session) -> list[dict[str, str]]:
    """The stored roster as flat CSV-shaped rows, one per account (or per account-less ambassador)."""
    out: list[dict[str, str]] = []
    people = session.exec(select(Ambassador).order_by(Ambassador.slug)).all()
    by_person: dict[int, list[Account]] = {}
    for account in session.exec(select(Account).order_by(Account.platform, Account.key)).all():
        by_person.setdefault(account.ambassador_id, []).append(account)
    for person in people:
        base = {
            "ambassador": person.name,
            "slug": person.slug,
            "country": person.country,
            "cohort": person.cohort or "",
            "team": person.team or "",
            "active": "true" if person.active else "false",
        }
        accounts_of: list[Account | None] = [*by_person.get(person.id or 0, [])] or [None]
        for held in accounts_of:
            out.append(
                base
                | {
                    "platform": held.platform if held else "",
                    "account": held.handle if held else "",
                }
            )
    return out


def export_roster(session: Session, fmt: str = "csv") -> str:
    """The stored roster as CSV or YAML text that `import_roster` reads back unchanged."""
    rows = roster_rows(session)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        # A spreadsheet must not run a name or handle as a formula; import takes the quote off.
        writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
        return buffer.getvalue()
    if fmt == "yaml":
        people: dict[str, dict[str, Any]] = {}
        for row in rows:
            person = people.setdefault(
                row["slug"],
                {
                    "name": row["ambassador"],
                    "slug": row["slug"],
                    "country": row["country"],
                    "cohort": row["cohort"] or None,
                    "team": row["team"] or None,
                    "active": row["active"] == "true",
                    "accounts": [],
                },
            )
            if row["platform"]:
                person["accounts"].append({"platform": row["platform"], "account": row["account"]})
        return yaml.safe_dump(
            {"ambassadors": list(people.values())}, sort_keys=False, allow_unicode=True
        )
    raise ValueError(f"unknown roster format {fmt!r}: use csv or yaml")
