"""Okapi BM25 ranking in plain Python: which short texts a request is nearest to.

The line bank has a few hundred lines of a dozen words; ranking them all takes well under
a millisecond, so no index library or embedding model is needed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
import math
import re

# Words that say nothing about what a request is about.
STOP_WORDS = frozenset(
    (
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "do", "does", "did", "for",
        "from", "have", "has", "i", "i'm", "in", "is", "it", "it's", "its", "me", "my", "of",
        "on", "or", "so", "that", "the", "this", "to", "was", "we", "what", "what's", "when",
        "where", "which", "who", "why", "will", "with", "you", "your", "you're", "can", "could",
        "would", "should", "please", "just", "tell", "about", "how", "today", "tonight", "now",
        "right", "really", "very", "some", "any", "there", "here", "then", "than", "even",
        "more", "much", "one", "another", "again", "get", "got", "make", "go", "going", "say",
        "says", "said", "think", "okay", "ok", "well", "oh", "milo", "if", "they", "them",
        "their", "he", "she", "his", "her", "us", "our", "all", "no", "not", "don't",
        "know", "something", "anything", "little", "bit", "give", "ever",
    )
)  # fmt: skip
_TOKEN = re.compile(r"[a-z']+")
K1 = 1.2
B = 0.75


def terms(text: str) -> list[str]:
    """The meaningful words of a text, lower case, each cut to a rough stem."""
    return [stem(word) for word in _TOKEN.findall(text.casefold()) if word not in STOP_WORDS]


def stem(word: str) -> str:
    """A crude stem, the same for a word's usual forms: "locked", "locks" and "lock";
    "funnier" and "funny"; "dancing" and "dance". Only ever compared with another stem."""
    word = word.removesuffix("'s").strip("'")
    for suffix, replacement in (("iest", "y"), ("ier", "y"), ("ies", "y")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[: -len(suffix)] + replacement
    for suffix in ("ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2 and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


class BM25:
    """Scores a query against a fixed set of documents."""

    def __init__(self, documents: Sequence[str]) -> None:
        """Index the documents' terms once."""
        self._docs = [Counter(terms(doc)) for doc in documents]
        lengths = [sum(doc.values()) for doc in self._docs]
        self._lengths = lengths
        self._average = (sum(lengths) / len(lengths)) if lengths else 0.0
        frequency: Counter[str] = Counter()
        for doc in self._docs:
            frequency.update(doc.keys())
        count = len(self._docs)
        self._idf = {
            term: math.log(1 + (count - n + 0.5) / (n + 0.5)) for term, n in frequency.items()
        }

    def scores(self, query: str) -> list[float]:
        """One score per document; 0 where no query term occurs in it."""
        wanted = set(terms(query))
        out = []
        for doc, length in zip(self._docs, self._lengths, strict=True):
            score = 0.0
            norm = K1 * (1 - B + B * length / self._average) if self._average else K1
            for term in wanted & doc.keys():
                tf = doc[term]
                score += self._idf[term] * tf * (K1 + 1) / (tf + norm)
            out.append(score)
        return out
