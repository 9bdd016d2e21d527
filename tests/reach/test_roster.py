"""Roster import, validation, idempotence and round trips, through the `reach` CLI."""

from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from cli.demo import DEMO_ROSTER
from cli.main import app
from models import Account, Ambassador

runner = CliRunner()
HEADER = "ambassador,country,cohort,team,platform,account\n"
GOOD = HEADER + (
    "Amélie Laurent,FR,2026,Marketing,mastodon,@amelie@mastodon.social\n"
    "Amélie Laurent,FR,2026,Marketing,bluesky,https://bsky.app/profile/amelie.bsky.social\n"
    "Wei Zhang,CN,2026,Engineering,feed,https://blog.example.org/feed/\n"
    "Wei Zhang,CN,2026,Engineering,mastodon,https://fosstodon.org/@weizhang\n"
    "Ngozi Eze,NG,2026,Design,bluesky,did:plc:ewvi7nxzyoun6zhxrhs64oiz\n"
)


def reach(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def write(tmp_path: Path, text: str, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def counts(session: Session) -> tuple[int, int]:
    session.expire_all()
    return len(session.exec(select(Ambassador)).all()), len(session.exec(select(Account)).all())


def test_good_file_imports_every_ambassador_and_account(tmp_path: Path, session: Session) -> None:
    result = reach("roster", "import", str(write(tmp_path, GOOD)))
    assert result.exit_code == 0, result.output
    assert counts(session) == (3, 5)
    amelie = session.exec(select(Ambassador).where(Ambassador.slug == "amelie-laurent")).one()
    keys = sorted(session.exec(select(Account.key).where(Account.ambassador_id == amelie.id)).all())
    assert keys == ["amelie.bsky.social", "amelie@mastodon.social"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("Bad,FR,2026,T,myspace,someone", "line 3: unknown platform 'myspace'"),
        ("Bad,FR,2026,T,mastodon,@someone", "line 3: Mastodon handle '@someone' has no instance"),
        ("Bad,FR,2026,T,feed,https://exa mple.org/feed", "line 3: malformed URL"),
        ("Bad,FR,2026,T,feed,ftp://example.org/feed", "line 3: URL scheme must be http or https"),
        ("Bad,XX,2026,T,bluesky,bad.bsky.social", "line 3: unknown country code 'XX'"),
        (
            "Bad,FR,2026,T,mastodon,https://mastodon.social/@Amelie",
            "line 3: duplicate account mastodon amelie@mastodon.social (first on line 2)",
        ),
        (",FR,2026,T,bluesky,noname.bsky.social", "line 3: missing ambassador name"),
        ("Bad,FR,2026,T,feed,http://127.0.0.1:8787/feed/", "line 3: private or loopback host"),
    ],
)
def test_each_kind_of_bad_row_names_its_line_and_imports_nothing(
    tmp_path: Path, session: Session, row: str, message: str
) -> None:
    text = (
        HEADER + "Amélie Laurent,FR,2026,Marketing,mastodon,@amelie@mastodon.social\n" + row + "\n"
    )
    result = reach("roster", "import", str(write(tmp_path, text)))
    assert result.exit_code != 0
    assert message in result.output.replace("\n", " ") or message in result.stderr.replace(
        "\n", " "
    )
    assert counts(session) == (0, 0)


def test_every_error_is_listed_not_only_the_first(tmp_path: Path, session: Session) -> None:
    text = GOOD + "X,ZZ,1,T,mastodon,@x\n,FR,1,T,feed,ftp://a.org/\n"
    result = reach("roster", "import", str(write(tmp_path, text)))
    assert result.exit_code == 1
    for expected in (
        "line 7: unknown country code",
        "line 7: Mastodon handle '@x' has no instance",
        "line 8: missing ambassador name",
        "line 8: URL scheme must be http or https",
    ):
        assert expected in result.stderr.replace("\n", " ")
    assert counts(session) == (0, 0)


def test_reimporting_the_same_file_changes_nothing(tmp_path: Path, session: Session) -> None:
    path = write(tmp_path, GOOD)
    reach("roster", "import", str(path))
    before = [(a.id, a.updated_at) for a in session.exec(select(Account)).all()]
    result = reach("roster", "import", str(path))
    assert "+0 ~0, accounts +0 ~0, unchanged 5" in result.output.replace("\n", " ")
    session.expire_all()
    assert [(a.id, a.updated_at) for a in session.exec(select(Account)).all()] == before


def test_changed_row_updates_in_place(tmp_path: Path, session: Session) -> None:
    reach("roster", "import", str(write(tmp_path, GOOD)))
    ids = {a.slug: a.id for a in session.exec(select(Ambassador)).all()}
    changed = GOOD.replace("Wei Zhang,CN,2026,Engineering", "Wei Zhang,SG,2027,Research")
    result = reach("roster", "import", str(write(tmp_path, changed)))
    assert result.exit_code == 0, result.output
    session.expire_all()
    wei = session.exec(select(Ambassador).where(Ambassador.slug == "wei-zhang")).one()
    assert (wei.id, wei.country, wei.cohort, wei.team) == (
        ids["wei-zhang"],
        "SG",
        "2027",
        "Research",
    )
    assert counts(session) == (3, 5)


@pytest.mark.parametrize("fmt", ["csv", "yaml"])
def test_export_then_import_round_trips(tmp_path: Path, session: Session, fmt: str) -> None:
    reach("roster", "import", str(write(tmp_path, GOOD)))
    exported = tmp_path / f"export.{fmt}"
    assert reach("roster", "export", "--format", fmt, "--output", str(exported)).exit_code == 0
    result = reach("roster", "import", str(exported))
    assert result.exit_code == 0, result.output
    assert "unchanged 5" in result.output.replace("\n", " ")
    again = tmp_path / f"again.{fmt}"
    reach("roster", "export", "--format", fmt, "--output", str(again))
    assert again.read_text() == exported.read_text()


def test_yaml_errors_name_the_line(tmp_path: Path, session: Session) -> None:
    text = (
        "ambassadors:\n"
        "  - name: Amélie Laurent\n"
        "    country: FR\n"
        "    accounts:\n"
        "      - {platform: mastodon, account: '@amelie'}\n"
    )
    result = reach("roster", "import", str(write(tmp_path, text, "roster.yaml")))
    assert result.exit_code == 1
    assert "line 5: Mastodon handle '@amelie' has no instance" in result.stderr.replace("\n", " ")
    assert counts(session) == (0, 0)


def test_demo_roster_has_32_ambassadors_from_14_countries(session: Session, monkeypatch) -> None:
    monkeypatch.setenv("REACH_ALLOW_PRIVATE_HOSTS", "true")
    from reach.settings import get_settings

    get_settings.cache_clear()
    assert reach("roster", "import", str(DEMO_ROSTER)).exit_code == 0
    people = session.exec(select(Ambassador)).all()
    assert len(people) == 32
    assert len({p.country for p in people}) == 14
    assert {p.cohort for p in people} == {"2026"}
    per_person = {}
    for account in session.exec(select(Account)).all():
        per_person[account.ambassador_id] = per_person.get(account.ambassador_id, 0) + 1
    assert len(per_person) == 32 and set(per_person.values()) <= {1, 2, 3, 4}


def errors_of(result) -> str:
    return result.stderr.replace("\n", " ")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "N" * 201 + ",,FR,1,T,bluesky,a.bsky.social",
            "line 2: ambassador is 201 characters, longer than the 200 allowed",
        ),
        (
            "Ada,,FR," + "c" * 81 + ",T,bluesky,a.bsky.social",
            "line 2: cohort is 81 characters, longer than the 80 allowed",
        ),
        (
            "Ada,,FR,1," + "t" * 121 + ",bluesky,a.bsky.social",
            "line 2: team is 121 characters, longer than the 120 allowed",
        ),
        (
            "Ada," + "s" * 81 + ",FR,1,T,bluesky,a.bsky.social",
            "line 2: slug is 81 characters, longer than the 80 allowed",
        ),
        (
            "Ada,,FR,1,T,feed,https://blog.example.org/" + "p" * 480,
            "line 2: account is 505 characters, longer than the 500 allowed",
        ),
        (
            "N" * 150 + ",,FR,1,T,bluesky,a.bsky.social",
            "line 2: slug derived from the name is 150 characters, longer than the 80 allowed",
        ),
        (
            "Ada,Ä" + "ß" * 79 + ",FR,1,T,bluesky,a.bsky.social",
            "line 2: slug normalised is 159 characters, longer than the 80 allowed",
        ),
    ],
)
def test_over_long_fields_name_their_line_and_field_and_import_nothing(
    tmp_path: Path, session: Session, row: str, message: str
) -> None:
    text = "ambassador,slug,country,cohort,team,platform,account\n" + row + "\n"
    result = reach("roster", "import", str(write(tmp_path, text)))
    assert result.exit_code == 1
    assert message in errors_of(result)
    assert counts(session) == (0, 0)


