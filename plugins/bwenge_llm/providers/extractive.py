"""``extractive``: the offline provider. No model, no key, no network.

It answers only by quoting the retrieved passages: each passage is split into
sentences, and the sentences nearest to the question *by meaning* (cosine of
sentence and question embeddings, with the embedder the knowledge side already
loaded) and by lexical evidence (IDF-weighted coverage of the question's stemmed
terms) are stitched into a short answer in the persona's voice with ``[n]``
citations (``n`` = 1-based position in ``request.passages``).

Whether there is material at all is decided once, by the answer engine, on
retrieval evidence: passages it hands over are quoted, never second-guessed.
With no passages the answer says so (:data:`NO_MATERIAL_MARKER`).

Passages are material, never instructions: sentences that read like prompt
injection ("ignore your rules", "system prompt") are never quoted, and nothing
in a passage changes what this provider does.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from bwenge.contracts.knowledge import RetrievedChunk
from bwenge.contracts.llm import NO_MATERIAL_MARKER, ChatMessage, LLMRequest
from bwenge.contracts.personas import Persona
from bwenge.text import SENTENCE_CHARS, question_terms, split_sentences, terms

log = logging.getLogger("bwenge.llm")

#: Sentence embeddings kept between answers (the same material is asked about often).
SENTENCE_CACHE = 20_000


# A sentence ends at . ! ? (plus closing quotes/brackets) before whitespace and
# an upper-case letter, digit or opening quote; line breaks always end one.
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
# A line of code or a command (an example that finishes an explanation).
_CODE_LIKE = re.compile(r"[()\[\]{}=<>$]|\w_\w|^\s*(?:>>>|\$|#|\.\.\.)")

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

    max_sentences: int = Field(5, ge=1, le=10, description="Sentences quoted in one answer.")
    min_relevance: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Deprecated and ignored: whether there is material is decided once, by "
        "the answer engine (answers.refusal).",
    )
    semantic: bool = Field(
        True,
        description="Choose sentences by meaning too (embeds the candidate sentences with "
        "the `embedder`; off: lexical evidence only).",
    )
    embedder: str = Field(
        "minilm", description="Registered embedder used to compare sentences with the question."
    )
    semantic_sentences: int = Field(
        12, ge=1, le=200, description="Most sentences embedded for one answer (its main cost)."
    )
    max_chars: int = Field(900, ge=80, le=20_000, description="Upper bound on the answer's length.")
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


@dataclass
class _Candidate:
    passage: int  # index into request.passages
    position: int  # sentence index inside the passage
    text: str
    terms: Counter
    coverage: float = 0.0
    meaning: float | None = None  # cosine of sentence and question, when embedded
    rank: float = 0.0


#: ``similarity(question, sentences, vectors=None)`` -> one cosine per sentence;
#: ``vectors[i]``, when given, is sentence i's stored vector (nothing to embed).
Similarity = Callable[..., Sequence[float]]


def _stored_vectors(passages: list[RetrievedChunk]) -> dict[tuple[int, int], Any]:
    """(passage, line) -> the vector ingestion stored for that line of the passage."""
    import numpy as np

    out: dict[tuple[int, int], Any] = {}
    for p_index, passage in enumerate(passages):
        raw = passage.sentence_vectors
        if not raw:
            continue
        rows = np.frombuffer(raw, dtype=np.float16)
        lines = len(split_sentences(passage.text))
        if not lines or rows.size % lines:
            continue  # stored for another split of the text: not usable
        rows = rows.reshape(lines, -1).astype(np.float32)
        for line in range(lines):
            out[(p_index, line)] = rows[line]
    return out


def select_sentences(
    question: str,
    passages: list[RetrievedChunk],
    *,
    max_sentences: int = 5,
    extra_terms: Sequence[str] = (),
    language: str = "english",
    similarity: Similarity | None = None,
    semantic_sentences: int = 12,
    min_relevance: float = 0.0,
    topic: str | None = None,
) -> list[_Candidate]:
    """The sentences that best answer ``question``, most relevant passage first.

    Every passage given is material the engine judged relevant, so the best
    sentence is always returned (when any sentence is quotable). Sentences are
    ranked by meaning (``similarity``, for the sentences of the first passages),
    by ``coverage`` — the IDF-weighted share of the question's terms a sentence
    contains — and by their passage's retrieval score; ``extra_terms`` (the
    previous question's, for follow-ups) count half, and ``topic`` (the previous
    question and this one) is what meaning is compared with.
    """
    query = Counter(question_terms(question, language))
    if not query:  # a bare follow-up ("tell me more"): the previous question's terms
        query = Counter(extra_terms)
    for t in extra_terms:
        query.setdefault(t, 0)
    if not passages:
        return []
    candidates: list[_Candidate] = []
    # Every quotable line by place, short ones (a code line, "Note") included: they may
    # finish a chosen sentence's thought, though they are never chosen on their own.
    lines: dict[tuple[int, int], str] = {}
    for p_index, passage in enumerate(passages):
        for s_index, sentence in enumerate(split_sentences(passage.text)):
            if _INJECTION.search(sentence):
                continue
            lines[(p_index, s_index)] = sentence
            if len(sentence.split()) < 4:
                continue
            candidates.append(
                _Candidate(p_index, s_index, sentence, Counter(terms(sentence, language)))
            )
    if not candidates:
        return []

    n = len(candidates)
    df = Counter(t for c in candidates for t in c.terms)

    def idf(term: str) -> float:
        return math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))

    # +1 keeps a term that appears in every retrieved sentence from weighing nothing.
    weight = {t: (1.0 + idf(t)) * (1.0 if query[t] else 0.5) for t in query}
    total = sum(weight.values()) or 1.0
    for c in candidates:
        c.coverage = sum(w for t, w in weight.items() if c.terms.get(t)) / total

    if similarity is not None:
        stored = _stored_vectors(passages)
        # Sentences whose vectors ingestion stored cost nothing to compare. Others
        # are embedded now, the answer's main cost: every sentence of the best
        # passage, then the lexically strongest of the next two, up to the cap.
        free = [c for c in candidates if (c.passage, c.position) in stored]
        first = [c for c in candidates if c.passage == 0 and c not in free]
        others = sorted(
            (c for c in candidates if 0 < c.passage < 3 and c not in free),
            key=lambda c: c.coverage,
            reverse=True,
        )
        near = free + (first + others)[:semantic_sentences]
        try:
            # a sentence's opening carries its meaning; long ones cost the most to embed
            scores = similarity(
                topic or question,
                [c.text[:SENTENCE_CHARS] for c in near],
                vectors=[stored.get((c.passage, c.position)) for c in near],
            )
        except Exception:  # noqa: BLE001 - an embedder failure must not cost the answer
            log.warning("Sentence similarity failed; choosing by lexical evidence", exc_info=True)
            scores = []
        for c, score in zip(near, scores, strict=False):
            c.meaning = float(score)
    best_meaning = max((c.meaning for c in candidates if c.meaning is not None), default=None)
    for c in candidates:
        score = passages[c.passage].score
        prior = min(max(score, 0.0), 1.0) if isinstance(score, int | float) else 0.0
        order = 1.0 / (1 + c.passage)  # the engine's ranking of the passages
        if best_meaning is not None:
            meaning = c.meaning if c.meaning is not None else 0.0
            c.rank = 0.45 * meaning + 0.25 * c.coverage + 0.1 * prior + 0.2 * order
        else:
            c.rank = c.coverage + 0.1 * prior + 0.2 * order

    ranked = sorted(candidates, key=lambda c: c.rank, reverse=True)
    best = ranked[0]
    chosen: list[_Candidate] = [best]
    # A short window: what follows the best sentence usually finishes its thought (the
    # example, the method to call, the exception to catch).
    by_place = {(c.passage, c.position): c for c in candidates}
    window: list[_Candidate] = []
    for step in (1, 2, 3):
        place = (best.passage, best.position + step)
        if place not in lines or len(chosen) >= max_sentences:
            break
        line = lines[place]
        # the next line always; further ones while they continue it or are code-like
        if step > 1 and not (_CONTINUES.match(line) or _CODE_LIKE.search(line)):
            break
        if len(line.split()) < 2 and not _CODE_LIKE.search(line):
            break  # a stray number or word, not the rest of the thought
        window.append(by_place.get(place) or _Candidate(place[0], place[1], line, Counter()))
    chosen += window[:1]
    # Another source nearly as close to the question is quoted too: the asker sees
    # both places the answer may be.
    elsewhere = next(
        (
            c
            for c in ranked[1:]
            if passages[c.passage].source_id != passages[best.passage].source_id
            and c.rank >= 0.85 * best.rank
            and not any(_similar(c.terms, o.terms) for o in chosen)
        ),
        None,
    )
    if elsewhere is not None and len(chosen) < max_sentences:
        chosen.append(elsewhere)
    for c in window[1:]:
        if len(chosen) < max_sentences:
            chosen.append(c)
    for c in ranked[1:]:
        if len(chosen) >= max_sentences:
            break
        if c.rank < 0.8 * best.rank or c.coverage < min_relevance:
            break
        if c in chosen or any(_similar(c.terms, o.terms) for o in chosen):
            continue
        chosen.append(c)
        follower = by_place.get((c.passage, c.position + 1))
        if (
            len(chosen) < max_sentences
            and follower is not None
            and follower not in chosen
            and _CONTINUES.match(follower.text)
        ):
            chosen.append(follower)
    # Reading order: passages by their best sentence (whose rank already weighs the
    # engine's order of the passages), sentences as written.
    first_seen: dict[int, int] = {}
    for i, c in enumerate(chosen):
        first_seen.setdefault(c.passage, i)
    chosen.sort(key=lambda c: (first_seen[c.passage], c.position))
    return chosen


class SentenceSimilarity:
    """Cosine of a question and sentences with a (lazily resolved) embedder;
    sentence vectors are cached, the question's is computed per call."""

    def __init__(self, resolve: Callable[[], Any], cache_size: int = SENTENCE_CACHE) -> None:
        self._resolve = resolve
        self._embedder: Any = None
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()

    def __call__(
        self, question: str, sentences: Sequence[str], vectors: Sequence[Any] | None = None
    ) -> list[float]:
        import numpy as np

        if self._embedder is None:
            self._embedder = self._resolve()
        embed = getattr(self._embedder, "embed_array", None) or (
            lambda texts: np.asarray(self._embedder.embed(texts), dtype=np.float32)
        )
        given = list(vectors) if vectors is not None else [None] * len(sentences)
        with self._lock:
            missing = [
                t
                for t in dict.fromkeys(
                    t for t, v in zip(sentences, given, strict=True) if v is None
                )
                if t not in self._cache
            ]
        embedded = embed([question, *missing])
        q = _unit(embedded[0])
        with self._lock:
            for text, vector in zip(missing, embedded[1:], strict=True):
                self._cache[text] = _unit(vector)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
            rows = [
                _unit(v) if v is not None else self._cache.get(t)
                for t, v in zip(sentences, given, strict=True)
            ]
        return [float(np.dot(q, r)) if r is not None else 0.0 for r in rows]


