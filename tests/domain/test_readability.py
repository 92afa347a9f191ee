"""Readability: Flesch–Kincaid grades, syllables and rare words, all offline.

Grades are checked against the formula with words, sentences and syllables
counted by hand; rare words against wordfreq's Zipf scale (below 3 is rare),
with the allow-list exempting the terms a student must use.
"""

from __future__ import annotations

import socket

import pytest

from ally.domain import readability
from ally.domain.readability import (
    RARE_BELOW,
    flesch_kincaid_grade,
    measure,
    rare_words,
    sentence_count,
    syllables,
    words_of,
)

SIMPLE = "The heart is a pump. It pushes blood round the body."
RAAS = (
    "Juxtaglomerular cells secrete renin, which cleaves angiotensinogen; ACE "
    "then yields angiotensin II, a vasoconstrictor that drives aldosterone."
)
NEPHRON = (
    "The proximal tubule reabsorbs most filtrate isosmotically; the thick "
    "ascending limb dilutes it; the collecting duct titrates water via ADH."
)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No network at all, and nothing answered from a warm cache."""

    def refuse(*args, **kwargs):
        raise AssertionError("readability tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    readability.syllables.cache_clear()
    readability._zipf.cache_clear()


def fk(words: int, sentences: int, syllable_count: int) -> float:
    """The Flesch–Kincaid grade from counts made by hand."""
    return 0.39 * words / sentences + 11.8 * syllable_count / words - 15.59


# --- the formula on hand-counted text -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words", "sentences", "syllable_count"),
    [
        # The(1) cat(1) sat(1) on(1) the(1) mat(1)
        ("The cat sat on the mat.", 6, 1, 6),
        # Water(2) flows(1) into(2) the(1) kidney(2). The(1) kidney(2) cleans(1) it(1)
        ("Water flows into the kidney. The kidney cleans it.", 9, 2, 13),
        # The heart is a pump (5). It pushes(2) blood round the body(2): 11 words
        (SIMPLE, 11, 2, 13),
        # The kidney(2) makes(1) renin(2). Renin(2) helps keep blood pressure(2) up
        ("The kidney makes renin. Renin helps keep blood pressure up.", 10, 2, 14),
    ],
)
def test_grade_is_the_formula_on_hand_counted_text(
    text, words, sentences, syllable_count
):
    result = measure(text)
    assert (result.words, result.sentences, result.syllables) == (
        words,
        sentences,
        syllable_count,
    )
    expected = fk(words, sentences, syllable_count)
    assert result.grade == pytest.approx(expected, abs=0.05 + 1e-9)
    assert result.grade == round(result.grade, 1)  # one decimal, as shown
    assert flesch_kincaid_grade(text) == result.grade


def test_known_grades_to_one_decimal():
    assert flesch_kincaid_grade("The cat sat on the mat.") == pytest.approx(-1.4)
    assert flesch_kincaid_grade(
        "Water flows into the kidney. The kidney cleans it."
    ) == pytest.approx(3.2)
    assert flesch_kincaid_grade(SIMPLE) == pytest.approx(0.5)


def test_simple_text_grades_low_and_dense_medical_text_high():
    simple = measure(SIMPLE).grade
    raas = measure(RAAS).grade
    nephron = measure(NEPHRON).grade
    assert simple < 3
    assert raas > 14 and nephron > 14
    assert raas - simple > 10
    # More syllables per word and longer sentences both raise the grade.
    assert (
        measure("Cats sit. Dogs run.").grade
        < measure("Cats sit and dogs run and birds fly and fish swim.").grade
    )
    assert measure("The cat sat.").grade < measure("Hypertension persisted.").grade


def test_sentences_are_counted_by_their_end_marks():
    assert sentence_count("Hi! Is it? Yes. no") == 3
    assert sentence_count("no end mark at all") == 1
    assert sentence_count("Wait... what?!") == 2
    assert sentence_count("") == 0
    assert sentence_count("  ?!  ") == 0


@pytest.mark.parametrize("text", ["", "   ", "123 — 456!", "?!", None])
def test_a_text_without_words_has_no_grade(text):
    result = measure(text)
    assert result.words == 0 and result.sentences == 0 and result.syllables == 0
    assert result.grade is None
    assert result.rare_words == ()
    assert flesch_kincaid_grade(text or "") is None


def test_words_keep_inner_apostrophes_and_hyphens():
    assert words_of("Don’t worry: it's the kidney's job, a well-known x-ray.") == [
        "Don’t",
        "worry",
        "it's",
        "the",
        "kidney's",
        "job",
        "a",
        "well-known",
        "x-ray",
    ]
    # An en dash separates words; digits and stray marks are not words.
    assert words_of("renin–angiotensin 5 mg - 'quoted'") == [
        "renin",
        "angiotensin",
        "mg",
        "quoted",
    ]


# --- syllables ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "count"),
    [
        ("cat", 1),
        ("the", 1),
        ("a", 1),
        ("heart", 1),
        ("water", 2),
        ("kidney", 2),  # the module's own example
        ("simple", 2),
        ("banana", 3),
        ("beautiful", 3),
        ("make", 1),  # silent final e
        ("base", 1),
        ("makes", 1),
        ("jumped", 1),  # -ed without a syllable
        ("needed", 2),  # -ed after d keeps it
        ("wanted", 2),
        ("glasses", 2),
        ("nephron", 2),
        ("renin", 2),
        ("aldosterone", 4),
        ("hypertension", 4),
        ("glomerulus", 4),
        ("vasoconstrictor", 5),
        ("juxtaglomerular", 6),
        ("KIDNEY", 2),  # case does not matter
    ],
)
def test_syllables_of_sample_words(word, count):
    assert syllables(word) == count


@pytest.mark.parametrize(
    ("word", "count"),
    [
        ("well-known", 2),
        ("x-ray", 2),
        ("Frank-Starling", 3),
        ("follow-up", 3),
    ],
)
def test_a_hyphenated_word_counts_the_syllables_of_its_parts(word, count):
    assert syllables(word) == count


@pytest.mark.parametrize(
    ("word", "count"),
    [
        ("angiotensin", 5),
        ("potassium", 4),
        ("diuretic", 4),
        ("mitochondria", 5),
    ],
)
def test_syllables_of_medical_terms_with_vowels_in_hiatus(word, count):
    assert syllables(word) == count


@pytest.mark.parametrize(
    ("word", "count"),
    [
        ("faces", 2),
        ("pages", 2),
        ("changes", 2),
        ("squeezes", 2),
        ("hates", 1),
        ("states", 1),
        ("slides", 1),
    ],
)
def test_syllables_of_plurals_and_third_persons_in_es(word, count):
    assert syllables(word) == count


@pytest.mark.parametrize(
    ("word", "count"),
    [
        *[
            ("don't", 1),
            ("don’t", 1),
            ("it's", 1),
            ("we'll", 1),
            ("kidney's", 2),
        ]
    ],
)
def test_syllables_of_contractions_and_possessives(word, count):
    assert syllables(word) == count


# --- rare words -----------------------------------------------------------------------


def test_the_threshold_is_a_zipf_frequency_of_three():
    assert RARE_BELOW == 3.0


def test_medical_terms_are_rare_and_everyday_words_are_not():
    found = rare_words(RAAS)
    for term in (
        "Juxtaglomerular",
        "renin",
        "angiotensinogen",
        "angiotensin",
        "vasoconstrictor",
        "aldosterone",
    ):
        assert term in found
    for word in ("cells", "which", "then", "yields", "that", "drives", "ACE"):
        assert word not in found
    assert "II" not in found  # too short to be vocabulary
    assert measure(RAAS).rare_words == found
    nephron = rare_words(NEPHRON)
    assert {"tubule", "filtrate", "isosmotically", "ADH"} <= set(nephron)
    assert not {"proximal", "water", "via", "thick", "duct"} & set(nephron)


def test_a_plain_explanation_has_no_rare_words():
    assert rare_words(SIMPLE) == ()
    assert rare_words("The kidney cleans the blood and makes urine.") == ()


def test_rare_words_keep_their_first_spelling_once_in_text_order():
    text = "Renin is made in the kidney. RENIN and renin again, then aldosterone."
    assert rare_words(text) == ("Renin", "aldosterone")


def test_short_words_are_never_rare():
    assert rare_words("mm ok qi xu") == ()
    assert rare_words("ADH") == ("ADH",)  # three letters is enough


def test_a_lower_threshold_flags_fewer_words_and_a_higher_one_more():
    text = "The kidney filters renin into the blood."
    assert rare_words(text) == ("renin",)
    assert rare_words(text, threshold=1.0) == ()
    assert rare_words(text, threshold=4.5) == ("kidney", "filters", "renin")
    assert measure(text, threshold=4.5).rare_words == ("kidney", "filters", "renin")


def test_allowed_terms_are_not_rare_whatever_their_case():
    text = "Angiotensin and ANGIOTENSIN, then aldosterone and renin."
    assert rare_words(text) == ("Angiotensin", "aldosterone", "renin")
    assert rare_words(text, ["angiotensin"]) == ("aldosterone", "renin")
    assert rare_words(text, ["ANGIOTENSIN", "Aldosterone"]) == ("renin",)
    assert rare_words(text, ("aNgIoTeNsIn", "ALDOSTERONE", "Renin")) == ()
    # The allow-list only exempts: common words stay common.
    assert rare_words(SIMPLE, ["angiotensin"]) == ()
    allowed = measure(RAAS, ["renin", "angiotensin", "aldosterone"])
    assert "renin" not in allowed.rare_words
    assert "angiotensin" not in allowed.rare_words
    assert "aldosterone" not in allowed.rare_words
    assert "angiotensinogen" in allowed.rare_words  # not the same term
    assert "vasoconstrictor" in allowed.rare_words
    # The grade does not depend on the allow-list.
    assert allowed.grade == measure(RAAS).grade


def test_an_allowed_term_matches_whole_words_only():
    assert rare_words("angiotensinogen", ["angiotensin"]) == ("angiotensinogen",)
    assert rare_words("angiotensin", ["angiotensinogen"]) == ("angiotensin",)


def test_hyphenated_words_are_judged_as_one_word():
    assert rare_words("A well-known x-ray of the follow-up.") == ()
    assert rare_words("The renin-angiotensin system.") == ("renin-angiotensin",)
    # The compound itself can be allowed, in any case.
    assert rare_words("The Renin-Angiotensin system.", ["renin-angiotensin"]) == ()
    # An en dash separates two words, each judged and allowed on its own.
    assert rare_words("The renin–angiotensin system.") == ("renin", "angiotensin")
    assert rare_words("The renin–angiotensin system.", ["Angiotensin"]) == ("renin",)


def test_a_compound_of_allowed_terms_is_not_rare():
    assert rare_words("The renin-angiotensin system.", ["renin", "angiotensin"]) == ()
    assert rare_words("An angiotensin-converting enzyme.", ["angiotensin"]) == ()


def test_apostrophes_straight_or_curly_are_the_same_word():
    assert rare_words("Don’t worry, it's fine, don't.") == ()
    # A possessive is judged by its word: "Starling" is common enough.
    assert rare_words("Starling's law") == ()
    assert rare_words("Henle's loop") == ("Henle's",)
    # A curly apostrophe in the allow-list matches a straight one in the text,
    # and allowing the word allows its possessive.
    assert rare_words("Henle's loop", ["Henle’s"]) == ()
    assert rare_words("Henle’s loop", ["henle"]) == ()
    assert rare_words("Henle’s loop and Henle's loop") == ("Henle’s",)


def test_the_possessive_of_a_common_word_is_not_rare():
    assert rare_words("The kidney's job is to clean the blood.") == ()
    assert rare_words("The nephron's loop", ["nephron"]) == ()