def test_slug_in_the_file_is_normalised_so_case_variants_are_one_ambassador(
    tmp_path: Path, session: Session
) -> None:
    text = (
        "ambassador,slug,country,platform,account\n"
        "Amara Okafor,Amara,NG,bluesky,amara.bsky.social\n"
        "Amara Okafor,amara,NG,mastodon,@amara@mastodon.social\n"
    )
    result = reach("roster", "import", str(write(tmp_path, text)))
    assert result.exit_code == 0, result.output
    assert [a.slug for a in session.exec(select(Ambassador)).all()] == ["amara"]
    assert counts(session) == (1, 2)


def test_case_variant_slugs_of_two_different_people_are_reported_as_one_slug(
    tmp_path: Path, session: Session
) -> None:
    text = (
        "ambassador,slug,country,platform,account\n"
        "Amara Okafor,Amara,NG,bluesky,amara.bsky.social\n"
        "Amara Obi,amara,NG,bluesky,obi.bsky.social\n"
    )
    result = reach("roster", "import", str(write(tmp_path, text)))
    assert result.exit_code == 1
    assert (
        "line 3: name 'Amara Obi' differs from line 2 ('Amara Okafor') for ambassador 'amara', "
        "slug written 'amara' here and 'Amara' there"
    ) in errors_of(result)
    assert counts(session) == (0, 0)