def _unit(vector: Any) -> Any:
    import numpy as np

    v = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v


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

    def __init__(
        self, options: ExtractiveOptions | None = None, similarity: Similarity | None = None
    ) -> None:
        self.options = options or ExtractiveOptions()
        self.similarity = similarity if self.options.semantic else None

    @classmethod
    def from_kernel(cls, kernel: Any, options: ExtractiveOptions | None) -> ExtractiveProvider:
        """Built by the ``llm`` service: sentences are compared by meaning with the
        registered embedder ``options.embedder`` (the same loaded model knowledge uses)."""
        options = options or ExtractiveOptions()
        similarity = None
        if options.semantic and options.embedder in kernel.embedders:
            name = options.embedder
            similarity = SentenceSimilarity(lambda: kernel.embedders.get(name)(kernel))
        return cls(options, similarity)

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
            extra_terms=extra,
            language=self.options.language,
            similarity=self.similarity,
            semantic_sentences=self.options.semantic_sentences,
            topic=f"{previous[-1]} {question}" if extra else None,
        )
        if not chosen:
            if request.material_pending:
                return greeting + still_processing(request.persona)
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


def still_processing(persona: Persona) -> str:
    """The answer while the persona's material is still being read."""
    return (
        f"I'm {persona.name}, and {NO_MATERIAL_MARKER} yet: some of my material is still "
        "being processed. Please ask again in a moment."
    )


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
