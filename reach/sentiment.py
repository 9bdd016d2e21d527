"""Audience sentiment: language detection, TextBlob scoring, incremental batched storage.

Only English is scored (TextBlob's pattern lexicon is English): any other text gets a
`not_scored` row with the reason `language xx`, never a 0.0 that would read as neutral.
"""

import datetime as dt
import os
import re
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import version as package_version
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from reach.text import html_to_text, text_hash

if TYPE_CHECKING:
    from lingua import LanguageDetector
    from sqlalchemy import Connection, Table

# Languages of the roster's countries and their neighbours. Every language added makes
# detection slower and short English texts likelier to be mistaken for it, so the set is
# kept to what ambassadors and their audience actually write.
DETECTED_LANGUAGES = (
    "ENGLISH", "FRENCH", "GERMAN", "SPANISH", "ITALIAN", "PORTUGUESE", "DUTCH", "CHINESE",
    "JAPANESE", "KOREAN", "ARABIC", "HINDI", "RUSSIAN", "BOKMAL", "SWEDISH", "POLISH", "TURKISH",
)  # fmt: skip
_FAST_CODES = {"nb": "no"}
_FROM_FAST_CODES = {v: k for k, v in _FAST_CODES.items()}
# Below this backlog, starting worker processes costs more than it saves.
POOL_THRESHOLD = 4000
DEFAULT_BATCH_SIZE = 1000
NO_TEXT = "no text"
UNKNOWN_LANGUAGE = "language unknown"

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# @name, @name@instance and Bluesky @handle.domain: names carry no sentiment and fool detection.
_MENTION = re.compile(r"(?<![\w@])@[\w.\-]+(?:@[\w.\-]+)?")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
_SCRIPTS = (
    (re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]"), "ko"),
    (re.compile(r"[\u0600-\u06ff\u0750-\u077f]"), "ar"),
    (re.compile(r"[\u0900-\u097f]"), "hi"),
    (re.compile(r"[\u0400-\u04ff]"), "ru"),
)
# Platform tags that name a language the detector spells differently.
_TAG_ALIASES = {"no": "nb", "iw": "he", "in": "id", "ji": "yi"}


class Score(NamedTuple):
    """A scorer's measure of one text."""

    polarity: float
    subjectivity: float


class Scorer(Protocol):
    """A sentiment scorer: a multilingual one can be added later without touching callers."""

    name: str
    version: str
    languages: frozenset[str]

    def score(self, texts: Sequence[str]) -> list[Score]:
        """Scores of texts that are all in one of `languages`."""
        ...


class TextBlobScorer:
    """TextBlob's default PatternAnalyzer (English lexicon, works offline with no corpora)."""

    name = "textblob"
    languages = frozenset({"en"})

    def __init__(self) -> None:
        self.version = f"{package_version('textblob')}-pattern"

    def score(self, texts: Sequence[str]) -> list[Score]:
        """Polarity in [-1, 1] and subjectivity in [0, 1], as `TextBlob(text).sentiment`."""
        # The very function `TextBlob(text).sentiment` ends in (PatternAnalyzer.analyze calls
        # it); calling it directly skips building a blob and a namedtuple class per text, which
        # is 60% of the cost. tests/reach/test_sentiment.py checks the values stay identical.
        from textblob.en import sentiment as pattern_sentiment

        return [Score(*pattern_sentiment(text)) for text in texts]

    def __reduce__(self) -> tuple[type, tuple[()]]:
        return (type(self), ())


@dataclass(frozen=True, slots=True)
class Outcome:
    """What becomes of one text: its language and its score, or why it was not scored."""

    language: str | None
    state: str
    reason: str | None = None
    polarity: float | None = None
    subjectivity: float | None = None


@dataclass
class ScoreSummary:
    """Counts of one `score_pending` run."""

    scorer: str
    scorer_version: str
    scored: int = 0
    not_scored: Counter[str] = field(default_factory=Counter)
    already_scored: int = 0
    texts_read: int = 0
    languages_filled: int = 0
    workers: int = 1
    seconds: float = 0.0

    @property
    def written(self) -> int:
        """Sentiment rows written (scored plus not scored)."""
        return self.scored + sum(self.not_scored.values())

    @property
    def rate(self) -> float:
        """Texts read and stored per second."""
        return self.texts_read / self.seconds if self.seconds else 0.0


# --- language -------------------------------------------------------------------------------


