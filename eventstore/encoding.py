"""How events are stored: an orjson transcoder for the eventsourcing library and a lean event
encoder for the append path.

Datetimes are stored as RFC 3339 strings (orjson's native encoding) and revived by field name:
`timestamp`, any field ending in `_at`, and the snapshot fields `_created_on` / `_modified_on`
hold datetimes — and only they do (a test checks every event class). Raw readers (replay,
projections) rely on the same convention. Decimals, the one other non-JSON type, are tagged as
the library's JSONTranscoder tags them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
from eventsourcing.persistence import Transcoder
from eventsourcing.utils import get_topic

from eventstore.rows import StoredRow

DATETIME_FIELDS = frozenset({"timestamp", "_created_on", "_modified_on"})


def is_datetime_field(name: str) -> bool:
    return name in DATETIME_FIELDS or name.endswith("_at")


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return {"_type_": "decimal_str", "_data_": str(obj)}
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot store a {type(obj).__name__} in an event")


def _revive(obj: Any) -> Any:
    if isinstance(obj, dict):
        if len(obj) == 2 and obj.get("_type_") == "decimal_str" and "_data_" in obj:
            return Decimal(obj["_data_"])
        return {
            k: datetime.fromisoformat(v)
            if isinstance(v, str) and is_datetime_field(k)
            else _revive(v)
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_revive(v) for v in obj]
    return obj


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj, default=_default)

    def decode(self, data: bytes) -> Any:
        return _revive(orjson.loads(data))


_classes: dict[type, tuple[str, int]] = {}  # event class -> (topic, class version)


def encode_event(event: Any) -> StoredRow:
    """What the library's Mapper.to_stored_event does (no cipher or compressor configured),
    without building intermediate objects: this is on the append path of every event."""
    cls = type(event)
    known = _classes.get(cls)
    if known is None:
        known = _classes[cls] = (get_topic(cls), getattr(cls, "class_version", 1))
    topic, class_version = known
    state = dict(event.__dict__)
    originator_id = state.pop("originator_id")
    originator_version = state.pop("originator_version")
    if class_version > 1:
        state["class_version"] = class_version
    return originator_id, originator_version, topic, orjson.dumps(state, default=_default)
