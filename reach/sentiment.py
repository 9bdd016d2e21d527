"""Audience sentiment: language detection, TextBlob scoring, incremental batched storage.

English, French and German are scored, each by the pattern lexicon of its language on
TextBlob's scale (`textblob`, `textblob-fr`, `textblob-de`): any other text gets a `not_scored`
row with the reason `language xx`, never a 0.0 that would read as neutral.
"""

import datetime as dt
import os
import re
import sys
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
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
    from sqlalchemy import ColumnElement, Connection, Table
    from sqlmodel import Session

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
# The scorer name of the rows of texts no scorer takes (other languages, no text, unknown).
NO_SCORER = "none"

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
    """A scorer's measure of one text; subjectivity None where the lexicon has none."""

    polarity: float
    subjectivity: float | None


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


class TextBlobFrScorer:
    """textblob-fr's PatternAnalyzer: pattern.fr's French lexicon, shipped in the package."""

    name = "textblob-fr"
    languages = frozenset({"fr"})

    def __init__(self) -> None:
        self.version = package_version("textblob-fr")

    def score(self, texts: Sequence[str]) -> list[Score]:
        """Polarity and subjectivity as `TextBlob(text, analyzer=PatternAnalyzer()).sentiment`."""
        # textblob_fr.sentiments.PatternAnalyzer.analyze is this one call; the lexicon and the
        # tokenizer are the package's own files (no NLTK data).
        from textblob_fr.fr import sentiment as pattern_sentiment

        return [Score(*pattern_sentiment(text)) for text in texts]


class TextBlobDeScorer:
    """textblob-de's PatternAnalyzer with its PatternTokenizer: pattern.de, shipped in the package.

    Polarity only: the German Polarity Lexicon it ships has no subjectivity (the lexicon's own
    header says so; 7,958 of its 7,965 words carry 0.0), so subjectivity is stored NULL rather
    than a 0.0 that would read as "objective".
    """

    name = "textblob-de"
    languages = frozenset({"de"})

    def __init__(self) -> None:
        self.version = package_version("textblob-de")

    def score(self, texts: Sequence[str]) -> list[Score]:
        """Polarity as `PatternAnalyzer(tokenizer=PatternTokenizer()).analyze(text)`."""
        german = _german()
        return [Score(german.sentiment(german.lemmata(text))[0], None) for text in texts]


