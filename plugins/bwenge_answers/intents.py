"""What the user's message is doing (greeting, thanks, a question...) and which
avatar animation suits the answer.

A small scored classifier: each intent has weighted cue words/phrases matched
on word boundaries in the user's message; the answer contributes features
(cited material or not, length), never its wording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bwenge.contracts.answers import ANIMATIONS

_CUES: dict[str, dict[str, float]] = {
    "greeting": {
        "hello": 2,
        "hi": 2,
        "hey": 2,
        "good morning": 2.5,
        "good afternoon": 2.5,
        "good evening": 2.5,
        "greetings": 2,
        "muraho": 2.5,
        "bonjour": 2.5,
        "howdy": 2,
        "how are you": 1.5,
        "nice to meet you": 2,
    },
    "thanks": {
        "thanks": 3,
        "thank you": 3,
        "thx": 2.5,
        "cheers": 1.5,
        "appreciate": 2,
        "murakoze": 3,
        "merci": 3,
        "grateful": 2,
        "helpful": 1,
    },
    "farewell": {
        "bye": 3,
        "goodbye": 3,
        "see you": 2.5,
        "good night": 2.5,
        "later": 0.8,
        "that's all": 1.5,
        "take care": 2,
    },
    "excitement": {
        "wow": 2,
        "amazing": 2,
        "awesome": 2,
        "great": 1,
        "cool": 1.2,
        "i passed": 2.5,
        "excited": 2,
        "fantastic": 2,
    },
    "distress": {
        "sad": 2,
        "confused": 1.5,
        "failed": 1.5,
        "i don't understand": 2,
        "worried": 1.5,
        "stressed": 2,
        "frustrated": 2,
        "upset": 2,
        "difficult": 0.8,
    },
    "pointing": {
        "where": 1.2,
        "which page": 2.5,
        "which slide": 2.5,
        "show me": 2,
        "point": 1.5,
        "find": 0.8,
        "source": 1.2,
        "reference": 1,
    },
    "confirm": {
        "is it true": 2,
        "right?": 1.5,
        "correct?": 1.5,
        "isn't it": 1.5,
        "am i right": 2,
        "true or false": 1.5,
    },
    "explain": {
        "why": 1.5,
        "how": 1.2,
        "explain": 2.5,
        "describe": 2,
        "what is": 1.2,
        "what are": 1.2,
        "difference": 1.5,
        "tell me about": 2,
        "steps": 1.2,
    },
    "recall": {
        "what did i ask": 3,
        "what did i say": 3,
        "my first question": 3,
        "my last question": 3,
        "my previous question": 3,
        "earlier": 1.2,
        "before that": 1.5,
        "what did you say": 2.5,
        "you said": 1.5,
        "we discussed": 2,
        "remind me": 1.5,
    },
}
_PATTERNS = {
    intent: [(re.compile(r"(?<!\w)" + re.escape(cue) + r"(?!\w)"), w) for cue, w in cues.items()]
    for intent, cues in _CUES.items()
}


@dataclass(frozen=True)
class Intent:
    scores: dict[str, float]
    is_question: bool
    words: int

    @property
    def top(self) -> str | None:
        best = max(self.scores.items(), key=lambda kv: kv[1], default=(None, 0.0))
        return best[0] if best[1] >= 1.5 else None

    def score(self, name: str) -> float:
        return self.scores.get(name, 0.0)


def classify(message: str) -> Intent:
    text = " ".join(message.lower().split())
    words = len(text.split())
    scores = {}
    for intent, patterns in _PATTERNS.items():
        total = sum(w for pattern, w in patterns if pattern.search(text))
        if total:
            scores[intent] = total
    if re.match(r"(is|are|does|do|did|can|could|should|was|were|will|has|have)\b", text):
        scores["confirm"] = scores.get("confirm", 0) + 1.2  # a yes/no question
    # social intents are short messages; in a long question they are politeness
    if words > 8:
        for social in ("greeting", "thanks", "farewell"):
            if social in scores:
                scores[social] *= 0.4
    is_question = text.endswith("?") or bool(
        re.match(
            r"(what|why|how|when|where|who|which|is|are|does|do|can|could|should|explain|tell)\b",
            text,
        )
    )
    return Intent(scores=scores, is_question=is_question, words=words)


def animation_for(intent: Intent, *, cited: bool, answer_chars: int, sentences: int) -> str:
    """Pick the avatar animation: intent scores plus features of the answer."""
    scores: dict[str, float] = {"talking": 1.0}
    scores["greeting"] = intent.score("greeting") * 1.2
    scores["happy"] = intent.score("thanks") * 1.2
    scores["waving"] = intent.score("farewell") * 1.3
    scores["excited"] = intent.score("excitement")
    scores["sad"] = intent.score("distress") * (0.8 if cited else 1.0)
    social = intent.top in ("greeting", "thanks", "farewell", "recall")
    if intent.is_question and not cited and not social:
        # a question the material doesn't cover: an honest "no"
        scores["shaking_head"] = 2.4 if intent.score("explain") or intent.words > 3 else 1.6
        scores["thinking"] = 1.8
    if cited:
        long_answer = answer_chars > 280 or sentences >= 3
        scores["explaining"] = 1.2 + intent.score("explain") + (1.5 if long_answer else 0)
        scores["pointing"] = intent.score("pointing") * 1.3
        scores["nodding"] = intent.score("confirm") * 1.2 + (0.6 if not long_answer else 0)
    if intent.score("recall"):
        scores["nodding"] = max(scores.get("nodding", 0), 1.5 + intent.score("recall") * 0.2)
    best = max(scores.items(), key=lambda kv: kv[1])[0]
    return best if best in ANIMATIONS else "talking"
