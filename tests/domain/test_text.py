"""The one rule for text from outside: what every database backend can store."""

import sqlite3
from contextlib import closing

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ally.domain.text import LONE_SURROGATE, NUL, is_storable, unstorable_reason


@pytest.mark.parametrize(
    "text",
    ["", "Nephron", "Ünïcödé ß", "日本語", "emoji 😀 (one code point)", "tab\tline\n"],
)
def test_ordinary_text_is_storable(text):
    assert unstorable_reason(text) is None
    assert is_storable(text)


@pytest.mark.parametrize(
    "text", ["\ud800", "\udfff", "a\udc00b", "\ude00\ud83d", "😀\ud83d"]
)
def test_a_lone_surrogate_half_is_not(text):
    assert unstorable_reason(text) == LONE_SURROGATE
    assert "surrogate" in LONE_SURROGATE
    assert not is_storable(text)


@pytest.mark.parametrize("text", ["\x00", "a\x00", "\x00b", "a\x00b\x00"])
def test_a_nul_is_not(text):
    assert unstorable_reason(text) == NUL
    assert "NUL" in NUL
    assert not is_storable(text)


def test_the_first_offending_character_names_the_reason():
    assert unstorable_reason("a\x00\ud800") == NUL
    assert unstorable_reason("a\ud800\x00") == LONE_SURROGATE


# Any code point at all, surrogate halves and NUL included (st.text leaves them out).
any_text = st.lists(
    st.one_of(
        st.integers(0, 0x10FFFF),
        st.sampled_from([0, 0xD800, 0xDBFF, 0xDC00, 0xDFFF]),
    ),
    max_size=20,
).map(lambda points: "".join(map(chr, points)))


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@given(any_text)
def test_storable_means_utf8_encodable_and_no_nul(text):
    expected = _encodes(text) and "\x00" not in text
    assert is_storable(text) is expected
    assert (unstorable_reason(text) is None) is expected


@given(any_text)
def test_what_is_storable_round_trips_through_sqlite(text):
    """SQLite's driver refuses exactly the surrogates; PostgreSQL also the NUL."""
    if not is_storable(text):
        return
    with closing(sqlite3.connect(":memory:")) as connection:
        connection.execute("CREATE TABLE t (v TEXT)")
        connection.execute("INSERT INTO t VALUES (?)", (text,))
        assert connection.execute("SELECT v FROM t").fetchone()[0] == text
