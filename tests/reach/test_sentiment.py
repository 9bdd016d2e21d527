"""Sentiment scoring: language gating, HTML and emoji, incremental runs, rescoring, the pool."""

import datetime as dt
import itertools

import pytest
from sqlmodel import Session, select
from textblob import TextBlob
from typer.testing import CliRunner

from cli.main import app
from models import Account, Ambassador, Post, Reply, Sentiment
from reach.sentiment import TextBlobScorer, analyse, normalise_tag, score_pending
from reach.text import text_hash

NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
POSITIVE = "What a wonderful launch, I love how great this turned out!"
NEGATIVE = "This update is terrible, the app is slow and I hate the new design."
NEUTRAL = "The meeting is on Tuesday at the office in building four."
FRENCH = "C'est une excellente nouvelle pour toute l'équipe, bravo à tous !"
CHINESE = "我们的新产品今天正式发布了，欢迎大家来试用。"
_ids = itertools.count(1)


class Factory:
    """Rows inserted directly: one ambassador and account, posts and replies on demand."""

    def __init__(self, session: Session) -> None:
        self.session = session
        ambassador = Ambassador(slug="amelie-laurent", name="Amélie Laurent", country="FR")
        session.add(ambassador)
        session.flush()
        self.account = Account(
            ambassador_id=ambassador.id, platform="mastodon", handle="@amelie@x.social",
            key="amelie@x.social",
        )  # fmt: skip
        session.add(self.account)
        session.commit()

    def post(self, text: str | None, language: str | None = None, hashed: bool = True) -> Post:
        post = Post(
            account_id=self.account.id, platform="mastodon", platform_post_id=str(next(_ids)),
            published_at=NOW, text=text, language=language,
            text_hash=text_hash(text) if hashed else None,
        )  # fmt: skip
        self.session.add(post)
        self.session.commit()
        return post

    def reply(self, post: Post, text: str, language: str | None = None) -> Reply:
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


def test_english_texts_get_the_sign_of_their_mood(
    db_url: str, session: Session, factory: Factory
) -> None:
    post = factory.post(POSITIVE, "en")
    factory.post(NEUTRAL)
    factory.reply(post, NEGATIVE)
    summary = score_pending(db_url)
    assert summary.scored == 3 and not summary.not_scored
    positive, negative, neutral = (sentiment_of(session, t) for t in (POSITIVE, NEGATIVE, NEUTRAL))
    assert positive.state == "scored" and positive.language == "en" and positive.polarity > 0.3
    assert negative.state == "scored" and negative.polarity < -0.3
    assert neutral.state == "scored" and neutral.polarity == 0.0
    assert positive.scorer == "textblob" and positive.scorer_version.startswith("0.20.1")


def test_french_and_chinese_are_stored_not_scored_with_their_language(
    db_url: str, session: Session, factory: Factory
) -> None:
    # The French text carries a wrong "en" tag, as an app's default language often does.
    french = factory.post(FRENCH, "en")
    chinese = factory.post(CHINESE)
    summary = score_pending(db_url)
    assert summary.scored == 0
    assert summary.not_scored == {"language fr": 1, "language zh": 1}
    for text, language in ((FRENCH, "fr"), (CHINESE, "zh")):
        row = sentiment_of(session, text)
        assert (row.state, row.reason, row.language) == (
            "not_scored", f"language {language}", language,
        )  # fmt: skip
        assert row.polarity is None and row.subjectivity is None
    session.refresh(french)
    session.refresh(chinese)
    # An existing tag is kept as the platform gave it; an empty one is filled.
    assert (french.language, chinese.language) == ("en", "zh")


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
    factory.reply(post, FRENCH)
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
    assert sentiment_of(session, NEGATIVE).polarity < 0


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

    def rows() -> dict[str, tuple]:
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
    [outcome] = analyse([(text, tag)], TextBlobScorer())
    assert outcome.language == language


def test_platform_tags_are_normalised_to_iso_639_1() -> None:
    assert [normalise_tag(t) for t in ("en-US", "pt_BR", "no", "", None, "zh-Hant", "und")] == [
        "en", "pt", "nb", None, None, "zh", None,
    ]  # fmt: skip
