"""Server-side batching as TensorFlow Serving's BatchingSession does it (batching README): requests that
arrive together for the same model version and signature are concatenated along the 0th dimension, run as
one model call, and split back; a bounded queue fails fast when full.

Scheduling follows BasicBatchScheduler (tensorflow/core/kernels/batching_util): tasks join the open batch
until the next task would make it larger than ``max_batch_size``, which closes it and opens a new one; at
most ``max_enqueued_batches`` batches may wait; a free batch thread takes the oldest closed batch, or the
open one once it is full or ``batch_timeout_micros`` old. ``allowed_batch_sizes`` pads a batch (with copies
of its first row) up to the next allowed size, and the padding is dropped from the outputs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout

import grpc
import numpy as np

from helpers.serving.local_server.flags import BatchingParameters
from helpers.serving.local_server.status import ServingError, deadline_exceeded, invalid, queue_full, task_too_large

Arrays = dict[str, np.ndarray]


class _Task:
    """One request's rows. ``loop`` is None for a ``concurrent.futures.Future``, else the event loop that
    owns ``future`` (an asyncio future, resolved on that loop once per batch, see ``_settle``)."""

    __slots__ = ("inputs", "size", "future", "loop")

    def __init__(self, inputs: Arrays, size: int, loop: asyncio.AbstractEventLoop | None = None):
        self.inputs, self.size, self.loop = inputs, size, loop
        self.future: Future | asyncio.Future = Future() if loop is None else loop.create_future()


class _Batch:
    __slots__ = ("tasks", "size", "opened")

    def __init__(self):
        self.tasks: list[_Task] = []
        self.size = 0
        self.opened = time.monotonic()


def task_size(inputs: Arrays) -> int:
    """The 0th-dimension size shared by every input (batching_session.cc's checks and texts)."""
    sizes = set()
    for value in inputs.values():
        if np.ndim(value) == 0:
            raise invalid("Batching session Run() input tensors must have at least one dimension")
        sizes.add(int(np.shape(value)[0]))
    if len(sizes) != 1:
        raise invalid("Batching Run() input tensors must have equal 0th-dimension size")
    return sizes.pop()


class Batcher:
    """Merge concurrent calls of ``run(inputs) -> outputs`` into batched calls (one per free thread).

    ``stats`` counts model calls and the rows they carried, so a test or notebook can check that requests
    really were merged.
    """

    def __init__(self, run: Callable[[Arrays], Arrays], params: BatchingParameters, name: str = "batcher"):
        self.run, self.params = run, params.validate()
        self._cv = threading.Condition()
        self._closed: deque[_Batch] = deque()
        self._open = _Batch()
        self._stopped = False
        self.stats = {"calls": 0, "rows": 0, "max_rows": 0, "rejected": 0}
        self._threads = [
            threading.Thread(target=self._loop, name=f"{name}-{i}", daemon=True)
            for i in range(params.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------------ client side
    def submit(self, inputs: Arrays, timeout: float | None = None) -> Arrays:
        """Enqueue one request and wait for its rows of the batched result (raises ServingError)."""
        try:
            return self.submit_future(inputs).result(timeout)
        except FutureTimeout:
            raise deadline_exceeded() from None

    def submit_future(self, inputs: Arrays) -> Future:
        """Enqueue one request; a ``concurrent.futures.Future`` of its outputs (errors raise at once)."""
        return self._enqueue(inputs, None)

    def submit_async(self, inputs: Arrays) -> asyncio.Future:
        """Enqueue one request from a coroutine; an asyncio future of its outputs (errors raise at once).

        The batch thread resolves all of a batch's futures of one event loop with a single
        ``call_soon_threadsafe``: one wake-up of the loop per batch instead of one per request, which is most
        of what handing a request to a thread and back costs."""
        return self._enqueue(inputs, asyncio.get_running_loop())

    def _enqueue(self, inputs: Arrays, loop: asyncio.AbstractEventLoop | None):
        size = task_size(inputs)
        if size > self.params.max_batch_size:
            raise task_too_large(size, self.params.max_batch_size)
        task = _Task(inputs, size, loop)
        with self._cv:
            if self._stopped:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "Batch scheduler is stopped")
            if self._open.size + size > self.params.max_batch_size:
                # the open batch counts as enqueued: BasicBatchScheduler refuses a new batch past the limit
                if len(self._closed) + 1 >= self.params.max_enqueued_batches:
                    self.stats["rejected"] += 1
                    raise queue_full()
                self._closed.append(self._open)
                self._open = _Batch()
            if not self._open.tasks:
                self._open.opened = time.monotonic()
            self._open.tasks.append(task)
            self._open.size += size
            self._cv.notify()
        return task.future

    # ------------------------------------------------------------------ batch threads
    def _take(self) -> _Batch | None:
        """Wait for a batch that is ready to run (called with the condition held)."""
        timeout_s = self.params.batch_timeout_micros / 1e6
        while not self._stopped:
            if self._closed:
                return self._closed.popleft()
            if self._open.tasks:
                age = time.monotonic() - self._open.opened
                if self._open.size >= self.params.max_batch_size or age >= timeout_s:
                    batch, self._open = self._open, _Batch()
                    return batch
                self._cv.wait(timeout_s - age)
            else:
                self._cv.wait(0.5)
        return None

    def _loop(self) -> None:
        while True:
            with self._cv:
                batch = self._take()
            if batch is None:
                return
            self._process(batch)

    def _padded_size(self, size: int) -> int:
        for allowed in self.params.allowed_batch_sizes:
            if allowed >= size:
                return allowed
        return size

    def _process(self, batch: _Batch) -> None:
        tasks = batch.tasks
        try:
            names = list(tasks[0].inputs)
            merged = {n: np.concatenate([t.inputs[n] for t in tasks], axis=0) for n in names}
            padded = self._padded_size(batch.size)
            if padded > batch.size:
                merged = {
                    n: np.concatenate([v, np.repeat(v[:1], padded - batch.size, axis=0)]) for n, v in merged.items()
                }
            outputs = self.run(merged)
            self.stats["calls"] += 1
            self.stats["rows"] += batch.size
            self.stats["max_rows"] = max(self.stats["max_rows"], batch.size)
            results, start = [], 0
            for task in tasks:
                results.append((task, {n: v[start : start + task.size] for n, v in outputs.items()}, False))
                start += task.size
        except BaseException as err:  # every waiting request gets the model's error
            results = [(task, err, True) for task in tasks]
        _settle(results)

    def stop(self) -> None:
        """Finish the batches already queued, then stop the threads."""
        with self._cv:
            if self._open.tasks:
                self._closed.append(self._open)
                self._open = _Batch()
            pending = list(self._closed)
            self._closed.clear()
            self._stopped = True
            self._cv.notify_all()
        for batch in pending:
            self._process(batch)
        for thread in self._threads:
            thread.join(timeout=5)


def _set(future, value, is_error: bool) -> None:
    """Resolve a future unless it is already done (a request whose deadline passed is not answered)."""
    if future.done():
        return
    try:
        if is_error:
            future.set_exception(value)
        else:
            future.set_result(value)
    except InvalidStateError:  # cancelled in the meantime (concurrent futures)
        pass


def _set_all(results: list) -> None:
    for future, value, is_error in results:
        _set(future, value, is_error)


def _settle(results: list) -> None:
    """Resolve each task's future: concurrent futures here, asyncio futures on their own loop, one callback
    per loop for the whole batch (asyncio futures are not thread-safe)."""
    by_loop: dict = {}
    for task, value, is_error in results:
        if task.loop is None:
            _set(task.future, value, is_error)
        else:
            by_loop.setdefault(task.loop, []).append((task.future, value, is_error))
    for loop, pending in by_loop.items():
        try:
            loop.call_soon_threadsafe(_set_all, pending)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass
