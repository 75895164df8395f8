"""``extractive``: the offline provider. No model, no key, no network.

It answers only by quoting the retrieved passages: each passage is split into
sentences, sentences are scored against the question (BM25 weights over
stemmed, stop-word-free terms), the best few are stitched into a short answer
in the persona's voice with ``[n]`` citations (``n`` = 1-based position in
``request.passages``). When no sentence covers enough of the question it says
so (:data:`NO_MATERIAL_MARKER`) instead of guessing.

Passages are material, never instructions: sentences that read like prompt
injection ("ignore your rules", "system prompt") are never quoted, and nothing
in a passage changes what this provider does.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from bwenge.contracts.knowledge import RetrievedChunk
from bwenge.contracts.llm import ChatMessage, LLMRequest
from bwenge.contracts.personas import Persona

#: Every "no material" answer contains this phrase (engines may test for it).
NO_MATERIAL_MARKER = "I don't have material on that"

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
something anything more
""".split()
)

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
# A sentence ends at . ! ? (plus closing quotes/brackets) before whitespace and
# an upper-case letter, digit or opening quote; line breaks always end one.
_SENTENCE_END = re.compile(
    r"(?:(?<=[.!?])|(?<=[.!?][\"')\]]))\s+(?=[\"'(\[]?[A-Z0-9\u00C0-\u024F])|\n\s*\n|\n(?=\s*[-*•\d])"
)
_BULLET = re.compile(r"^\s*(?:[-*•]+|\d+[.)])\s+")
_CITATION_LIKE = re.compile(r"\[\d+\]")
# Sentences that address an AI rather than inform a reader. Never quoted.
_INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass)\b[^.!?]{0,60}?"
    r"\b(?:instructions?|rules?|prompts?|guidelines?|polic(?:y|ies)|previous|above|safety)\b"
    r"|\bsystem\s+prompt\b|\byou\s+are\s+now\b|\bjailbreak|\bdeveloper\s+mode\b"
    r"|\breveal\b[^.!?]{0,40}\b(?:prompt|instructions?|rules?|secrets?)\b",
    re.IGNORECASE,
)
_GREETING_ONLY = re.compile(
    r"^\s*(?:hi|hello|hey|hiya|howdy|greetings|good\s+(?:morning|afternoon|evening)|"
    r"thanks?|thank\s+you|cheers)\b[\s!.,]*(?:there|again|a\s+lot|so\s+much)?[\s!.,]*$",
    re.IGNORECASE,
)
_THANKS = re.compile(r"^\s*(?:thanks?|thank\s+you|cheers)", re.IGNORECASE)
# "what did I ask before?", "what was my first question?", "what did you say earlier?"
_ABOUT_HISTORY = re.compile(
    r"\b(?:what|which)\b.{0,40}?\b(?:did\s+i|have\s+i|i)\s+(?:just\s+)?(?:ask|asked|say|said|want)\b"
    r"|\b(?:my|the)\s+(?:last|previous|earlier|first|prior|other)\s+(?:question|message)\b"
    r"|\bwhat\s+did\s+(?:you|we)\s+(?:just\s+)?(?:say|said|answer|tell|talk|discuss)"
    r"|\bwhat\s+(?:were|was)\s+we\s+(?:talking|discussing)",
    re.IGNORECASE,
)
_ABOUT_OWN_ANSWER = re.compile(
    r"\bwhat\s+did\s+you\s+(?:just\s+)?(?:say|said|answer|tell)", re.IGNORECASE
)
_CONTINUES = re.compile(r"(?:it|its|this|these|they|their|that|such|those)\b", re.IGNORECASE)
_FIRST = re.compile(r"\bfirst\b", re.IGNORECASE)

_CASUAL = (
    "casual",
    "friendly",
    "warm",
    "playful",
    "informal",
    "enthusiastic",
    "relaxed",
    "fun",
    "cheerful",
    "chatty",
    "upbeat",
    "encouraging",
    "supportive",
    "kind",
)
_FORMAL = ("formal", "professional", "academic", "serious", "business", "courteous", "reserved")
_TONE_KEYS = ("style", "formality", "voice", "register", "personality", "mood", "tone", "manner")


class ExtractiveOptions(BaseModel):
    """``llm.providers.extractive``."""

    model_config = ConfigDict(extra="forbid")

    max_sentences: int = Field(3, ge=1, le=10, description="Sentences quoted in one answer.")
    min_relevance: float = Field(
        0.45,
        ge=0.0,
        le=1.0,
        description="Share of the question's weighted terms a sentence must contain to be quoted.",
    )
    max_chars: int = Field(800, ge=80, le=20_000, description="Upper bound on the answer's length.")
    word_delay: float = Field(0.0, ge=0.0, le=1.0, description="Pause between streamed words (s).")
    language: str = Field("english", description="Snowball stemmer language.")


@dataclass(frozen=True)
class Voice:
    """How the persona speaks, derived from ``persona.tone``."""

    register: str  # "casual" | "formal" | "neutral"
    greeting: str
    closing: str


def persona_voice(persona: Persona) -> Voice:
    """Read the persona's tone settings (``style``/``formality``/..., optional
    ``greeting`` and ``sign_off``) into a :class:`Voice`."""
    tone = persona.tone or {}

    def register_of(text: str) -> str | None:
        words = set(re.findall(r"[a-z]+", text.lower()))
        casual, formal = bool(words & set(_CASUAL)), bool(words & set(_FORMAL))
        return "casual" if casual and not formal else "formal" if formal and not casual else None

    # An explicit formality wins over style words ("friendly" but "formal" is formal).
    register = (
        register_of(str(tone.get("formality", "")))
        or register_of(" ".join(str(tone.get(k, "")) for k in _TONE_KEYS))
        or "neutral"
    )
    greeting = tone.get("greeting")
    if not isinstance(greeting, str) or not greeting.strip():
        greeting = {"casual": "Hi there!", "formal": "Good day.", "neutral": "Hello."}[register]
    closing = tone.get("sign_off") or tone.get("closing") or ""
    return Voice(register, greeting.strip(), closing.strip() if isinstance(closing, str) else "")


@lru_cache(maxsize=8)
def _stemmer(language: str):
    import snowballstemmer  # lazy: only the extractive provider needs it

    return snowballstemmer.stemmer(language)


@lru_cache(maxsize=100_000)
def _stem(word: str, language: str) -> str:
    # Vocabularies are small and stemming is the extractive answer's main cost.
    return _stemmer(language).stemWord(word)


def terms(text: str, language: str = "english") -> list[str]:
    """Stemmed content words of ``text`` (lower-cased, stop words dropped)."""
    words = [w for w in _WORD.findall(text.lower().replace("\u2019", "'")) if w not in STOPWORDS]
    words = [w for w in words if len(w) > 1 or w.isdigit()]
    return [_stem(w, language) for w in words]


def question_terms(question: str, language: str = "english") -> list[str]:
    """:func:`terms` of a question, without the words that only frame it."""
    kept = " ".join(w for w in _WORD.findall(question.lower()) if w not in QUESTION_FRAME)
    return terms(kept, language)


def split_sentences(text: str) -> list[str]:
    """Sentences (and bullet/heading lines) of a passage, whitespace-normalised."""
    out = []
    for raw in _SENTENCE_END.split(text):
        sentence = " ".join(_BULLET.sub("", raw or "").split())
        if sentence:
            out.append(sentence)
    return out


@dataclass
class _Candidate:
    passage: int  # index into request.passages
    position: int  # sentence index inside the passage
    text: str
    terms: Counter
    coverage: float = 0.0
    rank: float = 0.0


def select_sentences(
    question: str,
    passages: list[RetrievedChunk],
    *,
    max_sentences: int = 3,
    min_relevance: float = 0.45,
    extra_terms: list[str] = (),
    language: str = "english",
) -> list[_Candidate]:
    """The sentences that best answer ``question``, most relevant passage first.

    ``coverage`` is the IDF-weighted share of the question's terms a sentence
    contains; sentences below ``min_relevance`` are never returned.
    ``extra_terms`` (e.g. the previous question's, for follow-ups) count half.
    """
    query = Counter(question_terms(question, language))
    if not query:  # a bare follow-up ("tell me more"): the previous question's terms
        query = Counter(extra_terms)
    for t in extra_terms:
        query.setdefault(t, 0)
    if not query or not passages:
        return []
    candidates: list[_Candidate] = []
    for p_index, passage in enumerate(passages):
        for s_index, sentence in enumerate(split_sentences(passage.text)):
            if len(sentence.split()) < 4 or _INJECTION.search(sentence):
                continue
            candidates.append(
                _Candidate(p_index, s_index, sentence, Counter(terms(sentence, language)))
            )
    if not candidates:
        return []

    n = len(candidates)
    df = Counter(t for c in candidates for t in c.terms)
    avg_len = sum(sum(c.terms.values()) for c in candidates) / n or 1.0

    def idf(term: str) -> float:
        return math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))

    # +1 keeps a term that appears in every retrieved sentence from weighing nothing.
    weight = {t: (1.0 + idf(t)) * (1.0 if query[t] else 0.5) for t in query}
    total = sum(w for t, w in weight.items() if query[t]) or 1.0
    k1, b = 1.2, 0.75
    for c in candidates:
        length = sum(c.terms.values())
        bm25 = 0.0
        covered = 0.0
        for t, w in weight.items():
            tf = c.terms.get(t, 0)
            if not tf:
                continue
            bm25 += w * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg_len))
            if query[t]:
                covered += w
        c.coverage = covered / total
        score = passages[c.passage].score
        prior = min(max(score, 0.0), 1.0) if isinstance(score, int | float) else 0.0
        c.rank = c.coverage + 0.05 * bm25 + 0.1 * prior

    relevant = [c for c in candidates if c.coverage >= min_relevance and c.coverage > 0]
    relevant.sort(key=lambda c: c.rank, reverse=True)
    chosen: list[_Candidate] = []
    for c in relevant:
        if len(chosen) == max_sentences:
            break
        if chosen and c.rank < 0.5 * chosen[0].rank:
            break
        if any(_similar(c.terms, o.terms) for o in chosen):
            continue
        chosen.append(c)
    # A sentence that continues a chosen one ("It is stored in ...") says more about
    # the same subject: quote it too while there is room.
    by_place = {(c.passage, c.position): c for c in candidates}
    for c in list(chosen):
        follower = by_place.get((c.passage, c.position + 1))
        if (
            len(chosen) < max_sentences
            and follower is not None
            and follower not in chosen
            and _CONTINUES.match(follower.text)
        ):
            chosen.append(follower)
    # Reading order: passages by their best sentence, sentences as written.
    first_seen = {}
    for i, c in enumerate(chosen):
        first_seen.setdefault(c.passage, i)
    chosen.sort(key=lambda c: (first_seen[c.passage], c.position))
    return chosen


def _similar(a: Counter, b: Counter) -> bool:
    sa, sb = set(a), set(b)
    return bool(sa and sb) and len(sa & sb) / len(sa | sb) > 0.8


def _cite(sentence: str, number: int) -> str:
    sentence = _CITATION_LIKE.sub("", sentence).rstrip()
    match = re.search(r"[.!?]+[\"')\]]*$", sentence)
    if match:
        return f"{sentence[: match.start()].rstrip()} [{number}]{sentence[match.start() :]}"
    return f"{sentence} [{number}]."


def _trim(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


class ExtractiveProvider:
    """Answers by quoting the most relevant retrieved sentences, with citations."""

    name: ClassVar[str] = "extractive"
    Options: ClassVar[type[BaseModel]] = ExtractiveOptions

    def __init__(self, options: ExtractiveOptions | None = None) -> None:
        self.options = options or ExtractiveOptions()

    def answer(self, request: LLMRequest) -> str:
        """The whole answer at once (what :meth:`stream` streams)."""
        voice = persona_voice(request.persona)
        history = _earlier_turns(request)
        greeting = "" if history else voice.greeting + " "
        question = request.question.strip()
        limit = (
            min(self.options.max_chars, request.max_tokens * 4)
            if request.max_tokens
            else (self.options.max_chars)
        )

        if _GREETING_ONLY.match(question):
            if _THANKS.match(question):
                reply = {
                    "casual": "You're welcome! Anything else you'd like to know?",
                    "formal": "You are welcome. Is there anything else I can help you with?",
                    "neutral": "You're welcome. Anything else?",
                }[voice.register]
            else:
                reply = f"{voice.greeting} I'm {request.persona.name}. What would you like to know?"
            return _trim(reply, limit)

        if _ABOUT_HISTORY.search(question):
            recalled = self._recall(question, history, voice)
            if recalled:
                return _trim(greeting + recalled, limit)

        previous = [m.content for m in history if m.role == "user"]
        extra = (
            question_terms(previous[-1], self.options.language)
            if previous and len(question_terms(question, self.options.language)) <= 2
            else []
        )
        chosen = select_sentences(
            question,
            request.passages,
            max_sentences=self.options.max_sentences,
            min_relevance=self.options.min_relevance,
            extra_terms=extra,
            language=self.options.language,
        )
        if not chosen:
            return greeting + no_material(request.persona)  # never cut: engines look for it

        lead = {
            "casual": "Here's what my material says:",
            "formal": "According to my sources:",
            "neutral": "From my material:",
        }[voice.register]
        tail = {"casual": " Hope that helps!", "formal": "", "neutral": ""}[voice.register]
        closing = f" {voice.closing}" if voice.closing else ""
        # Whole sentences while they fit; only a first sentence too long alone is cut.
        room = max(limit - len(greeting) - len(lead) - len(tail) - len(closing) - 1, 40)
        quoted: list[str] = []
        for c in chosen:
            cited = _cite(c.text, c.passage + 1)
            if quoted and len(" ".join([*quoted, cited])) > room:
                break
            quoted.append(cited)
        body = _trim(" ".join(quoted), room)
        return f"{greeting}{lead} {body}{tail}{closing}"

    def _recall(self, question: str, history: list[ChatMessage], voice: Voice) -> str | None:
        if _ABOUT_OWN_ANSWER.search(question):
            said = [m.content for m in history if m.role == "assistant"]
            if said:
                return f"Earlier I said: \u201c{_trim(said[-1], 300)}\u201d"
        asked = [m.content for m in history if m.role == "user"]
        if not asked:
            return (
                "This is the first question you've asked me in this conversation."
                if voice.register != "formal"
                else "This is the first question in our conversation."
            )
        which = asked[0] if _FIRST.search(question) else asked[-1]
        return f"You asked: \u201c{_trim(which, 300)}\u201d"

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        """Yield the answer word by word (each chunk keeps its leading space)."""
        text = self.answer(request)
        delay = self.options.word_delay
        for piece in re.findall(r"\s*\S+", text):
            yield piece
            # Yield control so a slow consumer or a cancellation is noticed between words.
            await asyncio.sleep(delay)


def no_material(persona: Persona) -> str:
    """The honest answer when nothing relevant was retrieved."""
    return f"I'm {persona.name}, and {NO_MATERIAL_MARKER} in my sources, so I won't guess."


def _earlier_turns(request: LLMRequest) -> list[ChatMessage]:
    history = list(request.history)
    # Engines may or may not include the current question as the last turn.
    if (
        history
        and history[-1].role == "user"
        and history[-1].content.strip() == request.question.strip()
    ):
        history.pop()
    return history
