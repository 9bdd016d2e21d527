"""Sentiment scoring: language gating, HTML and emoji, incremental runs, rescoring, the pool."""

import datetime as dt
import itertools
import json
import subprocess
import sys
from importlib.metadata import version as package_version
from pathlib import Path

import pytest
from rich.console import Console
from sqlmodel import Session, select
from textblob import TextBlob
from typer.testing import CliRunner

from cli.main import app
from models import Account, Ambassador, Post, Reply, Sentiment
from reach.sentiment import (
    NO_SCORER,
    Scorer,
    Scorers,
    TextBlobDeScorer,
    TextBlobFrScorer,
    TextBlobScorer,
    analyse,
    default_scorers,
    normalise_tag,
    score_pending,
    scored_by_language,
)
from reach.text import text_hash

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
POSITIVE = "What a wonderful launch, I love how great this turned out!"
NEGATIVE = "This update is terrible, the app is slow and I hate the new design."
NEUTRAL = "The meeting is on Tuesday at the office in building four."
FRENCH = "C'est une excellente nouvelle pour toute l'équipe, bravo à tous !"
FRENCH_NEGATIVE = "Quel désastre, ce service est horrible et vraiment décevant."
GERMAN = "Das war wirklich ein großartiger Tag mit dem ganzen Team, vielen Dank!"
GERMAN_NEGATIVE = "Das Update ist schrecklich, die App ist langsam und ich hasse das neue Design."
SPANISH = "Muchas gracias a todos por venir a la charla de hoy, fue un placer."
CHINESE = "我们的新产品今天正式发布了，欢迎大家来试用。"
_ids = itertools.count(1)


class Factory:
    """Rows inserted directly: one ambassador and account, posts and replies on demand."""

    def __init__(self, session: Session) -> None:
        self.session = session
        ambassador = Ambassador(slug="amelie-laurent", name="Amélie Laurent", country="FR")
        session.add(ambassador)
        session.flush()
        assert ambassador.id is not None
        self.account = Account(
            ambassador_id=ambassador.id, platform="mastodon", handle="@amelie@x.social",
            key="amelie@x.social",
        )  # fmt: skip
        session.add(self.account)
        session.commit()

    def post(self, text: str | None, language: str | None = None, hashed: bool = True) -> Post:
        assert self.account.id is not None
        post = Post(
            account_id=self.account.id, platform="mastodon", platform_post_id=str(next(_ids)),
            published_at=NOW, text=text, language=language,
            text_hash=text_hash(text) if hashed else None,
        )  # fmt: skip
        self.session.add(post)
        self.session.commit()
        return post

    def reply(self, post: Post, text: str, language: str | None = None) -> Reply:
        assert post.id is not None
        reply = Reply(
            post_id=post.id, platform="mastodon", platform_reply_id=str(next(_ids)),
            published_at=NOW, text=text, text_hash=text_hash(text), language=language,
            author_hash="a" * 64,
        )  # fmt: skip
        self.session.add(reply)
        self.session.commit()
        return reply


@pytest.fixture
def factory(session: Session) -> Factory:
    return Factory(session)


def sentiment_of(session: Session, text: str) -> Sentiment:
    session.expire_all()
    return session.exec(select(Sentiment).where(Sentiment.text_hash == text_hash(text))).one()


def polarity(row: Sentiment) -> float:
    assert row.polarity is not None, f"{row.text_hash} has no polarity"
    return row.polarity


def test_english_texts_get_the_sign_of_their_mood(
    db_url: str, session: Session, factory: Factory
) -> None:
    post = factory.post(POSITIVE, "en")
    factory.post(NEUTRAL)
    factory.reply(post, NEGATIVE)
    summary = score_pending(db_url)
    assert summary.scored == 3 and not summary.not_scored
    positive, negative, neutral = (sentiment_of(session, t) for t in (POSITIVE, NEGATIVE, NEUTRAL))
    assert positive.state == "scored" and positive.language == "en" and polarity(positive) > 0.3
    assert negative.state == "scored" and polarity(negative) < -0.3
    assert neutral.state == "scored" and neutral.polarity == 0.0
    assert positive.scorer == "textblob" and positive.scorer_version.startswith("0.20.1")


