"""Offline conversions for ad platforms: calls that came from an ad click (a click id on the
ping, e.g. Google's gclid) and were billed or converted, as Google Ads' offline click-conversion
upload file (its CSV template) or as GA4 Measurement Protocol event payloads.

A billed call (not reversed by an accepted dispute) is a "qualified call" conversion worth
what its reader earned from it (a publisher: its payout; internal readers: the revenue); a
converted call is a second conversion worth the buyer's reported value. The conversion time
is the call's completion (the projection keeps no later time for either), in UTC with its
offset written out."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import duckdb

from domain.money import format_cents

QUALIFIED_CALL = "PPCX qualified call"
CONVERTED_CALL = "PPCX converted call"
GOOGLE_ADS_COLUMNS = (
    "Google Click ID",
    "Conversion Name",
    "Conversion Time",
    "Conversion Value",
    "Conversion Currency",
)
GA4_EVENT_NAMES = {QUALIFIED_CALL: "ppcx_qualified_call", CONVERTED_CALL: "ppcx_converted_call"}
SQL = """
SELECT c.call_id, p.click_id, c.completed_at,
       coalesce(c.billed, false) AND NOT coalesce(c.reversed, false) AS billed,
       c.payout_cents, c.revenue_cents, coalesce(c.converted, false) AS converted,
       c.conversion_value_cents
FROM calls c JOIN pings p ON p.call_id = c.call_id
WHERE p.click_id IS NOT NULL AND p.click_id <> ''
  AND c.completed_at >= $start AND c.completed_at < $end
  AND (coalesce(c.billed, false) OR coalesce(c.converted, false))
  AND ($publisher IS NULL OR c.publisher_id = $publisher)
ORDER BY c.completed_at, c.call_id
"""


class ConversionFormat(StrEnum):
    GOOGLE_ADS = "google-ads"
    GA4 = "ga4"


class Worth(StrEnum):
    """What a qualified call is worth to the reader of the file."""

    PAYOUT = "payout"  # a publisher: what it earned
    REVENUE = "revenue"  # the exchange: what the buyer paid


@dataclass(frozen=True)
class Conversion:
    click_id: str
    name: str
    at: datetime
    value_cents: int
    call_id: str


def conversions(
    con: duckdb.DuckDBPyConnection,
    start: datetime,
    end: datetime,
    *,
    publisher_id: str | None = None,
    worth: Worth = Worth.REVENUE,
) -> list[Conversion]:
    """The conversions of calls completed in [start, end), a publisher's own when given."""
    rows = con.execute(SQL, {"start": start, "end": end, "publisher": publisher_id}).fetchall()
    found: list[Conversion] = []
    for call_id, click_id, at, billed, payout, revenue, converted, value in rows:
        if billed:
            cents = payout if worth == Worth.PAYOUT else revenue
            found.append(Conversion(click_id, QUALIFIED_CALL, at, int(cents or 0), call_id))
        if converted:
            found.append(Conversion(click_id, CONVERTED_CALL, at, int(value or 0), call_id))
    return found


def _time(at: datetime) -> str:
    """Google Ads' "yyyy-mm-dd hh:mm:ss+zzzz" (the zone written out: no account default)."""
    return at.strftime("%Y-%m-%d %H:%M:%S%z")


def google_ads_csv(found: Sequence[Conversion], currency: str = "USD") -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(GOOGLE_ADS_COLUMNS)
    for c in found:
        writer.writerow((c.click_id, c.name, _time(c.at), format_cents(c.value_cents), currency))
    return out.getvalue()


def ga4_lines(found: Sequence[Conversion], currency: str = "USD") -> list[str]:
    """`ga4_payloads` as JSON lines, each value a JSON number written from its decimal string
    (GA4 reads a number; money never passes through a float)."""
    lines = []
    for body in ga4_payloads(found, currency):
        params = body["events"][0]["params"]
        text = json.dumps(body, separators=(",", ":"))
        lines.append(text.replace(f'"value":"{params["value"]}"', f'"value":{params["value"]}'))
    return lines


def ga4_payloads(found: Sequence[Conversion], currency: str = "USD") -> list[dict[str, Any]]:
    """One Measurement Protocol body per conversion (POST to /mp/collect with the stream's
    measurement_id and api_secret). GA4 attributes by its own client id, which a phone call
    does not carry: `client_id` is a stable id per call, and the click id travels as the
    event's `click_id` parameter for the receiving side to join on."""
    return [
        {
            "client_id": f"ppcx.{c.call_id}",
            "timestamp_micros": int(c.at.timestamp() * 1_000_000),
            "events": [
                {
                    "name": GA4_EVENT_NAMES[c.name],
                    "params": {
                        "click_id": c.click_id,
                        "transaction_id": f"{c.call_id}:{GA4_EVENT_NAMES[c.name]}",
                        "value": format_cents(c.value_cents),
                        "currency": currency,
                    },
                }
            ],
        }
        for c in found
    ]
