"""Pausing the garbage collector around bulk work restores what was there."""

from __future__ import annotations

import gc

import pytest

from ally.offload import no_collection


@pytest.fixture
def collector_state():
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


def test_the_collector_is_paused_inside_and_back_on_after(collector_state):
    gc.enable()
    with no_collection():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_it_comes_back_on_after_an_error(collector_state):
    gc.enable()
    with pytest.raises(RuntimeError), no_collection():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off_and_nesting_works(collector_state):
    gc.enable()
    with no_collection():
        with no_collection():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner one found it off: leaves it off
    assert gc.isenabled()
    gc.disable()
    with no_collection():
        pass
    assert not gc.isenabled()