def test_french_and_german_texts_get_the_sign_of_their_mood_from_their_scorer(
    db_url: str, session: Session, factory: Factory
) -> None:
    # The French text carries a wrong "en" tag, as an app's default language often does.
    post = factory.post(FRENCH, "en")
    factory.reply(post, FRENCH_NEGATIVE)
    factory.post(GERMAN, "de")
    factory.post(GERMAN_NEGATIVE)
    summary = score_pending(db_url)
    assert summary.scored_by_language == {"fr": 2, "de": 2} and not summary.not_scored
    french, french_negative = sentiment_of(session, FRENCH), sentiment_of(session, FRENCH_NEGATIVE)
    german, german_negative = sentiment_of(session, GERMAN), sentiment_of(session, GERMAN_NEGATIVE)
    assert polarity(french) > 0.2 and polarity(french_negative) < -0.2
    assert polarity(german) > 0.2 and polarity(german_negative) < -0.2
    for row in (french, french_negative):
        assert (row.state, row.language, row.scorer) == ("scored", "fr", "textblob-fr")
        assert row.scorer_version == package_version("textblob-fr") == "0.2.0"
        assert row.subjectivity is not None and 0.0 < row.subjectivity <= 1.0
    for row in (german, german_negative):
        assert (row.state, row.language, row.scorer) == ("scored", "de", "textblob-de")
        assert row.scorer_version == package_version("textblob-de") == "0.4.3"
        # The German lexicon has no subjectivity: NULL, not a 0.0 that reads as "objective".
        assert row.subjectivity is None


def test_spanish_and_chinese_are_stored_not_scored_with_their_language(
    db_url: str, session: Session, factory: Factory
) -> None:
    spanish = factory.post(SPANISH, "en")
    chinese = factory.post(CHINESE)
    summary = score_pending(db_url)
    assert summary.scored == 0
    assert summary.not_scored == {"language es": 1, "language zh": 1}
    for text, language in ((SPANISH, "es"), (CHINESE, "zh")):
        row = sentiment_of(session, text)
        assert (row.state, row.reason, row.language) == (
            "not_scored", f"language {language}", language,
        )  # fmt: skip
        assert row.polarity is None and row.subjectivity is None
        assert (row.scorer, row.scorer_version) == (NO_SCORER, "de+en+fr")
    session.refresh(spanish)
    session.refresh(chinese)
    # An existing tag is kept as the platform gave it; an empty one is filled.
    assert (spanish.language, chinese.language) == ("en", "zh")


def test_new_version_of_one_scorer_rescores_only_its_language(
    db_url: str, session: Session, factory: Factory
) -> None:
    texts = [POSITIVE, NEGATIVE, FRENCH, FRENCH_NEGATIVE, GERMAN, SPANISH, "🎉"]
    for text in texts:
        factory.post(text)
    score_pending(db_url)
    before = {(r.text_hash, r.scorer): r.scored_at for r in session.exec(select(Sentiment)).all()}

    french = TextBlobFrScorer()
    french.version += "-next"
    summary = score_pending(db_url, scorers=[TextBlobScorer(), french, TextBlobDeScorer()])
    assert summary.scored_by_language == {"fr": 2} and summary.written == 2
    assert summary.already_scored == len(texts) - 2
    session.expire_all()
    rows = session.exec(select(Sentiment)).all()
    rewritten = {r.text_hash for r in rows if before.get((r.text_hash, r.scorer)) != r.scored_at}
    assert rewritten == {text_hash(FRENCH), text_hash(FRENCH_NEGATIVE)}
    assert {r.scorer_version for r in rows if r.text_hash == text_hash(FRENCH)} == {
        "0.2.0", "0.2.0-next",
    }  # fmt: skip
    again = score_pending(db_url, scorers=[TextBlobScorer(), french, TextBlobDeScorer()])
    assert again.written == 0 and again.already_scored == len(texts)


