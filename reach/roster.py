"""Roster files (CSV or YAML) in and out: validate every row, then import all or nothing."""

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pycountry
import yaml
from slugify import slugify
from sqlmodel import Session, select

from models import Account, Ambassador, utcnow
from reach.handles import HandleError, parse_account

CSV_COLUMNS = ["ambassador", "slug", "country", "cohort", "team", "platform", "account", "active"]
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


class RosterError(ValueError):
    """A roster file has invalid rows; `errors` lists each with its line number."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.errors = errors
        super().__init__(f"{source}: {len(errors)} invalid row(s), nothing imported:\n" + "\n".join(errors))


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
            (self.ambassadors_created, self.ambassadors_updated, self.accounts_created, self.accounts_updated)
        )


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _raw_rows_csv(text: str) -> Iterable[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = {"ambassador", "country", "platform", "account"} - set(reader.fieldnames or [])
    if missing:
        raise RosterError("header", [f"line 1: missing column(s): {', '.join(sorted(missing))}"])
    for record in reader:
        yield reader.line_num, {k.strip(): _text(v) for k, v in record.items() if k}


def _raw_rows_yaml(text: str) -> Iterable[tuple[int, dict[str, str]]]:
    """Flatten `ambassadors: [{name, country, ..., accounts: [{platform, account}]}]` to rows."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise RosterError("yaml", [f"not valid YAML: {exc}"]) from exc
    if root is None:
        return
    data = yaml.safe_load(text)
    nodes = root.value if isinstance(root, yaml.SequenceNode) else None
    people = data if isinstance(data, list) else (data or {}).get("ambassadors")
    if isinstance(root, yaml.MappingNode):
        nodes = next((v.value for k, v in root.value if k.value == "ambassadors"), None)
    if not isinstance(people, list) or nodes is None:
        raise RosterError("yaml", ["line 1: expected a list under 'ambassadors:'"])
    for person, node in zip(people, nodes, strict=True):
        line = node.start_mark.line + 1
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
        accounts = person.get("accounts") or []
        account_nodes = next((v.value for k, v in node.value if k.value == "accounts"), [])
        if not accounts:
            yield line, base | {"platform": "", "account": ""}
        for account, account_node in zip(accounts, account_nodes, strict=False):
            account = account if isinstance(account, dict) else {}
            yield account_node.start_mark.line + 1, base | {
                "platform": _text(account.get("platform")),
                "account": _text(account.get("account")),
            }


def parse_roster(path: Path, allow_private_hosts: bool = False) -> list[RosterRow]:
    """Read and validate a roster file; raise RosterError listing every bad row."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise RosterError(str(path), [f"cannot read file: {exc}"]) from exc
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".yaml", ".yml"):
        raise RosterError(str(path), [f"unknown roster format {suffix!r}: use .csv, .yaml or .yml"])
    try:
        raw = list(_raw_rows_csv(text) if suffix == ".csv" else _raw_rows_yaml(text))
    except RosterError as exc:
        raise RosterError(str(path), exc.errors) from None
    errors: list[str] = []
    rows: list[RosterRow] = []
    seen_accounts: dict[tuple[str, str], int] = {}
    people: dict[str, RosterRow] = {}
    for line, record in raw:
        problems: list[str] = []
        name = record.get("ambassador", "")
        if not name:
            problems.append("missing ambassador name")
        slug = record.get("slug") or slugify(name)
        if name and not slug:
            problems.append(f"cannot derive a slug from name {name!r}: add a slug column")
        country = record.get("country", "").upper()
        if not country:
            problems.append("missing country")
        elif len(country) != 2 or pycountry.countries.get(alpha_2=country) is None:
            problems.append(f"unknown country code {record.get('country')!r} (use ISO 3166 alpha-2, e.g. FR)")
        active_text = record.get("active", "").lower()
        if active_text and active_text not in _TRUE | _FALSE:
            problems.append(f"active must be true or false, got {record.get('active')!r}")
        row = RosterRow(
            line, name, slug, country, record.get("cohort") or None, record.get("team") or None,
            active_text not in _FALSE,
        )
        platform, account = record.get("platform", "").lower(), record.get("account", "")
        if platform or account:
            if not platform:
                problems.append("missing platform")
            else:
                try:
                    parsed = parse_account(platform, account, allow_private_hosts)
                except HandleError as exc:
                    problems.append(str(exc))
                else:
                    row.platform, row.account, row.key = platform, account, parsed.key
                    row.base_url, row.profile_url = parsed.base_url, parsed.profile_url
                    first = seen_accounts.setdefault((platform, parsed.key), line)
                    if first != line:
                        problems.append(f"duplicate account {platform} {parsed.key} (first on line {first})")
        if not problems and slug in people:
            earlier = people[slug]
            for attr in ("name", "country", "cohort", "team", "active"):
                if getattr(earlier, attr) != getattr(row, attr):
                    problems.append(
                        f"{attr} {getattr(row, attr)!r} differs from line {earlier.line} "
                        f"({getattr(earlier, attr)!r}) for ambassador {slug!r}"
                    )
        if problems:
            errors.extend(f"line {line}: {problem}" for problem in problems)
        else:
            people.setdefault(slug, row)
            rows.append(row)
    if errors:
        raise RosterError(str(path), errors)
    return rows


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
    ambassadors = {a.slug: a for a in session.exec(select(Ambassador)).all()}
    accounts = {(a.platform, a.key): a for a in session.exec(select(Account)).all()}
    done: set[str] = set()
    for row in rows:
        person = ambassadors.get(row.slug)
        values = {"name": row.name, "country": row.country, "cohort": row.cohort, "team": row.team,
                  "active": row.active}
        if person is None:
            person = Ambassador(slug=row.slug, **values)
            session.add(person)
            session.flush()
            ambassadors[row.slug] = person
            result.ambassadors_created += 1
        elif row.slug not in done and _assign(person, values):
            person.updated_at = now
            result.ambassadors_updated += 1
        done.add(row.slug)
        if row.platform is None:
            continue
        account = accounts.get((row.platform, row.key))
        values = {"ambassador_id": person.id, "handle": row.account, "base_url": row.base_url,
                  "profile_url": row.profile_url}
        if account is None:
            source = "import" if row.platform == "linkedin" else "crawl"
            account = Account(platform=row.platform, key=row.key, source=source, **values)
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
        base = {"ambassador": person.name, "slug": person.slug, "country": person.country,
                "cohort": person.cohort or "", "team": person.team or "",
                "active": "true" if person.active else "false"}
        for account in by_person.get(person.id or 0, []) or [None]:
            out.append(base | {
                "platform": account.platform if account else "",
                "account": account.handle if account else "",
            })
    return out


def export_roster(session: Session, fmt: str = "csv") -> str:
    """The stored roster as CSV or YAML text that `import_roster` reads back unchanged."""
    rows = roster_rows(session)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()
    if fmt == "yaml":
        people: dict[str, dict] = {}
        for row in rows:
            person = people.setdefault(row["slug"], {
                "name": row["ambassador"], "slug": row["slug"], "country": row["country"],
                "cohort": row["cohort"] or None, "team": row["team"] or None,
                "active": row["active"] == "true", "accounts": [],
            })
            if row["platform"]:
                person["accounts"].append({"platform": row["platform"], "account": row["account"]})
        return yaml.safe_dump({"ambassadors": list(people.values())}, sort_keys=False, allow_unicode=True)
    raise ValueError(f"unknown roster format {fmt!r}: use csv or yaml")
