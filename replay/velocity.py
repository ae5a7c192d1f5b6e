"""Replay's own count of each caller's pings, for the velocity screen (`domain.screening`).

Every ping recorded with a velocity count (`PingReceived.screening.velocity`) was added to
the caller's count in Redis at its `at_ms`. The log gives the same set, so each recorded
decision is held to it:

- a ping **refused** for velocity must be justified by the log: at least `calls` other pings
  of the caller with `at_ms - window < t ≤ at_ms`;
- a ping **let through** must not be one the log says to refuse: fewer than `calls` pings
  with `at_ms - window < t ≤ at_ms - VELOCITY_RACE_MS`. Pings closer before it may have been
  timestamped before it but counted after it (concurrent pings: a ping's time is taken when
  it arrives, its Redis script runs a little later), so they are not held against it.

A ping is recorded after it is screened, so a ping timestamped before another may come later
in the log: each check waits until the log has reached a ping `VELOCITY_RACE_MS` past it (or
the end of the log). Memory: each caller's times within the longest window (plus the margin)
of the latest time seen.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass, field

from domain.limits import VELOCITY_CALLS, VELOCITY_RACE_MS, VELOCITY_WINDOW_S
from domain.screening import VelocitySeen

Failure = tuple[int, str, str, str]  # position, check, aggregate id, message
KEEP_MS = VELOCITY_WINDOW_S.maximum * 1000 + 2 * VELOCITY_RACE_MS
SWEEP_EVERY = 100_000  # pings added between sweeps of callers not seen lately


@dataclass(order=True, slots=True)
class _Pending:
    due_ms: int
    seq: int
    position: int = field(compare=False)
    call_id: str = field(compare=False)
    caller_hash: str = field(compare=False)
    seen: VelocitySeen = field(compare=False)
    refused: bool = field(compare=False)  # by velocity (else: let through)


class Velocity:
    def __init__(self) -> None:
        self.times: dict[str, list[int]] = {}  # caller hash -> ping times (ms), ascending
        self.pending: list[_Pending] = []
        self.latest_ms: int | None = None
        self.added = 0

    def add(
        self,
        call_id: str,
        caller_hash: str,
        seen: VelocitySeen,
        position: int,
        refused: bool | None,
    ) -> None:
        """A ping counted at `seen.at_ms`; its decision — `refused` for velocity (True), let
        through (False), refused by another screen (None: nothing to check) — is checked
        later (`resolve`)."""
        times = self.times.setdefault(caller_hash, [])
        bisect.insort(times, seen.at_ms)
        self.latest_ms = seen.at_ms if self.latest_ms is None else max(self.latest_ms, seen.at_ms)
        horizon = self.latest_ms - KEEP_MS
        if times[0] < horizon:
            del times[: bisect.bisect_left(times, horizon)]
        if seen.window_s and refused is not None:
            heapq.heappush(
                self.pending,
                _Pending(
                    seen.at_ms + VELOCITY_RACE_MS,
                    self.added,
                    position,
                    call_id,
                    caller_hash,
                    seen,
                    refused,
                ),
            )
        self.added += 1
        if self.added % SWEEP_EVERY == 0:
            self._sweep(horizon)

    def resolve(self, now_ms: int | None) -> list[Failure]:
        """The checks due once the log has reached `now_ms` (None: the end of the log)."""
        if now_ms is not None:
            self.latest_ms = now_ms if self.latest_ms is None else max(self.latest_ms, now_ms)
        failures = []
        while self.pending and (now_ms is None or self.pending[0].due_ms <= (self.latest_ms or 0)):
            check = heapq.heappop(self.pending)
            message = self._problem(check)
            if message is not None:
                failures.append((check.position, "screening", check.call_id, message))
        return failures

    def _problem(self, check: _Pending) -> str | None:
        seen = check.seen
        times = self.times.get(check.caller_hash, [])
        start = seen.at_ms - seen.window_s * 1000
        first = bisect.bisect_right(times, start)
        others = bisect.bisect_right(times, seen.at_ms) - first - 1  # less the ping itself
        surely_before = max(0, bisect.bisect_right(times, seen.at_ms - VELOCITY_RACE_MS) - first)
        if check.refused and others < seen.calls:
            return (
                f"refused for velocity ({seen.count} counted); the log has {others} other "
                f"pings of the caller within {seen.window_s} s before it, fewer than "
                f"{seen.calls}"
            )
        if not check.refused and min(surely_before, VELOCITY_CALLS.maximum) >= seen.calls:
            return (
                f"let through with {seen.count} counted; the log has {surely_before} pings of "
                f"the caller within {seen.window_s} s and at least {VELOCITY_RACE_MS} ms "
                f"before it (the campaign allows {seen.calls})"
            )
        return None

    def _sweep(self, horizon: int) -> None:
        """Forget callers whose latest ping is older than any window still to be checked."""
        for caller in [c for c, times in self.times.items() if not times or times[-1] < horizon]:
            del self.times[caller]
