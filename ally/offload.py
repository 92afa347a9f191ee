"""Run CPU-heavy calls off the event loop when the server runs under gevent.

Under gevent every connection is a greenlet on one OS thread: a 70 ms scrypt
hash would stall every socket for 70 ms. gevent's thread pool runs the call on
a real thread (hashlib releases the GIL) while the loop keeps serving. Without
gevent (threading, tests, the CLI) the call simply runs here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def _patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_module_patched("threading"))


def blocking(function: Callable[..., T], *args: object) -> T:
    """function(*args), on gevent's thread pool if the process runs gevent."""
    if _patched():
        import gevent

        return gevent.get_hub().threadpool.apply(function, args)
    return function(*args)
