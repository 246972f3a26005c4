"""Micro-batching: concurrent requests are queued and run together in one worker thread.

A request submits its list of items; the worker takes the first waiting request, then keeps taking
requests until ``max_batch`` items are gathered or ``max_wait_ms`` has passed since the first one, runs
``fn`` once on all items and hands each request its slice of the results. While ``fn`` runs, new requests
pile up and form the next batch, so under load batches grow by themselves. With ``enabled=False`` every
request runs alone, one at a time, on the same worker (the baseline of ``benchmarks/serve_load.py``).
If a merged batch fails, each request is retried alone so one bad request cannot fail the others.

>>> b = MicroBatcher(lambda xs: [x * 2 for x in xs], name="double")
>>> b.submit_sync([1, 2, 3])
[2, 4, 6]
>>> b.close()
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Job(Generic[T, R]):
    items: list[T]
    future: Future[list[R]] = field(default_factory=Future)


class BatcherClosed(RuntimeError):
    """The batcher was closed; no more work is accepted."""


class MicroBatcher(Generic[T, R]):
    """Run ``fn(items) -> results`` (same length, same order) on merged concurrent requests.

    Parameters are keyword-only: ``name`` (label in metrics and logs), ``max_batch`` (items per run),
    ``max_wait_ms`` (how long the first request of a batch may wait for company), ``enabled`` (False:
    one request per run) and ``on_batch(name, n_items, n_requests)`` (called after each run).
    """

    def __init__(
        self, fn: Callable[[list[T]], Sequence[R]], *, name: str = "batch", max_batch: int = 64,
        max_wait_ms: float = 0.0, enabled: bool = True,
        on_batch: Callable[[str, int, int], None] | None = None,
    ) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_ms >= 0")
        self.fn = fn
        self.name = name
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self.enabled = enabled
        self.on_batch = on_batch
        self._queue: queue.Queue[_Job[T, R] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    # ------------------------------------------------------------------ submit
    def submit_future(self, items: Sequence[T]) -> Future[list[R]]:
        """Queue ``items``; the future resolves to their results (or the error ``fn`` raised)."""
        if self._closed:
            raise BatcherClosed(f"batcher {self.name!r} is closed")
        job: _Job[T, R] = _Job(list(items))
        if not job.items:
            job.future.set_result([])
            return job.future
        self._ensure_thread()
        self._queue.put(job)
        return job.future

    def submit_sync(self, items: Sequence[T], timeout: float | None = None) -> list[R]:
        """Blocking submit, for threads."""
        return self.submit_future(items).result(timeout=timeout)

    async def submit(self, items: Sequence[T]) -> list[R]:
        """Awaitable submit, for the event loop (the loop never blocks on the model)."""
        return await asyncio.wrap_future(self.submit_future(items))

    # ------------------------------------------------------------------ worker
    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._thread is None:
                t = threading.Thread(target=self._run, name=f"batcher-{self.name}", daemon=True)
                t.start()
                self._thread = t

    def _collect(self, first: _Job[T, R]) -> tuple[list[_Job[T, R]], bool]:
        jobs, n = [first], len(first.items)
        if not self.enabled:
            return jobs, False
        deadline = time.monotonic() + self.max_wait_ms / 1000.0
        while n < self.max_batch:
            timeout = deadline - time.monotonic()
            try:
                nxt = self._queue.get_nowait() if timeout <= 0 else self._queue.get(timeout=timeout)
            except queue.Empty:
                break
            if nxt is None:
                return jobs, True
            jobs.append(nxt)
            n += len(nxt.items)
        return jobs, False

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                break
            jobs, stop = self._collect(first)
            live = [j for j in jobs if j.future.set_running_or_notify_cancel()]
            if live:
                self._execute(live)
            if stop:
                break

    def _execute(self, jobs: list[_Job[T, R]]) -> None:
        items: list[T] = [x for j in jobs for x in j.items]
        try:
            results = list(self.fn(items))
            if len(results) != len(items):
                raise RuntimeError(f"{self.name}: function returned {len(results)} results for {len(items)}")
        except Exception as exc:  # noqa: BLE001 - isolate: retry each request alone
            if len(jobs) == 1:
                jobs[0].future.set_exception(exc)
                return
            logger.warning("batch %s of %d requests failed (%s); retrying one by one",
                           self.name, len(jobs), type(exc).__name__)
            for j in jobs:
                self._execute_alone(j)
            return
        if self.on_batch is not None:
            try:
                self.on_batch(self.name, len(items), len(jobs))
            except Exception:  # noqa: BLE001 - metrics must never break serving
                logger.debug("on_batch callback failed", exc_info=True)
        start = 0
        for j in jobs:
            j.future.set_result(results[start:start + len(j.items)])
            start += len(j.items)

    def _execute_alone(self, job: _Job[T, R]) -> None:
        try:
            res = list(self.fn(job.items))
            if len(res) != len(job.items):
                raise RuntimeError(f"{self.name}: function returned {len(res)} results for {len(job.items)}")
        except Exception as exc:  # noqa: BLE001
            job.future.set_exception(exc)
            return
        if self.on_batch is not None:
            self.on_batch(self.name, len(job.items), 1)
        job.future.set_result(res)

    def close(self, timeout: float | None = 5.0) -> None:
        """Finish queued work, then stop the worker thread."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def __repr__(self) -> str:
        return (f"MicroBatcher(name={self.name!r}, max_batch={self.max_batch}, "
                f"max_wait_ms={self.max_wait_ms}, enabled={self.enabled})")


def batch_stats_callback(metrics: Any) -> Callable[[str, int, int], None]:
    """An ``on_batch`` that reports to :class:`babelcart.serve.metrics.Metrics`."""
    return lambda name, items, requests: metrics.observe_batch(name, items, requests)
