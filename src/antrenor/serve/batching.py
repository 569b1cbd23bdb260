"""Micro-batching: one worker thread owns the model and runs queued requests together.

Requests arrive one per HTTP call; the model is several times faster per request on a batch
(benchmarks/eval_bench.py). The worker takes the oldest job, then up to `max_batch_size - 1`
more with the same kind and batch key that arrive within `batch_wait_ms`, and runs them in one
call of its handler. Every job has its own future, resolved with its own result. Jobs that
cannot share a call (a streamed answer, a seeded sample) run alone, but on the same thread,
so two forwards never run on the model at once.

    >>> batcher = MicroBatcher({"square": lambda jobs: [j.payload ** 2 for j in jobs]}, max_batch_size=8)
    >>> batcher.start(); batcher.submit(Job("square", 3)).result()
    9
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

Handler = Callable[[list["Job"]], list[Any]]


@dataclass(eq=False)
class Job:
    kind: str  # which handler runs it
    payload: Any
    key: Hashable = None  # jobs share a call only with the same kind and key
    batchable: bool = True
    future: Future = field(default_factory=Future)
    cancelled: threading.Event = field(default_factory=threading.Event)  # set: the caller gave up (timeout)

    def fits_with(self, other: "Job") -> bool:
        return self.batchable and other.batchable and self.kind == other.kind and self.key == other.key


class QueueFull(Exception):
    """More jobs waiting or running than the batcher accepts."""


class ShuttingDown(Exception):
    """The batcher stopped before running the job."""


class MicroBatcher:
    def __init__(self, handlers: dict[str, Handler], *, max_batch_size: int = 8, batch_wait_ms: float = 10.0,
                 max_queue: int = 64, on_batch: Callable[[str, int], None] | None = None):
        self.handlers = handlers
        self.max_batch_size, self.batch_wait = max_batch_size, batch_wait_ms / 1000
        self.max_queue, self.on_batch = max_queue, on_batch
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._held: collections.deque[Job] = collections.deque()  # taken from the queue, did not fit the last batch
        self._lock = threading.Lock()
        self._outstanding = 0
        self._running: list[Job] = []
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def depth(self) -> int:
        """Jobs waiting or running."""
        return self._outstanding

    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="antrenor-model-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the running batch early (its callers get what was generated so far), fail waiting jobs with ShuttingDown."""
        self._stopping = True
        for job in list(self._running):
            job.cancelled.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
        for job in self._drain():
            if not job.future.done():
                job.future.set_exception(ShuttingDown())

    def submit(self, job: Job) -> Future:
        if job.kind not in self.handlers:
            raise ValueError(f"no handler for jobs of kind {job.kind!r}")
        with self._lock:
            if self._stopping:
                raise ShuttingDown()
            if self._outstanding >= self.max_queue:
                raise QueueFull()
            self._outstanding += 1
        self._queue.put(job)
        return job.future

    def _work(self) -> None:
        while True:
            first = self._held.popleft() if self._held else self._queue.get()
            if first is None:
                return
            batch = self._collect(first)
            self._running = [job for job in batch if not job.cancelled.is_set() and job.future.set_running_or_notify_cancel()]
            try:
                self._run(self._running)
            finally:
                self._running = []
                with self._lock:
                    self._outstanding -= len(batch)
            if self._stopping:
                return

    def _collect(self, first: Job) -> list[Job]:
        batch = [first]
        if not first.batchable:
            return batch
        for job in list(self._held):
            if len(batch) < self.max_batch_size and job.fits_with(first):
                self._held.remove(job)
                batch.append(job)
        deadline = time.monotonic() + self.batch_wait
        while len(batch) < self.max_batch_size:
            try:
                job = self._queue.get(timeout=max(deadline - time.monotonic(), 0)) if time.monotonic() < deadline \
                    else self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._queue.put(None)  # seen again by _work after this batch
                break
            (batch if job.fits_with(first) else self._held).append(job)
        return batch

    def _run(self, batch: list[Job]) -> None:
        if not batch:
            return
        try:
            results = self.handlers[batch[0].kind](batch)
            if len(results) != len(batch):
                raise RuntimeError(f"handler {batch[0].kind!r} returned {len(results)} results for {len(batch)} jobs")
        except Exception as error:  # every caller learns of it; the worker keeps serving
            for job in batch:
                job.future.set_exception(error)
            return
        if self.on_batch:
            self.on_batch(batch[0].kind, len(batch))
        for job, result in zip(batch, results):
            job.future.set_result(result)

    def _drain(self) -> list[Job]:
        found = list(self._held)
        self._held.clear()
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return found
            if job is not None:
                found.append(job)
