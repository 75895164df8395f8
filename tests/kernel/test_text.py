"""``bwenge.text``: the word comparison answers, exams and the lexical index share."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from bwenge.text import stem

WORDS = [
    f"{root}{suffix}"
    for root in ("connect", "generat", "relat", "condition", "argument", "hop", "national")
    for suffix in ("", "s", "ed", "ing", "ional", "ization", "ively", "fulness", "ousness")
]


def test_stems_are_the_same_from_many_threads_at_once():
    """Exams ask their questions concurrently, each in a thread; a stemmer shared by
    threads mixed up their words (an IndexError, or another word's stem)."""
    expected = {word: stem.__wrapped__(word) for word in WORDS}

    def stem_all(round_: int) -> dict[str, str]:
        # a word no other round asks, so the cache in front of the stemmer can't answer it
        return {w: stem(w + "ing" * (round_ % 3) + "x" * round_) for w in WORDS}

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(stem_all, range(200)))
    for round_, result in enumerate(results):
        for word, got in result.items():
            assert got == stem.__wrapped__(word + "ing" * (round_ % 3) + "x" * round_)
    assert expected["connecting"] == expected["connected"] == "connect"