class LanguageGuesser:
    """Two detectors restricted to DETECTED_LANGUAGES, built once per process.

    A platform's tag is the author's app default more often than a per-post choice (Mastodon's
    posting language, Bluesky's `langs`), so it is checked, not trusted: it stands when a fast
    detector (py3langid's naive Bayes model, about 0.06 ms a text) agrees with it; otherwise
    lingua's high-accuracy mode (about 0.6 ms) decides. A tag is used alone only when the
    detector cannot tell (no letters it knows). On the bench's 45,000 tagged texts the fast
    detector agreed with a wrong tag less often than lingua's low-accuracy mode, at a third of
    its cost.
    """

    def __init__(self) -> None:
        from lingua import Language, LanguageDetectorBuilder
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        languages = [getattr(Language, name) for name in DETECTED_LANGUAGES]
        self.precise: LanguageDetector = LanguageDetectorBuilder.from_languages(*languages).build()
        self.codes = {lang: lang.iso_code_639_1.name.lower() for lang in languages}
        self.fast = LanguageIdentifier.from_model_file(MODEL_FILE)
        # py3langid names Norwegian Bokmål "no"; lingua and this module say "nb".
        self.fast.set_languages([_FAST_CODES.get(c, c) for c in self.codes.values()])

    def warm_up(self) -> None:
        """Load every language model now rather than on the first texts."""
        for text in ("The team shipped it", "我们发布了", "今日はありがとう", "Merci à tous"):
            self.precise.detect_language_of(text)
            self.fast_guess(text)

    def fast_guess(self, text: str) -> str:
        code: str = self.fast.classify(text)[0]
        return _FROM_FAST_CODES.get(code, code)

    def guess(self, text: str, tag: str | None) -> str | None:
        """ISO 639-1 code of the text's language, or None when it cannot be told."""
        by_script = script_language(text)
        if by_script is not None:
            return by_script
        if tag is not None and self.fast_guess(text) == tag:
            return tag
        precise = self.codes.get(self.precise.detect_language_of(text))
        return precise or tag


def script_language(text: str) -> str | None:
    """The language of a text written mostly in a script only one detected language uses."""
    # Lingua's own first step, done for a fraction of its cost: a third of non-English posts
    # are Chinese or Japanese and need no n-gram model at all.
    if text.isascii():
        return None
    letters = sum(map(str.isalpha, text))
    han, kana = len(_HAN.findall(text)), len(_KANA.findall(text))
    if (han + kana) * 2 > letters:
        return "ja" if kana else "zh"
    for pattern, code in _SCRIPTS:
        if len(pattern.findall(text)) * 2 > letters:
            return code
    return None


