"""How plain a written explanation is: reading grade and rare words, offline.

- Reading grade: the Flesch–Kincaid grade level,
  0.39 × words/sentences + 11.8 × syllables/words − 15.59.
- Syllables: the larger of two counts, because each alone undercounts medical
  words: Pyphen's hyphenation points (its dictionaries ship with the package)
  and a vowel-group count with the usual English corrections (silent final e,
  -ed, -es). "angiotensin" → 5, "kidney" → 2.
- Rare words: words whose frequency in English (wordfreq's Zipf scale, data
  shipped with the package) is below a threshold, 3.0 by default — about once
  per million words. A student's allow-list exempts terms they must use
  ("angiotensin"): those are the point of the explanation, not jargon to avoid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import pyphen
from wordfreq import zipf_frequency

RARE_BELOW = 3.0
MIN_RARE_LENGTH = 3  # "mm", "ok" and initials are not vocabulary
WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")
SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
VOWEL_GROUP = re.compile(r"[aeiouy]+")

_hyphenator = pyphen.Pyphen(lang="en_US")


@dataclass(frozen=True)
class Readability:
    """The measures of one text."""

    words: int
    sentences: int
    syllables: int
    grade: float | None  # None for a text without words
    rare_words: tuple[str, ...]


def words_of(text: str) -> list[str]:
    """The words of a text (letters, with inner apostrophes and hyphens)."""
    return WORD.findall(text or "")


def sentence_count(text: str) -> int:
    """Sentences, counted by their end marks; a text without one is one."""
    if not words_of(text):
        return 0
    return max(1, len(SENTENCE_END.findall(text.strip())))


# Vowel pairs usually spoken as two syllables ("angi-o-tensin", "potass-i-um",
# "di-uretic", "vide-o"), and endings where the same letters make one.
HIATUS = re.compile(r"i[aou]|eo")
ONE_SYLLABLE_ENDINGS = re.compile(
    r"(?:[tsc]i(?:on|an|al|ous)|gi(?:on|ous)|tia[ln]?|[sc]ia[ln]?)"
)


def _vowel_groups(word: str) -> int:
    w = word.lower()
    count = len(VOWEL_GROUP.findall(w))
    count += len(HIATUS.findall(w)) - len(ONE_SYLLABLE_ENDINGS.findall(w))
    if len(w) > 2 and w.endswith("e") and not w.endswith(("le", "ee", "ie", "ye")):
        count -= 1  # silent final e: "make", "base"
    elif len(w) > 3 and w.endswith("ed") and w[-3] not in "aeiouytd":
        count -= 1  # "jumped" (but "needed", "hated" keep it)
    elif len(w) > 3 and w.endswith("es") and not _es_sounded(w):
        count -= 1  # "makes", "states" (but "faces", "boxes", "changes" keep it)
    return max(1, count)


def _es_sounded(word: str) -> bool:
    """Whether a final -es is its own syllable (after a hissing sound)."""
    stem = word[:-2]
    return stem.endswith(("s", "x", "z", "ch", "sh", "c", "g")) or word.endswith(
        ("ces", "ges", "ses", "zes")
    )


@lru_cache(maxsize=16384)
def syllables(word: str) -> int:
    """Syllables in one word (the larger of hyphenation and vowel groups)."""
    # Hyphens join words; an apostrophe only trims one ("don't", "kidney's").
    parts = [p.replace("'", "").replace("’", "") for p in word.split("-")]
    total = 0
    for part in (p for p in parts if p):
        hyphenated = len(_hyphenator.positions(part.lower())) + 1
        total += max(hyphenated, _vowel_groups(part))
    return max(1, total)


def flesch_kincaid_grade(text: str) -> float | None:
    """The Flesch–Kincaid grade level of a text, or None without words."""
    return measure(text).grade


def _key(word: str) -> str:
    """Case-folded, curly apostrophe straightened, a possessive 's dropped."""
    key = word.casefold().replace("’", "'")
    return key[:-2] if key.endswith("'s") else key


def rare_words(
    text: str, allowed: Iterable[str] = (), threshold: float = RARE_BELOW
) -> tuple[str, ...]:
    """Words rarer than `threshold` (Zipf), first spelling kept, allow-list exempt."""
    allow = {_key(term) for term in allowed}
    found: dict[str, str] = {}
    for word in words_of(text):
        key = _key(word)
        if key in found or key in allow or len(key) < MIN_RARE_LENGTH:
            continue
        if _is_rare(key, allow, threshold):
            found[key] = word
    return tuple(found.values())


def _is_rare(key: str, allow: set[str], threshold: float) -> bool:
    """Rare as a whole and, for a compound, in a part that is not allowed."""
    if _zipf(key) >= threshold:
        return False
    parts = [p for p in key.split("-") if p]
    if len(parts) < 2:
        return True
    return any(
        p not in allow and len(p) >= MIN_RARE_LENGTH and _zipf(p) < threshold
        for p in parts
    )


@lru_cache(maxsize=65536)
def _zipf(word: str) -> float:
    return zipf_frequency(word, "en")


def measure(
    text: str, allowed: Iterable[str] = (), threshold: float = RARE_BELOW
) -> Readability:
    """Words, sentences, syllables, the reading grade and the rare words of text."""
    found = words_of(text)
    sentences = sentence_count(text)
    total_syllables = sum(syllables(w) for w in found)
    grade = None
    if found:
        grade = round(
            0.39 * len(found) / sentences + 11.8 * total_syllables / len(found) - 15.59,
            1,
        )
    return Readability(
        words=len(found),
        sentences=sentences,
        syllables=total_syllables,
        grade=grade,
        rare_words=rare_words(text, allowed, threshold),
    )
