"""A synthetic call history for lead scoring (deterministic): converted calls more often
mention 'appointment' and last longer, with noise enough that neither decides alone."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from domain.scoring import CallFeatures
from evidence.models import LabelledCall

SOURCES = ("google", "facebook", "bing", "radio")
KEYWORDS = ("plumber near me", "emergency plumber", "drain cleaning", None)
NOISE_PHRASES = ("price", "estimate", "cancel", "voicemail")
START = datetime(2026, 11, 1, tzinfo=UTC)


def synthetic_calls(count: int, seed: int = 24) -> list[LabelledCall]:
    rng = random.Random(seed)
    calls = []
    for n in range(count):
        source = rng.choice(SOURCES)
        converted = rng.random() < (0.35 if source == "google" else 0.25)
        mentions = rng.random() < (0.70 if converted else 0.15)
        phrases = {"appointment"} if mentions else set()
        phrases.update(p for p in NOISE_PHRASES if rng.random() < 0.2)
        mean_s = 240 if converted else 90
        duration_s = max(0, int(rng.lognormvariate(0, 0.8) * mean_s))
        pinged_at = START + timedelta(minutes=rng.randrange(60 * 24 * 30))
        calls.append(
            LabelledCall(
                f"call_{n:032x}",
                CallFeatures(
                    duration_s,
                    source,
                    rng.choice(KEYWORDS),
                    pinged_at.hour,
                    (("insured", rng.choice(("yes", "no"))),),
                    tuple(sorted(phrases)),
                ),
                converted,
            )
        )
    return calls