def normalise_tag(tag: str | None) -> str | None:
    """ISO 639-1 code from a platform tag like 'en-US', 'pt_BR' or 'no'; None if empty."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    primary = _TAG_ALIASES.get(primary, primary)
    return primary if len(primary) == 2 and primary.isalpha() else None


def plain_text(text: str) -> str:
    """The words of a post: markup removed, URLs and @mentions dropped (they carry no mood)."""
    if "<" in text or "&" in text:
        text = html_to_text(text) or ""
    return _MENTION.sub(" ", _URL.sub(" ", text)).strip()


# --- per-process state and the CPU-bound part -------------------------------------------------


@lru_cache(maxsize=1)
def _guesser() -> LanguageGuesser:
    return LanguageGuesser()


_worker_scorer: Scorer | None = None


def _init_worker(scorer: Scorer) -> None:
    """Process-pool initializer: build the detector and keep the scorer once per worker."""
    global _worker_scorer
    _worker_scorer = scorer
    _guesser()


def _pool_context() -> BaseContext:
    """Fork where possible, with the detector loaded first: workers share its models for free."""
    # Lingua loads a few hundred MB of models in 1-3 s; forked workers inherit them
    # copy-on-write instead of loading them again. The workers only compute (no logging, no
    # database), so the usual hazards of forking a threaded parent do not reach them.
    if "fork" in get_all_start_methods():
        _guesser().warm_up()
        return get_context("fork")
    return get_context("spawn")


def analyse(items: Sequence[tuple[str, str | None]], scorer: Scorer) -> list[Outcome]:
    """Language and score of each (text, platform tag); the CPU-bound part of a batch."""
    guesser = _guesser()
    outcomes: list[Outcome | None] = []
    to_score: list[int] = []
    words: list[str] = []
    for text, tag in items:
        plain = plain_text(text)
        # Emoji, numbers and punctuation alone are not a text a lexicon can read.
        if not any(map(str.isalpha, plain)):
            outcomes.append(Outcome(normalise_tag(tag), "not_scored", NO_TEXT))
            continue
        language = guesser.guess(plain, normalise_tag(tag))
        if language is None:
            outcomes.append(Outcome(None, "not_scored", UNKNOWN_LANGUAGE))
        elif language not in scorer.languages:
            outcomes.append(Outcome(language, "not_scored", f"language {language}"))
        else:
            to_score.append(len(outcomes))
            words.append(plain)
            outcomes.append(Outcome(language, "scored"))
    for index, score in zip(to_score, scorer.score(words), strict=True):
        language = outcomes[index].language  # type: ignore[union-attr]
        outcomes[index] = Outcome(language, "scored", None, score.polarity, score.subjectivity)
    return outcomes  # type: ignore[return-value]


def _analyse_in_worker(items: Sequence[tuple[str, str | None]]) -> list[Outcome]:
    assert _worker_scorer is not None, "worker not initialised"
    return analyse(items, _worker_scorer)


# --- database ---------------------------------------------------------------------------------


@dataclass
class _Row:
    """One post or reply read as pending."""

    table: str
    id: int
    text: str
    text_hash: str
    stored_hash: str | None
    tag: str | None


@dataclass
class _Batch:
    rows: list[_Row]
    hashes: list[str]  # distinct hashes, in the order of `items`
    items: list[tuple[str, str | None]]


def _pending_select(
    table: "Table", sentiment: "Table", scorer: Scorer, rescore_before: dt.datetime | None
) -> tuple[Any, Any]:
    """The table joined to this scorer's rows, and the condition of a text still to score."""
    from sqlalchemy import ColumnElement, and_, or_

    joined = table.outerjoin(
        sentiment,
        and_(
            sentiment.c.text_hash == table.c.text_hash,
            sentiment.c.scorer == scorer.name,
            sentiment.c.scorer_version == scorer.version,
        ),
    )
    pending: ColumnElement[bool] = sentiment.c.id.is_(None)
    if rescore_before is not None:
        # Rows this run already rewrote are newer than its start: each text is rescored once.
        pending = or_(pending, sentiment.c.scored_at < rescore_before)
    return joined, and_(table.c.text.is_not(None), pending)


def _count(
    connection: "Connection",
    tables: Sequence["Table"],
    sentiment: "Table",
    scorer: Scorer,
    rescore_before: dt.datetime | None,
    pending: bool,
) -> int:
    from sqlalchemy import func, not_, select

    total = 0
    for table in tables:
        joined, condition = _pending_select(table, sentiment, scorer, rescore_before)
        if not pending:
            condition = table.c.text.is_not(None) & not_(condition)
        total += connection.execute(
            select(func.count()).select_from(joined).where(condition)
        ).scalar_one()
    return total


def _read_batches(
    connection: "Connection",
    tables: Sequence["Table"],
    sentiment: "Table",
    scorer: Scorer,
    rescore_before: dt.datetime | None,
    batch_size: int,
    in_flight: set[str],
) -> Iterator[_Batch]:
    """Pending texts, `batch_size` rows at a time, by keyset on the id (bounded memory)."""
    from sqlalchemy import select

    for table in tables:
        joined, condition = _pending_select(table, sentiment, scorer, rescore_before)
        last_id = 0
        while True:
            query = (
                select(table.c.id, table.c.text, table.c.text_hash, table.c.language)
                .select_from(joined)
                .where(condition, table.c.id > last_id)
                .order_by(table.c.id)
                .limit(batch_size)
            )
            result = connection.execute(query).all()
            connection.commit()  # end the read transaction: SQLite writers must not wait on it
            if not result:
                break
            last_id = result[-1].id
            batch = _Batch([], [], [])
            seen: set[str] = set()
            for row_id, text, stored_hash, tag in result:
                digest = stored_hash or text_hash(text)
                assert digest is not None  # the query reads only rows with a text
                batch.rows.append(_Row(table.name, row_id, text, digest, stored_hash, tag))
                # PostgreSQL refuses one key twice in an upsert; a text already on its way
                # in another batch needs no second score.
                if digest not in seen and digest not in in_flight:
                    seen.add(digest)
                    batch.hashes.append(digest)
                    batch.items.append((text, tag))
            yield batch


def _write(
    connection: "Connection",
    tables: dict[str, "Table"],
    sentiment: "Table",
    scorer: Scorer,
    batch: _Batch,
    outcomes: list[Outcome],
    summary: ScoreSummary,
) -> None:
    """Upsert the batch's scores and fill missing hashes/languages; one commit per batch."""
    from sqlalchemy import bindparam, func, update

    from reach.db import upsert_insert

    now = dt.datetime.now(dt.UTC)
    insert = upsert_insert(connection)
    values = [
        {
            "text_hash": digest, "scorer": scorer.name, "scorer_version": scorer.version,
            "language": o.language, "state": o.state, "reason": o.reason,
            "polarity": o.polarity, "subjectivity": o.subjectivity, "scored_at": now,
        }
        for digest, o in zip(batch.hashes, outcomes, strict=True)
    ]  # fmt: skip
    if values:
        stmt = insert(sentiment)
        updated = ("language", "state", "reason", "polarity", "subjectivity", "scored_at")
        stmt = stmt.on_conflict_do_update(
            index_elements=["text_hash", "scorer", "scorer_version"],
            set_={name: stmt.excluded[name] for name in updated},
        )
        connection.execute(stmt, values)
    for o in outcomes:
        if o.state == "scored":
            summary.scored += 1
        else:
            summary.not_scored[o.reason or "unknown"] += 1

    language_of = {digest: o.language for digest, o in zip(batch.hashes, outcomes, strict=True)}
    fills: dict[str, list[dict[str, Any]]] = {}
    for row in batch.rows:
        detected = language_of.get(row.text_hash)
        fill_language = not row.tag and detected is not None
        if row.stored_hash is None or fill_language:
            summary.languages_filled += fill_language
            fills.setdefault(row.table, []).append(
                {"row_id": row.id, "new_hash": row.text_hash, "new_language": detected}
            )
    for name, params in fills.items():
        table = tables[name]
        # COALESCE keeps what the crawler stored: only empty columns are filled.
        connection.execute(
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values(
                text_hash=func.coalesce(table.c.text_hash, bindparam("new_hash")),
                language=func.coalesce(
                    func.nullif(table.c.language, ""), bindparam("new_language")
                ),
            ),
            params,
        )
    connection.commit()


# --- public API -------------------------------------------------------------------------------


def score_pending(
    database_url: str | None = None,
    rescore: bool = False,
    workers: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    scorer: Scorer | None = None,
) -> ScoreSummary:
    """Score every post and reply text not yet scored by this scorer version (all if `rescore`).

    `workers=None` uses every core when the backlog exceeds POOL_THRESHOLD texts and stays in
    this process otherwise; an explicit `workers` is used as given.
    """
    import models
    from reach.db import get_engine

    started = time.perf_counter()
    scorer = scorer or TextBlobScorer()
    summary = ScoreSummary(scorer.name, scorer.version)
    metadata = models.Sentiment.metadata.tables  # a table model's Table, typed
    sentiment = metadata["sentiment"]
    tables = {name: metadata[name] for name in ("post", "reply")}
    rescore_before = dt.datetime.now(dt.UTC) if rescore else None

    with get_engine(database_url).connect() as connection:
        if not rescore:
            summary.already_scored = _count(
                connection, list(tables.values()), sentiment, scorer, None, pending=False
            )
        if workers is None:
            backlog = _count(
                connection, list(tables.values()), sentiment, scorer, rescore_before, pending=True
            )
            workers = (os.cpu_count() or 1) if backlog > POOL_THRESHOLD else 1
        connection.commit()
        summary.workers = max(1, workers)

        in_flight: set[str] = set()
        batches = _read_batches(
            connection,
            list(tables.values()),
            sentiment,
            scorer,
            rescore_before,
            batch_size,
            in_flight,
        )

        def write(batch: _Batch, outcomes: list[Outcome]) -> None:
            _write(connection, tables, sentiment, scorer, batch, outcomes, summary)
            summary.texts_read += len(batch.rows)
            in_flight.difference_update(batch.hashes)

        if summary.workers == 1:
            for batch in batches:
                write(batch, analyse(batch.items, scorer))
        else:
            # The parent reads and writes (one writer: no SQLite lock contention) while the
            # workers detect and score; a few batches ahead keep both cores busy.
            queue: deque[tuple[_Batch, Future[list[Outcome]]]] = deque()
            with ProcessPoolExecutor(
                summary.workers, mp_context=_pool_context(),
                initializer=_init_worker, initargs=(scorer,),
            ) as pool:  # fmt: skip
                for batch in batches:
                    in_flight.update(batch.hashes)
                    queue.append((batch, pool.submit(_analyse_in_worker, batch.items)))
                    if len(queue) >= 2 * summary.workers:
                        done, future = queue.popleft()
                        write(done, future.result())
                while queue:
                    done, future = queue.popleft()
                    write(done, future.result())
    summary.seconds = time.perf_counter() - started
    return summary
