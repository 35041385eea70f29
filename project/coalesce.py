"""Many concurrent requests' writes as one call: group commit inside a web process.

A single-review create costs one trip to the ORM thread pool, one prediction call, one INSERT and
one commit, and most of that cost is per call, not per review. `Coalescer.submit` queues an item and
awaits its own outcome; the items that arrive while earlier batches are running go together into
the next call of the batch function (on the ORM thread pool, project.routing), as many as
`max_batch`, with at most `max_in_flight` calls running at once per event loop.

Nothing waits for a batch to fill: with no batch running, an item is sent at once on its own, so a
lone request pays no latency. Under load the batches grow by themselves, and each request still
gets its own result or its own exception (the batch function isolates items that fail), after its
row has committed.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from project.routing import run_in_orm_thread

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


@dataclass
class _LoopState(Generic[Item]):
    pending: list[tuple[Item, asyncio.Future]] = field(default_factory=list)
    in_flight: int = 0
    tasks: set[asyncio.Task] = field(default_factory=set)  # strong references until each batch ends


class Coalescer(Generic[Item, Outcome]):
    def __init__(
        self,
        handle_batch: Callable[[list[Item]], Sequence[Outcome | BaseException]],
        *,
        max_batch: int = 64,
        max_in_flight: int = 1,
    ) -> None:
        """`handle_batch` takes the items and returns, in order, each one's outcome or the exception
        to raise for it; it runs on the ORM thread pool and releases its database connection there."""
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be at least 1")
        self._handle_batch = handle_batch
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        # One queue per event loop: uvicorn runs one per process, a test client one per client.
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState[Item]] = (
            weakref.WeakKeyDictionary()
        )

    async def submit(self, item: Item) -> Outcome:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _LoopState()
        future: asyncio.Future = loop.create_future()
        # Marks an error as seen even when its request has gone (no "exception never retrieved" noise).
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        state.pending.append((item, future))
        self._start_batches(state)
        # Shielded: a client that goes away does not cancel the batch its item is part of (the
        # others still need it); its item is stored all the same, as a plain def endpoint's would be.
        return await asyncio.shield(future)

    def _start_batches(self, state: _LoopState[Item]) -> None:
        while state.pending and state.in_flight < self.max_in_flight:
            batch, state.pending = state.pending[: self.max_batch], state.pending[self.max_batch :]
            state.in_flight += 1
            task = asyncio.ensure_future(self._run(state, batch))
            state.tasks.add(task)
            task.add_done_callback(state.tasks.discard)

    async def _run(self, state: _LoopState[Item], batch: list[tuple[Item, asyncio.Future]]) -> None:
        try:
            outcomes: Sequence[Outcome | BaseException] = await run_in_orm_thread(
                self._handle_batch, [item for item, _ in batch]
            )
            if len(outcomes) != len(batch):
                raise RuntimeError(f"batch function returned {len(outcomes)} outcomes for {len(batch)} items")
        except BaseException as exc:  # the whole call failed: every item in it gets that error
            outcomes = [exc] * len(batch)
        finally:
            state.in_flight -= 1
        for (_, future), outcome in zip(batch, outcomes):
            if future.done():
                continue
            if isinstance(outcome, asyncio.CancelledError):
                future.cancel()
            elif isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        self._start_batches(state)
