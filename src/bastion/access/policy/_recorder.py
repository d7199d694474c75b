"""Where decisions go: the ledger, in batches, so recording costs the caller next to nothing.

The guard decides once per request. :class:`LedgerRecorder` keeps decisions in a bounded
buffer and appends them through the ledger's group committer (one transaction and one
signed checkpoint per batch) when ``batch`` are waiting (from the thread that records)
or the oldest has waited ``max_delay_s`` (a one-shot timer armed while anything waits, so
a quiet guard still writes its last decisions within that delay). A full buffer
(the ledger is down or slower than traffic) raises :class:`LedgerBusyError`, which the
engine turns into a denial: nothing is allowed that cannot be audited. Call
:meth:`flush` (or :meth:`close`) before the process ends; a crash loses at most the
decisions still buffered (at most ``batch``, or ``max_delay_s`` worth).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

from bastion.core.errors import LedgerBusyError
from bastion.core.ledger import Event, Ledger

__all__ = ["DecisionRecorder", "LedgerRecorder", "NullRecorder", "SyncRecorder"]


@runtime_checkable
class DecisionRecorder(Protocol):
    def record(self, event: Event) -> None: ...

    def flush(self) -> None: ...


class NullRecorder:
    """Records nothing: for the policy test runner and dry runs, never for enforcement."""

    def record(self, event: Event) -> None:
        return None

    def flush(self) -> None:
        return None


class SyncRecorder:
    """One ledger append per decision (through the group committer): for the CLI and API,
    where a decision is one request and durability before the answer matters more."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def record(self, event: Event) -> None:
        self.ledger.append([event])

    def flush(self) -> None:
        return None


class LedgerRecorder:
    def __init__(
        self,
        ledger: Ledger,
        *,
        batch: int = 256,
        max_delay_s: float = 0.2,
        max_pending: int = 10_000,
        timer: bool = True,
    ) -> None:
        if batch < 1 or max_pending < batch:
            raise ValueError("need 1 <= batch <= max_pending")
        self.ledger = ledger
        self.batch, self.max_delay_s, self.max_pending = batch, max_delay_s, max_pending
        self._buf: list[Event] = []
        self._first = 0.0
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        #: without the timer, a batch waits for the next decision after max_delay_s
        self.timer = timer
        self._timer: threading.Timer | None = None
        self.recorded = 0  # events durably appended
        self.last_error: BaseException | None = None

    @property
    def pending(self) -> int:
        return len(self._buf)

    def record(self, event: Event) -> None:
        with self._lock:
            if len(self._buf) >= self.max_pending:
                raise LedgerBusyError(
                    f"{len(self._buf)} decisions wait for the ledger; refusing more"
                )
            if not self._buf:
                self._first = time.monotonic()
                self._arm()
            self._buf.append(event)
            due = len(self._buf) >= self.batch or (
                time.monotonic() - self._first >= self.max_delay_s
            )
        if due and self._flushing.acquire(blocking=False):
            try:
                self._drain(raise_errors=False)
            finally:
                self._flushing.release()

    def flush(self) -> None:
        """Append everything buffered now; raises the ledger's error (events kept)."""
        with self._flushing:
            self._drain(raise_errors=True)

    def _arm(self) -> None:
        """(under ``_lock``) a timer that drains what waits once ``max_delay_s`` passed."""
        if self._timer is None and self.timer:
            t = threading.Timer(self.max_delay_s, self._due)
            t.daemon = True
            self._timer = t
            t.start()

    def _due(self) -> None:
        with self._lock:
            self._timer = None
        if self._flushing.acquire(blocking=False):
            try:
                self._drain(raise_errors=False)
            finally:
                self._flushing.release()
        with self._lock:
            if self._buf:  # a failed append, or new arrivals while draining
                self._arm()

    def _drain(self, *, raise_errors: bool) -> None:
        while True:
            with self._lock:
                take, self._buf = self._buf, []
            if not take:
                return
            try:
                self.ledger.append(take)
            except Exception as exc:
                with self._lock:  # put them back in order, ahead of newer ones
                    self._buf = take + self._buf
                    self._first = time.monotonic()
                self.last_error = exc
                if raise_errors:
                    raise
                return
            self.recorded += len(take)
            self.last_error = None

    def close(self) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        self.flush()
