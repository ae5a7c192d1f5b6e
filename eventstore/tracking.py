"""Followers' positions (`eventstore.store.Positions`) in the eventsourcing library's tracking
table of the same store — a stored format: the relay's position survives upgrades."""

from __future__ import annotations

from eventsourcing.persistence import Tracking, TrackingRecorder


class TrackedPositions:
    def __init__(self, recorder: TrackingRecorder) -> None:
        self.recorder = recorder

    def position(self, name: str) -> int:
        return self.recorder.max_tracking_id(name) or 0

    def advance(self, name: str, position: int) -> None:
        self.recorder.insert_tracking(Tracking(name, position))