class _German:
    """textblob-de's sentiment path, rebuilt from its vendored pattern.de.

    `import textblob_de` fails with TextBlob 0.20 (its package __init__ imports
    `textblob.translate` and `textblob.compat`, both removed from TextBlob), so its vendored
    pattern is imported the way textblob_de/packages.py itself falls back to it (`_pattern` from
    the package's ext/ folder), and the few lines of its PatternAnalyzer, PatternParserLemmatizer
    and PatternTokenizer that scoring runs are repeated here. tests/reach/test_sentiment.py
    checks the scores equal the package's own analyzer's. The default tokenizer of textblob-de
    (NLTK punkt) would need corpus data: PatternTokenizer needs none.
    """

    def __init__(self) -> None:
        import importlib.util
        import string

        spec = importlib.util.find_spec("textblob_de")  # finds the package without importing it
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError("textblob_de")
        root = os.path.dirname(os.path.realpath(spec.origin))
        ext = os.path.join(root, "ext")
        sys.path.append(ext)
        try:
            import _pattern.text as pattern_text
            import _pattern.text.de as pattern_de
        finally:
            sys.path.remove(ext)
        self._text = pattern_text
        self._de = pattern_de
        self._punctuation = string.punctuation

        class Sentiment(pattern_text.Sentiment):  # type: ignore[misc]
            # As textblob_de/sentiments.py (copied from textblob-fr): "précaire" also as "precaire".
            def load(self, path: str | None = None) -> None:
                super().load(path)
                if not path:
                    for word, tags in list(self.items()):
                        unaccented = word
                        if not word.endswith(("à", "è", "é", "ê", "ï")):
                            for accented, plain in (("à", "a"), ("é", "e"), ("è", "e"),
                                                    ("ê", "e"), ("ï", "i")):  # fmt: skip
                                unaccented = unaccented.replace(accented, plain)
                        if unaccented != word:
                            for tag, (p, s, i) in tags.items():
                                self.annotate(unaccented, tag, p, s, i)

        self.sentiment = Sentiment(
            path=os.path.join(root, "data", "de-sentiment.xml"),
            synset=None,
            negations=("nicht", "ohne", "nie", "nein", "kein", "keiner", "keine", "nichts"),
            modifiers=("RB", "JJ"),
            modifier=lambda w: w.endswith("lich"),
            language="de",
        )

    def tokens(self, text: str) -> list[str]:
        """PatternTokenizer().tokenize(text): pattern's sentence splitter, then words."""
        words: list[str] = []
        sentences = self._text.find_tokens(
            text, punctuation=self._punctuation, abbreviations=self._de.ABBREVIATIONS,
            replace=self._text.replacements, linebreak=r"\n{2,}",
        )  # fmt: skip
        for sentence in sentences:
            if sentence.strip() == "":
                continue
            parts = sentence.split(" ")
            # A final "word." becomes "word", "." (textblob-de's issue #5).
            if parts[-1].endswith(".") and len(parts[-1]) > 1:
                parts = parts[:-1] + [parts[-1][:-1], "."]
            words.extend(parts)
        return words

    def lemmata(self, text: str) -> str:
        """PatternAnalyzer._lemmatize: the text's lemmas, space-separated, punctuation left out."""
        if text.strip() == "":
            return ""
        text = text.replace("/", " FORWARDSLASH ")
        parsed = self._de.parse(" ".join(self.tokens(text)), tokenize=False, lemmata=True)
        lemmata = []
        for sentence in parsed.split("\n"):
            for i, token in enumerate(sentence.split()):
                if token.startswith("/"):
                    continue
                word, tag, _phrase, _role, lemma = token.split("/")
                # The lexicon uses Swiss spelling: "ss" instead of "ß".
                lemma = lemma.replace("ß", "ss").strip().replace("forwardslash", "/")
                if (word[0].isupper() and i > 0) or (tag.startswith("N") and i == 0):
                    lemma = lemma.title()
                if word in self._punctuation or lemma == "/":
                    continue
                lemmata.append(lemma)
        return " ".join(lemmata)


@lru_cache(maxsize=1)
def _german() -> _German:
    return _German()


def default_scorers() -> list[Scorer]:
    """The scorer of each scored language: English, French and German."""
    return [TextBlobScorer(), TextBlobFrScorer(), TextBlobDeScorer()]


class Scorers:
    """The scorers of a run, chosen by a text's detected language.

    A scored text's row carries its scorer's name and version; the rows of texts no scorer takes
    (other languages, no text, unknown) carry the name `none` and the scored languages as version
    (`de+en+fr`), so that adding a language's scorer makes its texts pending again. A new
    version of one scorer makes only that language's texts pending.
    """

    def __init__(self, scorers: Iterable[Scorer]) -> None:
        self.scorers = tuple(scorers)
        self.by_language: dict[str, Scorer] = {}
        for scorer in self.scorers:
            for language in sorted(scorer.languages):
                if language in self.by_language:
                    raise ValueError(f"two scorers for language {language}")
                self.by_language[language] = scorer
        self.no_scorer_version = "+".join(sorted(self.by_language))

    def key(self, outcome: "Outcome") -> tuple[str, str]:
        """The (scorer, scorer_version) an outcome is stored under."""
        if outcome.state == "scored":
            scorer = self.by_language[outcome.language or ""]
            return scorer.name, scorer.version
        return NO_SCORER, self.no_scorer_version

    def current(self, sentiment: "Table") -> "ColumnElement[bool]":
        """A sentiment row written by these scorers: scored by one, or not scored by any."""
        from sqlalchemy import and_, or_

        scored = [
            and_(sentiment.c.scorer == s.name, sentiment.c.scorer_version == s.version)
            for s in self.scorers
        ]
        return or_(
            and_(sentiment.c.state == "scored", or_(*scored)),
            and_(
                sentiment.c.scorer == NO_SCORER,
                sentiment.c.scorer_version == self.no_scorer_version,
            ),
        )


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

    scorer: str  # the scorers' names, "textblob, textblob-fr, textblob-de"
    scorer_version: str  # their versions, in the same order
    scorers: dict[str, str] = field(default_factory=dict)  # language -> "name version"
    scored: int = 0
    scored_by_language: Counter[str] = field(default_factory=Counter)
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