def test_rows_of_the_english_only_scorer_get_french_and_german_scored(
    db_url: str, session: Session, factory: Factory
) -> None:
    # What the English-only release left: every text under textblob's name and version.
    english = TextBlobScorer()
    old = {POSITIVE: ("en", 0.8), FRENCH: ("fr", None), GERMAN: ("de", None), SPANISH: ("es", None)}
    for text, (language, score) in old.items():
        post = factory.post(text)
        assert post.text_hash is not None
        session.add(
            Sentiment(
                text_hash=post.text_hash, scorer=english.name, scorer_version=english.version,
                language=language, state="scored" if score else "not_scored",
                reason=None if score else f"language {language}", polarity=score,
            )
        )  # fmt: skip
    session.commit()
    summary = score_pending(db_url)
    assert summary.scored_by_language == {"fr": 1, "de": 1}
    assert summary.not_scored == {"language es": 1} and summary.already_scored == 1
    assert sentiment_of(session, POSITIVE).polarity == 0.8  # English is not scored again
    assert scored_by_language(session) == {"de": 1, "en": 1, "fr": 1}


def test_scored_by_language_counts_distinct_texts_of_the_current_scorers(
    db_url: str, session: Session, factory: Factory
) -> None:
    for text in (POSITIVE, NEGATIVE, FRENCH, GERMAN, GERMAN_NEGATIVE, SPANISH, CHINESE):
        factory.post(text)
    factory.post(POSITIVE)  # a cross-post: one text
    assert scored_by_language(session) == {}
    score_pending(db_url)
    assert scored_by_language(session) == {"de": 2, "en": 2, "fr": 1}
    german = TextBlobDeScorer()
    german.version += "-next"
    # Scores of an older German version are not counted for a newer one.
    current: list[Scorer] = [TextBlobScorer(), TextBlobFrScorer(), german]
    assert scored_by_language(session, current) == {"en": 2, "fr": 1}


def test_report_says_which_languages_were_scored_with_the_n_of_each(
    db_url: str, session: Session, factory: Factory, tmp_path: Path
) -> None:
    from openpyxl import load_workbook

    from reach.report import build_report, write_report
    from reach.report.html import render_html
    from reach.report.render import render_json, render_table

    english = factory.post(POSITIVE)
    factory.post(FRENCH)
    factory.post(SPANISH)
    factory.reply(english, NEGATIVE)
    factory.reply(english, GERMAN_NEGATIVE)
    factory.reply(english, FRENCH_NEGATIVE)
    score_pending(db_url)
    report = build_report(session, NOW.date(), NOW.date(), timezone="UTC")
    assert report.sentiment_languages == {
        "scored": {"de": 1, "en": 2, "fr": 2},
        "not_scored": {"es": 1},
    }
    expected = "de n=1, en n=2, fr n=2"
    assert expected in render_table(report, Console(width=120, record=True))
    assert json.loads(render_json(report))["sentiment_languages"]["not_scored"] == {"es": 1}
    assert expected in render_html(report) and "es n=1" in render_html(report)
    sheet = load_workbook(write_report(report, "xlsx", tmp_path / "r.xlsx"))["about"]
    about = {row[0]: row[1] for row in sheet.iter_rows(values_only=True)}
    assert expected in about["Sentiment languages"]
    # A period before any post: nothing scored, and it says so.
    empty = build_report(session, dt.date(2025, 1, 1), dt.date(2025, 1, 2), timezone="UTC")
    assert "no post or reply of this period has been scored" in render_html(empty)


def test_html_and_emoji_are_handled(db_url: str, session: Session, factory: Factory) -> None:
    html = (
        '<p>I <b>love</b> this &amp; the team 🎉🚀</p><p><a href="https://x.org/a">x.org/a</a></p>'
    )
    only_emoji = "🎉🎉👏 https://example.org/launch @amelie@x.social"
    factory.post(html)
    factory.post(only_emoji)
    factory.post("")
    score_pending(db_url)
    scored = sentiment_of(session, html)
    assert scored.state == "scored" and scored.polarity == pytest.approx(0.5)
    for text in (only_emoji, ""):
        row = sentiment_of(session, text)
        assert (row.state, row.reason, row.polarity) == ("not_scored", "no text", None)