def test_stored_slug_written_before_normalising_is_updated_not_duplicated(
    tmp_path: Path, session: Session
) -> None:
    session.add(Ambassador(slug="Amara", name="Amara Okafor", country="NG"))
    session.commit()
    text = "ambassador,slug,country,team,platform,account\nAmara Okafor,Amara,NG,Design,,\n"
    assert reach("roster", "import", str(write(tmp_path, text))).exit_code == 0
    session.expire_all()
    assert [(a.slug, a.team) for a in session.exec(select(Ambassador)).all()] == [
        ("Amara", "Design")
    ]


def test_file_over_the_size_limit_is_refused_before_it_is_read(
    tmp_path: Path, session: Session, monkeypatch
) -> None:
    monkeypatch.setenv("REACH_ROSTER_MAX_BYTES", "1000")
    from reach.settings import get_settings

    get_settings.cache_clear()
    text = GOOD + "".join(f"P{i},FR,1,T,bluesky,p{i}.bsky.social\n" for i in range(40))
    result = reach("roster", "import", str(write(tmp_path, text)))
    assert result.exit_code == 1
    assert "file is larger than 1,000 bytes (REACH_ROSTER_MAX_BYTES)" in errors_of(result)
    assert counts(session) == (0, 0)


@pytest.mark.timeout(120)  # a hang guard; how fast it is belongs to a benchmark, not a test
def test_a_10_mb_field_gets_one_clean_line(tmp_path: Path, session: Session, monkeypatch) -> None:
    monkeypatch.setenv("REACH_ROSTER_MAX_BYTES", "20000000")
    from reach.settings import get_settings

    get_settings.cache_clear()
    path = write(tmp_path, GOOD + '"' + "x" * 10_000_000 + '",FR,1,T,bluesky,x.bsky.social\n')
    result = runner.invoke(app, ["roster", "import", str(path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # no traceback
    assert (
        "line 7: a field is longer than the 131,072 characters the CSV reader takes"
        in errors_of(result)
    )
    assert counts(session) == (0, 0)


@pytest.mark.timeout(120)  # a hang guard, not a speed assertion
@pytest.mark.parametrize("limit", [None, "20000000"], ids=["default-limit", "limit-raised"])
def test_10_mb_of_bad_rows_lists_the_first_100_errors_and_counts_the_rest(
    tmp_path: Path, session: Session, monkeypatch, limit: str | None
) -> None:
    if limit:
        monkeypatch.setenv("REACH_ROSTER_MAX_BYTES", limit)
    from reach.settings import get_settings

    get_settings.cache_clear()
    lines, size, i = [HEADER], len(HEADER), 0
    while size < 10_000_000:
        lines.append(f"Person {i},ZZ,2026,Team,mastodon,@nobody{i}\n")
        size, i = size + len(lines[-1]), i + 1
    path = write(tmp_path, "".join(lines))
    result = runner.invoke(app, ["roster", "import", str(path)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # no traceback
    listed = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    if limit:
        assert len(listed) == 100
        assert result.stderr.splitlines()[-1] == f"... and {2 * i - 100} more"
        assert f"{2 * i} error(s), nothing imported" in result.stderr
    else:
        assert "file is larger than 5,000,000 bytes" in result.stderr
    assert counts(session) == (0, 0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "ambassadors:\n  - &a {name: A, country: FR}\n  - *a\n",
            "line 3: YAML aliases (*name) are not read",
        ),
        ("[" * 5000, "line 1: nested too deeply"),
        ("ambassadors: []\n---\nambassadors: []\n", "expected one YAML document, found several"),
    ],
    ids=["alias", "deep", "two-documents"],
)
def test_yaml_that_could_expand_or_nest_without_end_is_refused(
    tmp_path: Path, session: Session, text: str, message: str
) -> None:
    result = reach("roster", "import", str(write(tmp_path, text, "roster.yaml")))
    assert result.exit_code == 1
    assert message in errors_of(result)
    assert counts(session) == (0, 0)


def test_yaml_country_no_is_norway_not_false(tmp_path: Path, session: Session) -> None:
    text = (
        "ambassadors:\n  - name: Nora Berg\n    country: NO\n    cohort: ~\n    active: yes\n"
        "    accounts: [{platform: bluesky, account: nora.bsky.social}]\n"
    )
    assert reach("roster", "import", str(write(tmp_path, text, "roster.yaml"))).exit_code == 0
    nora = session.exec(select(Ambassador)).one()
    assert (nora.country, nora.cohort, nora.active) == ("NO", None, True)


def test_roster_values_that_look_like_console_markup_are_printed_as_written(
    tmp_path: Path, session: Session
) -> None:
    text = HEADER + "A,FR,1,T,mastodon,[/x]\n"
    result = runner.invoke(app, ["roster", "import", str(write(tmp_path, text))])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "line 2: Mastodon handle '[/x]' has no instance" in errors_of(result)