_worker_scorers: Scorers | None = None


def _init_worker(scorers: Scorers) -> None:
    """Process-pool initializer: build the detector and keep the scorers once per worker."""
    global _worker_scorers
    _worker_scorers = scorers
    _guesser()


def _pool_context(scorers: Scorers) -> BaseContext:
    """Fork where possible, with the detector and lexicons loaded first: workers share them."""
    # Lingua loads a few hundred MB of models in 1-3 s; forked workers inherit them
    # copy-on-write instead of loading them again. The workers only compute (no logging, no
    # database), so the usual hazards of forking a threaded parent do not reach them.
    if "fork" in get_all_start_methods():
        _guesser().warm_up()
        for scorer in scorers.scorers:
            scorer.score(["warm up"])  # each lexicon loads on its first text
        return get_context("fork")
    return get_context("spawn")


def analyse(items: Sequence[tuple[str, str | None]], scorers: Scorers) -> list[Outcome]:
    """Language and score of each (text, platform tag); the CPU-bound part of a batch."""
    guesser = _guesser()
    outcomes: list[Outcome | None] = []
    # Per scorer, the texts it scores and where their outcomes go.
    to_score: dict[str, tuple[list[int], list[str]]] = {s.name: ([], []) for s in scorers.scorers}
    for text, tag in items:
        plain = plain_text(text)
        # Emoji, numbers and punctuation alone are not a text a lexicon can read.
        if not any(map(str.isalpha, plain)):
            outcomes.append(Outcome(normalise_tag(tag), "not_scored", NO_TEXT))
            continue
        language = guesser.guess(plain, normalise_tag(tag))
        if language is None:
            outcomes.append(Outcome(None, "not_scored", UNKNOWN_LANGUAGE))
        elif language not in scorers.by_language:
            outcomes.append(Outcome(language, "not_scored", f"language {language}"))
        else:
            indices, words = to_score[scorers.by_language[language].name]
            indices.append(len(outcomes))
            words.append(plain)
            outcomes.append(Outcome(language, "scored"))
    for scorer in scorers.scorers:
        indices, words = to_score[scorer.name]
        if not words:
            continue
        for index, score in zip(indices, scorer.score(words), strict=True):
            language = outcomes[index].language  # type: ignore[union-attr]
            outcomes[index] = Outcome(language, "scored", None, score.polarity, score.subjectivity)
    return outcomes  # type: ignore[return-value]


def _analyse_in_worker(items: Sequence[tuple[str, str | None]]) -> list[Outcome]:
    assert _worker_scorers is not None, "worker not initialised"
    return analyse(items, _worker_scorers)


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


def _pending(
    table: "Table", sentiment: "Table", scorers: Scorers, rescore_before: dt.datetime | None
) -> "ColumnElement[bool]":
    """A text of the table still to score: no row of it by the scorers of this run.

    Per language: a text scored by an older version of its language's scorer (or not scored by
    an older set of scorers) has no current row, so a new French version rescores French texts
    only.
    """
    from sqlalchemy import and_, exists, select

    current = select(sentiment.c.id).where(
        sentiment.c.text_hash == table.c.text_hash, scorers.current(sentiment)
    )
    if rescore_before is not None:
        # Rows this run already rewrote are newer than its start: each text is rescored once.
        current = current.where(sentiment.c.scored_at >= rescore_before)
    return and_(table.c.text.is_not(None), ~exists(current))


def _count(
    connection: "Connection",
    tables: Sequence["Table"],
    sentiment: "Table",
    scorers: Scorers,
    rescore_before: dt.datetime | None,
    pending: bool,
) -> int:
    from sqlalchemy import func, not_, select

    total = 0
    for table in tables:
        condition = _pending(table, sentiment, scorers, rescore_before)
        if not pending:
            condition = table.c.text.is_not(None) & not_(condition)
        total += connection.execute(
            select(func.count()).select_from(table).where(condition)
        ).scalar_one()
    return total