def test_second_run_scores_nothing_new(db_url: str, session: Session, factory: Factory) -> None:
    post = factory.post(POSITIVE)
    factory.post(POSITIVE)  # the same text twice (a cross-post) is scored once
    factory.reply(post, CHINESE)
    first = score_pending(db_url)
    assert (first.scored, first.written, first.texts_read) == (1, 2, 3)
    second = score_pending(db_url)
    assert (second.written, second.texts_read, second.already_scored) == (0, 0, 3)
    assert len(session.exec(select(Sentiment)).all()) == 2


def test_edited_post_is_rescored_and_missing_hash_is_filled(
    db_url: str, session: Session, factory: Factory
) -> None:
    post = factory.post(NEUTRAL)
    score_pending(db_url)
    post.text, post.text_hash = NEGATIVE, None  # an edit, without the crawler's hash
    session.add(post)
    session.commit()
    summary = score_pending(db_url)
    assert summary.scored == 1
    session.refresh(post)
    assert post.text_hash == text_hash(NEGATIVE) and post.language == "en"
    assert polarity(sentiment_of(session, NEGATIVE)) < 0


def test_rescore_replaces_every_row_of_this_scorer_version(
    db_url: str, session: Session, factory: Factory
) -> None:
    factory.post(POSITIVE)
    factory.post(FRENCH)
    score_pending(db_url)
    before = {row.text_hash: row.scored_at for row in session.exec(select(Sentiment)).all()}
    summary = score_pending(db_url, rescore=True)
    assert summary.written == 2 and summary.already_scored == 0
    session.expire_all()
    after = {row.text_hash: row.scored_at for row in session.exec(select(Sentiment)).all()}
    assert after.keys() == before.keys()
    assert all(after[key] > before[key] for key in before)


