"""One worker thread that takes its callers' work in turns, by key (an organisation).

The engine's steps run on a thread of their own, off the event loop. With a plain FIFO
executor, a burst of one organisation queues thousands of steps ahead of another's one
message; here each key has its own queue and the thread takes one step from each key in turn,
so a quiet organisation's step waits for at most one step of each busy one.

>>> import threading
>>> turns, order = Turns("demo"), []
>>> busy, gate = threading.Event(), threading.Event()
>>> first = turns.submit(1, lambda: (busy.set(), gate.wait()))
>>> busy.wait(5)                                        # the thread is busy with this
True
>>> burst = [turns.submit(1, order.append, f"a{i}") for i in range(3)]
>>> quiet = turns.submit(2, order.append, "b0")        # arrives after organisation 1's burst
>>> gate.set(); _ = [f.result(5) for f in (first, *burst, quiet)]
>>> order                                               # ...and goes second, not last
['a0', 'b0', 'a1', 'a2']
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any

_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class Turns:
    def __init__(self, name: str) -> None:
        self.name = name
        self._queues: dict[Hashable, deque[_Work]] = {}
        self._keys: deque[Hashable] = deque()  # keys with work waiting, in their turn
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, key: Hashable, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        future: Future[Any] = Future()
        with self._cond:
            waiting = self._queues.get(key)
            if waiting is None:
                waiting = self._queues[key] = deque()
                self._keys.append(key)
            waiting.append((future, fn, args, kwargs))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
                self._thread.start()
            self._cond.notify()
        return future

    def _next(self) -> _Work:
        with self._cond:
            while not self._keys:
                self._cond.wait()
            key = self._keys.popleft()
            waiting = self._queues[key]
            work = waiting.popleft()
            if waiting:
                self._keys.append(key)  # its next step after every other key's
            else:
                del self._queues[key]
            return work

    def _serve(self) -> None:
        while True:
            future, fn, args, kwargs = self._next()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the caller, whose step it was
                future.set_exception(exc)
            else:
                future.set_result(result)
