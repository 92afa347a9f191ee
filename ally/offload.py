"""Keep CPU-heavy work from stalling the event loop when serving under gevent.

Under gevent every connection is a greenlet on one OS thread: a 70 ms scrypt
hash would stall every socket for 70 ms. gevent's thread pool runs the call on
a real thread (hashlib releases the GIL) while the loop keeps serving. Without
gevent (threading, tests, the CLI) the call simply runs here.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


def real_thread(function: Callable[[], object], name: str) -> None:
    """Run function() on an OS thread of its own (a daemon), also under gevent.

    Under gevent `threading.Thread` makes a greenlet, which waits its turn on
    the busy loop; a pool of one thread runs it truly beside the loop (it
    takes the interpreter every few milliseconds, as threads do).
    """
    if _patched():
        from gevent.threadpool import ThreadPool

        ThreadPool(1).spawn(function)
        return
    import threading

    threading.Thread(target=function, name=name, daemon=True).start()


@contextmanager
def no_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector around building thousands of rows.

    Every row object is a container the collector would walk again and again
    while the rows are alive (measured on a five-year review: 10 % of requests
    paid ~35 ms). They are freed by reference counting when the request drops
    them, so nothing is lost by not collecting meanwhile. If the collector was
    already off, it stays off.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