def test_cli_score_and_rescore_print_the_summary(db_url: str, factory: Factory) -> None:
    factory.post(POSITIVE)
    factory.post(CHINESE)
    runner = CliRunner()
    first = runner.invoke(app, ["score"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "scored" in first.output and "language zh" in first.output
    again = runner.invoke(app, ["score"], catch_exceptions=False)
    assert "already scored" in again.output and again.exit_code == 0
    rescored = runner.invoke(app, ["score", "--rescore"], catch_exceptions=False)
    assert rescored.exit_code == 0 and "2 texts" in rescored.output


def test_process_pool_gives_the_same_results_as_in_process(
    db_url: str, session: Session, factory: Factory
) -> None:
    texts = [POSITIVE, NEGATIVE, NEUTRAL, FRENCH, CHINESE, "<p>Nice work 👏</p>", "🎉"]
    posts = [factory.post(f"{text} #{n}" if n else text) for n in range(3) for text in texts]
    in_process = score_pending(db_url, workers=1)

    def rows() -> dict[str, tuple[object, ...]]:
        return {
            r.text_hash: (r.language, r.state, r.reason, r.polarity, r.subjectivity)
            for r in session.exec(select(Sentiment)).all()
        }

    expected = rows()
    session.expire_all()
    pooled = score_pending(db_url, rescore=True, workers=2, batch_size=4)
    session.expire_all()
    assert pooled.workers == 2 and rows() == expected
    assert (pooled.scored, pooled.not_scored) == (in_process.scored, in_process.not_scored)
    assert len(expected) == len({p.text_hash for p in posts})


def test_scorer_matches_textblob_sentiment_exactly() -> None:
    texts = [POSITIVE, NEGATIVE, NEUTRAL, "Not bad at all :)", "The worst. Really!!!"]
    ours = TextBlobScorer().score(texts)
    assert [tuple(s) for s in ours] == [tuple(TextBlob(t).sentiment) for t in texts]


def test_french_scorer_matches_textblob_fr_exactly() -> None:
    from textblob_fr import PatternAnalyzer

    texts = [FRENCH, FRENCH_NEGATIVE, "La réunion a lieu mardi.", "Je ne suis pas content", ""]
    ours = TextBlobFrScorer().score(texts)
    theirs = [TextBlob(t, analyzer=PatternAnalyzer()).sentiment for t in texts]
    assert [tuple(s) for s in ours] == [tuple(s) for s in theirs]


GERMAN_TEXTS = [
    GERMAN, GERMAN_NEGATIVE, "Das Treffen ist am Dienstag im Büro.", "Das ist nicht gut.",
    "Ein Satz. Noch einer/zwei, z.B. ein dritter!", "Schön", "", "...",
]  # fmt: skip
# textblob-de's own analyzer can be imported only once the two TextBlob modules it still imports
# (gone from TextBlob) exist: stand-ins, in a process of their own.
TEXTBLOB_DE_ITSELF = """
import json, sys, types
translate, compat = types.ModuleType("textblob.translate"), types.ModuleType("textblob.compat")
translate.Translator = object
compat.with_metaclass = lambda meta, *bases: meta("base", bases or (object,), {})
sys.modules.update({"textblob.translate": translate, "textblob.compat": compat})
from textblob_de import PatternAnalyzer, PatternTokenizer
analyzer = PatternAnalyzer(tokenizer=PatternTokenizer())
print(json.dumps([analyzer.analyze(text).polarity for text in json.loads(sys.argv[1])]))
"""


def test_german_scorer_matches_textblob_de_own_analyzer() -> None:
    plain = subprocess.run(
        [sys.executable, "-c", "import textblob_de"],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    # Why reach.sentiment loads textblob-de's vendored pattern.de instead of the package.
    assert plain.returncode != 0 and "No module named 'textblob.translate'" in plain.stderr
    done = subprocess.run(
        [sys.executable, "-c", TEXTBLOB_DE_ITSELF, json.dumps(GERMAN_TEXTS)],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    theirs = json.loads(done.stdout)
    assert [s.polarity for s in TextBlobDeScorer().score(GERMAN_TEXTS)] == theirs
    assert theirs[0] > 0 > theirs[1]


# A fresh process (nothing loaded yet) that refuses any NLTK data look-up or download and
# records any network use while the three scorers load their lexicons and score.
OFFLINE_SCORING = """
import json, sys
events = []
def audit(event, args):
    if event.startswith(("socket.", "urllib.", "http.")):
        events.append(event)
sys.addaudithook(audit)
import nltk
def refuse(resource, *args, **kwargs):
    events.append(f"nltk data {resource}")
    raise LookupError(resource)
nltk.data.find = nltk.data.load = refuse
nltk.download = lambda *args, **kwargs: events.append("nltk download")
from reach.sentiment import TextBlobDeScorer, TextBlobFrScorer, TextBlobScorer
scores = [
    scorer().score([text])[0].polarity
    for scorer, text in [
        (TextBlobScorer, "What a wonderful day"),
        (TextBlobFrScorer, "Quelle journée magnifique"),
        (TextBlobDeScorer, "Was für ein wunderbarer Tag"),
    ]
]
print(json.dumps({"events": events, "scores": scores}))
"""


def test_scorers_need_no_corpus_download_and_no_network() -> None:
    done = subprocess.run(
        [sys.executable, "-c", OFFLINE_SCORING], check=True, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    result = json.loads(done.stdout)
    assert result["events"] == []
    assert all(score > 0 for score in result["scores"])


@pytest.mark.parametrize(
    ("tag", "text", "language"),
    [
        ("en", FRENCH, "fr"),  # a default tag on a text that is clearly not English
        ("fr", POSITIVE, "en"),
        (None, "Das war wirklich ein großartiger Tag mit dem ganzen Team.", "de"),
        ("pt-BR", "Muito obrigado a todos pelo apoio, foi incrível!", "pt"),
        ("ja", "今日は新しい製品を発表しました。ありがとうございます！", "ja"),
    ],
)
def test_language_tag_is_checked_not_trusted(tag: str | None, text: str, language: str) -> None:
    [outcome] = analyse([(text, tag)], Scorers(default_scorers()))
    assert outcome.language == language


def test_platform_tags_are_normalised_to_iso_639_1() -> None:
    assert [normalise_tag(t) for t in ("en-US", "pt_BR", "no", "", None, "zh-Hant", "und")] == [
        "en", "pt", "nb", None, None, "zh", None,
    ]  # fmt: skip