def _read_batches(
    connection: "Connection",
    tables: Sequence["Table"],
    sentiment: "Table",
    scorers: Scorers,
    rescore_before: dt.datetime | None,
    batch_size: int,
    in_flight: set[str],
) -> Iterator[_Batch]:
    """Pending texts, `batch_size` rows at a time, by keyset on the id (bounded memory)."""
    from sqlalchemy import select

    for table in tables:
        condition = _pending(table, sentiment, scorers, rescore_before)
        last_id = 0
        while True:
            query = (
                select(table.c.id, table.c.text, table.c.text_hash, table.c.language)
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
    scorers: Scorers,
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
            "text_hash": digest, "scorer": scorer, "scorer_version": version,
            "language": o.language, "state": o.state, "reason": o.reason,
            "polarity": o.polarity, "subjectivity": o.subjectivity, "scored_at": now,
        }
        for digest, o in zip(batch.hashes, outcomes, strict=True)
        for scorer, version in [scorers.key(o)]
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
            summary.scored_by_language[o.language or ""] += 1
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
    scorers: Iterable[Scorer] | None = None,
) -> ScoreSummary:
    """Score every post and reply text its language's scorer version has not scored yet.

    `rescore` scores every text again. `scorers` defaults to `default_scorers()`.
    `workers=None` uses every core when the backlog exceeds POOL_THRESHOLD texts and stays in
    this process otherwise; an explicit `workers` is used as given.
    """
    import models
    from reach.db import get_engine

    started = time.perf_counter()
    chosen = Scorers(default_scorers() if scorers is None else scorers)
    summary = ScoreSummary(
        ", ".join(s.name for s in chosen.scorers),
        ", ".join(s.version for s in chosen.scorers),
        {lang: f"{s.name} {s.version}" for lang, s in sorted(chosen.by_language.items())},
    )
    metadata = models.Sentiment.metadata.tables  # a table model's Table, typed
    sentiment = metadata["sentiment"]
    tables = {name: metadata[name] for name in ("post", "reply")}
    rescore_before = dt.datetime.now(dt.UTC) if rescore else None

    with get_engine(database_url).connect() as connection:
        if not rescore:
            summary.already_scored = _count(
                connection, list(tables.values()), sentiment, chosen, None, pending=False
            )
        if workers is None:
            backlog = _count(
                connection, list(tables.values()), sentiment, chosen, rescore_before, pending=True
            )
            workers = (os.cpu_count() or 1) if backlog > POOL_THRESHOLD else 1
        connection.commit()
        summary.workers = max(1, workers)

        in_flight: set[str] = set()
        batches = _read_batches(
            connection,
            list(tables.values()),
            sentiment,
            chosen,
            rescore_before,
            batch_size,
            in_flight,
        )

        def write(batch: _Batch, outcomes: list[Outcome]) -> None:
            _write(connection, tables, sentiment, chosen, batch, outcomes, summary)
            summary.texts_read += len(batch.rows)
            in_flight.difference_update(batch.hashes)

        if summary.workers == 1:
            for batch in batches:
                write(batch, analyse(batch.items, chosen))
        else:
            # The parent reads and writes (one writer: no SQLite lock contention) while the
            # workers detect and score; a few batches ahead keep both cores busy.
            queue: deque[tuple[_Batch, Future[list[Outcome]]]] = deque()
            with ProcessPoolExecutor(
                summary.workers, mp_context=_pool_context(chosen),
                initializer=_init_worker, initargs=(chosen,),
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


def scored_by_language(
    session: "Session", scorers: Iterable[Scorer] | None = None
) -> dict[str, int]:
    """Distinct texts scored by the current scorer of each language, e.g. {"en": 812, "fr": 95}."""
    from sqlalchemy import func, select

    import models

    current = Scorers(default_scorers() if scorers is None else scorers)
    sentiment = models.Sentiment.metadata.tables["sentiment"]
    rows = session.execute(
        select(sentiment.c.language, func.count(func.distinct(sentiment.c.text_hash)))
        .where(sentiment.c.state == "scored", current.current(sentiment))
        .group_by(sentiment.c.language)
        .order_by(sentiment.c.language)
    ).all()
    return {language: n for language, n in rows}
