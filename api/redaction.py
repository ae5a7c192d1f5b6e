"""What each role may see of a call (pure). Finance, analysts and admins see everything; a
publisher sees its own calls without any buyer's bid, price or destination; a buyer sees the
calls it won, with its own bids only and without the publisher's payout or attribution."""

from __future__ import annotations

from typing import Any

BID_EVENTS = frozenset({"BidReceived", "BidRejected", "BidTimedOut"})
# fields a publisher never sees: buyers' bids, prices and who they are
HIDDEN_FROM_PUBLISHERS = frozenset(
    {
        "ranking",
        "excluded",
        "skipped",
        "price_cents",
        "revenue_cents",
        "margin_cents",
        "winner_buyer_id",
        "winner_target_id",
        "buyer_id",
        "target_id",
        "destination",
        "hold_id",
        "seed",
        "rr_cursor",
        "floor_cents",
        "reversal_transfer_id",
        "buffer_s",
    }
)
# fields a buyer never sees: the publisher, its payout, its attribution, other buyers
HIDDEN_FROM_BUYERS = frozenset(
    {
        "publisher_id",
        "payout_cents",
        "margin_cents",
        "attribution",
        "tags",
        "ranking",
        "excluded",
        "skipped",
        "seed",
        "rr_cursor",
        "floor_cents",
        "duplicate_of",
    }
)
CALL_COLUMNS_HIDDEN = {
    "publisher": frozenset(
        {"buyer_id", "target_id", "price_cents", "revenue_cents", "margin_cents"}
    ),
    "buyer": frozenset(
        {
            "publisher_id",
            "payout_offer_cents",
            "payout_cents",
            "margin_cents",
            "source",
            "medium",
            "utm_campaign",
            "keyword",
            "tracking_number",
        }
    ),
}


def buyers_of(events: list[tuple[str, dict[str, Any]]]) -> set[str]:
    """The buyers a call was routed to (won by), from its events."""
    found = set()
    for name, state in events:
        if name == "AuctionDecided":
            found.add(state["winner_buyer_id"])
        elif name == "CallRouted":
            found.add(state["buyer_id"])
    return found


def visible_events(
    role: str, owner_id: str | None, events: list[tuple[str, dict[str, Any]]]
) -> list[tuple[str, dict[str, Any]]]:
    if role not in ("publisher", "buyer"):
        return events
    hold_buyers = {
        state["hold_id"]: state.get("winner_buyer_id", state.get("buyer_id"))
        for name, state in events
        if name in ("AuctionDecided", "CallRouted")
    }
    shown = []
    for name, state in events:
        if role == "publisher":
            if name in BID_EVENTS:
                continue
            shown.append(
                (name, {k: v for k, v in state.items() if k not in HIDDEN_FROM_PUBLISHERS})
            )
            continue
        if name in BID_EVENTS and state.get("buyer_id") != owner_id:
            continue
        if name in ("CallRouted", "CallBilled", "CallNotBilled") and state.get("buyer_id") not in (
            owner_id,
            None,
        ):
            continue
        if name == "CallFailedOver" and hold_buyers.get(state["hold_id"]) != owner_id:
            continue
        kept = {
            k: v for k, v in state.items() if k not in HIDDEN_FROM_BUYERS and k != "next_target_id"
        }
        if name == "AuctionDecided" and state.get("winner_buyer_id") != owner_id:
            kept = {k: v for k, v in kept.items() if k in ("timestamp", "rule_version", "mode")}
        shown.append((name, kept))
    return shown


def visible_row(role: str, row: dict[str, Any]) -> dict[str, Any]:
    hidden = CALL_COLUMNS_HIDDEN.get(role, frozenset())
    return {k: v for k, v in row.items() if k not in hidden}
