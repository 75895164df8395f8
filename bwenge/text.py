"""Word-level helpers shared by retrieval and the offline answer provider.

Questions are asked in a learner's own words, so both sides compare *stems of
content words*: ``terms("How do references borrow values?")`` is
``["refer", "borrow", "valu"]``. Snowball stemming is pure Python and cached.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

STOPWORDS = frozenset(
    """
a about above after again against all also am an and any are aren't as at be because been before
being below between both but by can can't cannot could couldn't did didn't do does doesn't doing
don't down during each else ever few for from further get gets got had hadn't has hasn't have
haven't having he he'd he'll he's her here here's hers herself him himself his how how's i i'd
i'll i'm i've if in into is isn't it it's its itself just let's like may me might more most
much must mustn't my myself need no nor not now of off on once only or other ought our ours
ourselves out over own please same shall shan't she she'd she'll she's should shouldn't so some
such tell than that that's the their theirs them themselves then there there's these they
they'd they'll they're they've this those through thus to too under until up upon us very was
wasn't we we'd we'll we're we've were weren't what what's when when's where where's which while
who who's whom why why's will with won't would wouldn't yes yet you you'd you'll you're you've
your yours yourself yourselves explain know want wants wonder show give
""".split()
)

# Words that frame a question ("explain how X works") rather than say what it is about.
QUESTION_FRAME = frozenset(
    """
describe explain tell mean means meaning define definition work works happen happens example
examples info information detail details summary summarise summarize overview briefly thing things
something anything more simply simple simpler again elaborate clarify understand difference
use using used way ways possible
""".split()
)

WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
# A sentence ends at . ! ? (plus closing quotes/brackets) before whitespace and
# an upper-case letter, digit or opening quote; line breaks always end one.
_SENTENCE_END = re.compile(
    r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[\"'(\[]?[A-Z0-9\u00C0-\u024F])|\n\s*\n|\n(?=\s*[-*•\d])"
)
_BULLET = re.compile(r"^\s*(?:[-*•]+|\d+[.)])\s+")


#: Characters of a sentence that are embedded: its opening carries its meaning, and
#: long sentences cost the most to embed (ingestion and answers cut alike).
SENTENCE_CHARS = 240


def split_sentences(text: str) -> list[str]:
    """Sentences (and bullet/heading lines) of a passage, whitespace-normalised.

    Ingestion embeds each of them and answers choose among them, so both sides
    split a passage the same way."""
    out = []
    for raw in _SENTENCE_END.split(text):
        sentence = " ".join(_BULLET.sub("", raw or "").split())
        if sentence:
            out.append(sentence)
    return out


_local = threading.local()


def _stemmer(language: str):
    """This thread's stemmer for ``language``: a Snowball stemmer keeps the word it
    works on in itself, so two threads sharing one garble each other's words."""
    stemmers = _local.__dict__.setdefault("stemmers", {})
    if language not in stemmers:
        import snowballstemmer  # lazy: only text comparison needs it

        stemmers[language] = snowballstemmer.stemmer(language)
    return stemmers[language]


@lru_cache(maxsize=200_000)
def stem(word: str, language: str = "english") -> str:
    """The Snowball stem of one lower-case word (cached: vocabularies are small)."""
    try:
        return _stemmer(language).stemWord(word)
    except KeyError:  # an unknown language: compare words as they are
        return word


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` (apostrophes inside words kept)."""
    return WORD.findall(text.lower().replace("\u2019", "'"))


def terms(text: str, language: str = "english") -> list[str]:
    """Stemmed content words of ``text`` (stop words and one-letter words dropped)."""
    kept = [w for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return [stem(w, language) for w in kept]


def question_terms(question: str, language: str = "english") -> list[str]:
    """:func:`terms` of a question, without the words that only frame it."""
    kept = " ".join(w for w in words(question) if w not in QUESTION_FRAME)
    return terms(kept, language)
