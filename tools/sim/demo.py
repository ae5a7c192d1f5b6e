"""`ppcx-tools demo`: a realistic market driven end to end through the HTTP API.

20 publishers, 60 buyers over five verticals (standing bidders and real-time bidders — real
HTTP servers on loopback, in a process of their own), tracking numbers and DNI pools; then
calls over their whole life: ping, post, answered or not, failover, durations around the
buffers, duplicates, conversions, disputes and their resolution.

Determinism: the exchange's clock is a ManualClock advanced by the driver (simulated time),
auction seeds come from the demo's seed, and RTB bids are a function of the ping's geo and
keyword, so the same seed gives the same books. Everything derived that could lag behind the
log is brought up to date at fixed points of the run instead of on a timer: the expiry sweep
runs before each call (`POST /v1/ops/sweep`) and Redis's copy of the configuration after each
set-up command, completion and dispute resolution; deposits are large enough that funds never
bind (the exchange's funds pre-check reads a 100 ms cache). Whether an RTB bidder answers in
time is decided by the seed, never by the machine's speed: an on-time bidder answers after a
fixed delay drawn from the seed, at least 100 times inside its timeout; a late one answers only
when the demo ends, long after its short timeout."""

from __future__ import annotations

import hashlib
import math
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn

from api.keys import KeyHasher
from domain.clock import ManualClock
from domain.commands import SetPassword
from domain.invariant import present
from portal.invites import invite, token_hash, token_in, user_of
from portal.passwords import hash_password
from ppcx.bootstrap import build_domain
from ppcx.secrets import secret_key
from ppcx.services import drop_redis_keys, free_loopback_port
from ppcx.settings import Settings
from ppcx.web import create_app
from tools.sim.rtb_server import Bidder, RtbProcess

START = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # a Monday, 7 am in California
MARKER = "demo.marker"
VERTICALS = {  # vertical: (publisher payout, standing bid range in dollars, buffer range s)
    "legal": ({"fixed": "45.00"}, (60, 110), (90, 120)),
    "insurance": ({"share": "0.65"}, (22, 40), (60, 90)),
    "home_services": ({"fixed": "12.00"}, (18, 35), (60, 90)),
    "solar": ({"share": "0.60"}, (35, 70), (90, 120)),
    "medical": ({"fixed": "20.00"}, (28, 55), (60, 120)),
}
AREA_CODES = {
    "CA": ("310", "415", "213"),
    "TX": ("512", "713"),
    "FL": ("305", "407"),
    "NY": ("212", "718"),
    "IL": ("312",),
    "PA": ("215",),
    "OH": ("216",),
    "GA": ("404",),
    "NC": ("704",),
    "AZ": ("602",),
    "WA": ("206",),
}
TIME_ZONES = ("America/Los_Angeles", "America/Chicago", "America/New_York", "America/Denver")
SOURCES = (
    ("google", "cpc"),
    ("bing", "cpc"),
    ("facebook", "social"),
    ("tv", "broadcast"),
    ("seo", "organic"),
)
KEYWORDS = {
    "legal": ("car accident lawyer", "injury attorney near me"),
    "insurance": ("cheap auto insurance", "home insurance quote"),
    "home_services": ("emergency plumber", "roof repair"),
    "solar": ("solar panels cost", "solar installers"),
    "medical": ("dentist near me", "urgent care"),
}
PUBLISHERS = 20
BUYERS_PER_VERTICAL = 12
RTB_SHARE = 3  # every third buyer bids in real time
DNI_POOL_SIZE = 4  # numbers in each publisher's pool for a campaign
# RTB timing, far from every deadline either way, so a loaded machine changes no outcome:
RTB_DEADLINE_MS = 5000  # the campaigns' whole decision (the most a campaign allows)
RTB_TIMEOUT_MS = 4000  # an on-time bidder's own timeout: 100× its longest answer time
RTB_DELAY_MS_RANGE = (5, 40)  # an on-time bidder's fixed answer time, drawn from the seed
RTB_LATE_TIMEOUT_MS = 50  # a late bidder's own timeout; it answers only when the demo ends
RTB_LATE_SHARE = 0.2  # the share of RTB buyers that are late, drawn from the seed


@dataclass(frozen=True)
class DemoBid:
    """An RTB buyer's bidding logic: a price from its base, the caller's state and the
    keyword (deterministic, so the same seed gives the same books); it declines some."""

    name: str
    base_cents: int

    def __call__(self, payload: dict[str, Any]) -> str | None:
        caller = payload.get("caller", {})
        keyword = (payload.get("attribution") or {}).get("keyword") or ""
        digest = hashlib.blake2b(
            f"{self.name}|{caller.get('state')}|{caller.get('zip')}|{keyword}".encode(),
            digest_size=4,
        ).digest()
        roll = int.from_bytes(digest, "big")
        if roll % 7 == 0:
            return None
        cents = self.base_cents + (roll % 1500) - 500
        return f"{cents // 100}.{cents % 100:02d}"


@dataclass
class Outcome:
    calls: int = 0
    accepted: int = 0
    posted: int = 0
    answered: int = 0
    failovers: int = 0
    billed: int = 0
    not_billed: dict[str, int] = field(default_factory=dict)
    converted: int = 0
    disputes: int = 0
    disputes_accepted: int = 0

    def summary(self) -> str:
        not_billed = ", ".join(f"{k} {v}" for k, v in sorted(self.not_billed.items()))
        return (
            f"{self.calls} pinged · {self.accepted} won · {self.posted} posted · "
            f"{self.answered} answered · {self.failovers} failovers · {self.billed} billed"
            f" (not billed: {not_billed or 'none'}) · {self.converted} converted · "
            f"{self.disputes} disputes ({self.disputes_accepted} accepted)"
        )


@dataclass
class _Market:
    publishers: dict[str, str] = field(default_factory=dict)  # id -> key
    campaigns: dict[str, str] = field(default_factory=dict)  # vertical -> id
    allowed: dict[str, list[str]] = field(default_factory=dict)  # publisher -> verticals
    buyers: dict[str, str] = field(default_factory=dict)  # id -> key
    destinations: dict[str, str] = field(default_factory=dict)  # destination -> buyer id
    pools: dict[tuple[str, str], str] = field(default_factory=dict)  # (pub, vertical) -> id
    finance_key: str = ""


def reset_data(settings: Settings, redis_url: str, force: bool) -> None:
    """The demo owns its data dir: it starts from an empty store, so the same seed gives the
    same books. A store it did not create is left alone unless `force`."""
    data = settings.resolved_data_dir
    data.mkdir(parents=True, exist_ok=True)
    store = Path(settings.sqlite_dbname or data / "events.sqlite")
    if store.exists() and not (data / MARKER).exists() and not force:
        raise RuntimeError(
            f"{store} holds events the demo did not create; use another "
            "PPCX_DATA_DIR, or --force to replace them"
        )
    duckdb = settings.resolved_duckdb_path
    for path in (
        store,
        Path(f"{store}-wal"),
        Path(f"{store}-shm"),
        duckdb,
        duckdb.with_suffix(".snapshot.duckdb"),
        Path(f"{duckdb}.wal"),
    ):
        path.unlink(missing_ok=True)
    drop_redis_keys(redis_url, f"{settings.redis_prefix}:*", cluster=settings.redis_cluster)
    (data / MARKER).write_text("created by ppcx demo\n")


@contextmanager
def serving(settings: Settings, clock: ManualClock, seeds: Callable[[], int]) -> Iterator[str]:
    """The API under uvicorn on a loopback port, in a thread; stopped on exit."""
    port = free_loopback_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, clock=clock, seeds=seeds, background_sweep=False),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, name="ppcx-demo-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


class Driver:
    def __init__(
        self, client: httpx.Client, admin_key: str, clock: ManualClock, rng: random.Random
    ) -> None:
        self.http = client
        self.admin_key = admin_key
        self.clock = clock
        self.rng = rng
        self.market = _Market()
        self.outcome = Outcome()

    def call_api(
        self,
        method: str,
        path: str,
        key: str,
        body: Any = None,
        expect: tuple[int, ...] = (200, 201, 204),
    ) -> Any:
        response = self.http.request(
            method, path, json=body, headers={"Authorization": f"Bearer {key}"}
        )
        if response.status_code not in expect:
            raise RuntimeError(f"{method} {path} → {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def admin(self, path: str, body: Any) -> Any:
        return self.call_api("POST", path, self.admin_key, body)

    # -- the market ---------------------------------------------------------------------------
    def build(self, rtb: RtbProcess | None, rtb_names: list[str]) -> None:
        m, rng = self.market, self.rng
        m.finance_key = self.admin("/v1/api-keys", {"role": "finance"})["api_key"]
        for vertical, (payout, _, _) in VERTICALS.items():
            m.campaigns[vertical] = self.admin(
                "/v1/campaigns",
                {
                    "name": f"{vertical.replace('_', ' ')} calls",
                    "vertical": vertical,
                    "publisher_payout": payout,
                    "duplicate_window_days": 30,
                    "min_margin": "2.00",
                    "rtb_deadline_ms": RTB_DEADLINE_MS,
                },
            )["id"]
        verticals = list(VERTICALS)
        for n in range(PUBLISHERS):
            created = self.admin("/v1/publishers", {"name": f"Publisher {n + 1:02d}"})
            m.publishers[created["id"]] = created["api_key"]
            m.allowed[created["id"]] = rng.sample(verticals, k=rng.randint(2, 4))
            for vertical in m.allowed[created["id"]]:
                self.admin(
                    f"/v1/campaigns/{m.campaigns[vertical]}/publishers",
                    {"publisher_id": created["id"]},
                )
            source, medium = SOURCES[n % len(SOURCES)]
            number = f"+1800555{n:04d}"
            self.admin(
                "/v1/numbers",
                {
                    "number": number,
                    "publisher_id": created["id"],
                    "campaign_id": m.campaigns[m.allowed[created["id"]][0]],
                    "source": source,
                    "medium": medium,
                },
            )
        states = list(AREA_CODES)
        buyer_n = 0
        for vertical, (_, (low, high), (buffer_low, buffer_high)) in VERTICALS.items():
            for _ in range(BUYERS_PER_VERTICAL):
                buyer_n += 1
                zone = rng.choice(TIME_ZONES)
                created = self.admin(
                    "/v1/buyers",
                    {
                        "name": f"{vertical.replace('_', ' ').title()} Buyer {buyer_n:02d}",
                        "time_zone": zone,
                        "credit_limit": f"{rng.choice((0, 0, 250, 1000))}.00",
                    },
                )
                buyer_id = created["id"]
                m.buyers[buyer_id] = created["api_key"]
                self.call_api(
                    "POST",
                    f"/v1/buyers/{buyer_id}/deposits",
                    m.finance_key,
                    {
                        "amount": f"{rng.choice((20000, 40000, 80000))}.00",  # never binds
                        "reference": f"wire {buyer_n}",
                    },
                )
                destination = f"+1646555{buyer_n:04d}"
                m.destinations[destination] = buyer_id
                target: dict[str, Any] = {
                    "buyer_id": buyer_id,
                    "campaign_id": m.campaigns[vertical],
                    "name": f"{vertical} {buyer_n}",
                    "destination": destination,
                    "buffer_s": rng.randrange(buffer_low, buffer_high + 1, 30),
                    "geo": {"mode": "allow", "states": rng.sample(states, k=rng.randint(2, 6))},
                    "priority": rng.randint(0, 3),
                    "weight": rng.randint(1, 5),
                    "caps": {
                        "hourly": rng.choice((None, 8, 20)),
                        "daily_budget": rng.choice((None, "900.00")),
                    },
                }
                if rng.random() < 0.5:
                    target["schedule"] = {
                        "time_zone": zone,
                        "hours": {
                            day: [["07:00", "21:00"]]
                            for day in ("mon", "tue", "wed", "thu", "fri", "sat")
                        },
                    }
                if buyer_n % RTB_SHARE == 0 and rtb is not None:
                    name = f"b{buyer_n}"
                    rtb_names.append(name)
                    target["rtb_url"] = rtb.url(name)
                    target["rtb_timeout_ms"] = rtb_timeout_ms(rtb.bidders[name])
                else:
                    target["bid"] = f"{rng.randint(low, high)}.{rng.choice((0, 50)):02d}"
                self.admin("/v1/targets", target)

    def sweep(self) -> None:
        """Release what expired by the simulated clock, at this fixed point of the run."""
        while self.call_api("POST", "/v1/ops/sweep", self.admin_key)["handled"]:
            pass

    # -- calls --------------------------------------------------------------------------------
    def one_call(self, callers: list[tuple[str, str, str]]) -> None:
        m, rng, out = self.market, self.rng, self.outcome
        self.clock.advance(timedelta(seconds=rng.expovariate(1 / 25)))
        self.sweep()
        publisher_id = rng.choice(list(m.publishers))
        key = m.publishers[publisher_id]
        vertical = rng.choice(m.allowed[publisher_id])
        number, state, zip_code = rng.choice(callers)
        source, medium = rng.choice(SOURCES)
        attribution: dict[str, Any] = {
            "source": source,
            "medium": medium,
            "keyword": rng.choice(KEYWORDS[vertical]),
            "campaign": f"{vertical}-{source}",
        }
        if rng.random() < 0.1:  # a visitor of the publisher's landing page saw a DNI number
            session = f"s{rng.getrandbits(40):010x}"
            pool_id = self._dni_pool(publisher_id, vertical)
            query = urlencode({"pool": pool_id, "session": session, **attribution})
            self.call_api("GET", f"/v1/dni/number?{query}", key)
            attribution = {"dni_session": session}  # the lease carries the visit's attribution
        out.calls += 1
        ping = self.call_api(
            "POST",
            "/v1/pings",
            key,
            {
                "campaign_id": m.campaigns[vertical],
                "caller": {"number": number, "state": state, "zip": zip_code},
                "attribution": attribution,
            },
        )
        if not ping["accepted"]:
            return
        out.accepted += 1
        if rng.random() < 0.08:  # the publisher never transfers: the bid expires
            return
        posted = self.call_api(
            "POST", f"/v1/pings/{ping['ping_id']}/post", key, expect=(200, 409, 410)
        )
        if "call_id" not in posted:
            return
        out.posted += 1
        self._ring(posted["call_id"], posted["destination"], key)

    def _dni_pool(self, publisher_id: str, vertical: str) -> str:
        """The publisher's DNI pool on the vertical's campaign, created for its first web
        visitor (a ping may name only sessions of the publisher's own pools on its campaign)."""
        pools = self.market.pools
        if (publisher_id, vertical) not in pools:
            first = len(pools) * DNI_POOL_SIZE
            pools[publisher_id, vertical] = self.admin(
                "/v1/number-pools",
                {
                    "name": f"landing pages {len(pools) + 1}",
                    "campaign_id": self.market.campaigns[vertical],
                    "publisher_id": publisher_id,
                    "numbers": [f"+1888555{first + n:04d}" for n in range(DNI_POOL_SIZE)],
                },
            )["id"]
        return pools[publisher_id, vertical]

    def _ring(self, call_id: str, destination: str | None, key: str) -> None:
        rng, out = self.rng, self.outcome
        while destination is not None:
            roll = rng.random()
            if roll < 0.8:
                break
            kind = "no_answer" if roll < 0.92 else ("busy" if roll < 0.97 else "failed")
            answer = self.call_api("POST", f"/v1/calls/{call_id}/events", key, {"type": kind})
            out.failovers += 1
            destination = answer["destination"]
        if destination is None:
            return
        self.call_api("POST", f"/v1/calls/{call_id}/events", key, {"type": "answered"})
        out.answered += 1
        duration_s = max(3, int(math.exp(rng.gauss(math.log(150), 0.7))))
        billing = self.call_api(
            "POST",
            f"/v1/calls/{call_id}/events",
            key,
            {"type": "completed", "duration_s": duration_s},
        )
        if not billing["billable"]:
            out.not_billed[billing["reason"]] = out.not_billed.get(billing["reason"], 0) + 1
            return
        out.billed += 1
        buyer_key = self.market.buyers[self.market.destinations[destination]]
        if rng.random() < 0.25:
            self.call_api(
                "POST",
                f"/v1/calls/{call_id}/conversion",
                buyer_key,
                {"value": f"{rng.randint(80, 900)}.00"},
            )
            out.converted += 1
        if rng.random() < 0.04:
            dispute = self.call_api(
                "POST",
                f"/v1/calls/{call_id}/dispute",
                buyer_key,
                {"reason": rng.choice(("wrong number", "not qualified"))},
            )
            out.disputes += 1
            accept = rng.random() < 0.5
            self.call_api(
                "POST",
                f"/v1/disputes/{dispute['dispute_id']}/resolve",
                self.market.finance_key,
                {"accept": accept, "note": "reviewed the recording"},
            )
            out.disputes_accepted += int(accept)


def callers_for(count: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """A caller population smaller than the number of calls, so some call again
    (duplicates inside the window are not billed)."""
    found = []
    for n in range(max(10, count)):
        state = rng.choice(list(AREA_CODES))
        area = rng.choice(AREA_CODES[state])
        found.append(
            (
                f"+1{area}{rng.randint(200, 999)}{n % 10000:04d}",
                state,
                f"{rng.randint(10000, 99999)}",
            )
        )
    return found


def demo_settings(settings: Settings, redis_url: str, nats_url: str) -> tuple[Settings, str]:
    admin_key = secrets.token_urlsafe(24)
    return settings.model_copy(
        update={"redis_url": redis_url, "nats_url": nats_url, "bootstrap_admin_key": admin_key}
    ), admin_key


def rtb_timeout_ms(bidder: Bidder) -> int:
    """A demo target's own RTB timeout: short for a late bidder (which never answers before
    the demo ends), 100 times the longest answer time for an on-time one."""
    return RTB_LATE_TIMEOUT_MS if bidder.late else RTB_TIMEOUT_MS


def rtb_bidders(seed: int) -> dict[str, Bidder]:
    """The RTB buyers, each with its own pricing and declines; from the seed, each is on time
    (a fixed answer time of 5–40 ms) or late (it never answers while the demo runs)."""
    rng = random.Random(seed ^ 0x5EED)
    low_ms, high_ms = RTB_DELAY_MS_RANGE
    bidders = {}
    buyer_n = 0
    for _, (_, (low, high), _) in VERTICALS.items():
        for _ in range(BUYERS_PER_VERTICAL):
            buyer_n += 1
            if buyer_n % RTB_SHARE == 0:
                name = f"b{buyer_n}"
                bidders[name] = Bidder(
                    bid=DemoBid(name, rng.randint(low, high) * 100),
                    delay_ms=rng.randint(low_ms, high_ms),
                    late=rng.random() < RTB_LATE_SHARE,
                )
    return bidders


DEMO_PASSWORD = "ppcx-demo-password"  # noqa: S105 - printed by the demo: its portal users are for a look
DEMO_USERS = (
    ("admin@demo.ppcx", "admin"),
    ("buyer@demo.ppcx", "buyer"),
    ("publisher@demo.ppcx", "publisher"),
    ("finance@demo.ppcx", "finance"),
    ("analyst@demo.ppcx", "analyst"),
)


def portal_users(settings: Settings, market: _Market, at: datetime) -> list[tuple[str, str]]:
    """Portal users for the demo's market, each invited and its password set (as a person
    following the invite link would): an admin, a buyer's and a publisher's staff, finance and
    an analyst."""
    owners = {
        "admin": None,
        "finance": None,
        "analyst": None,
        "buyer": next(iter(market.buyers)),
        "publisher": next(iter(market.publishers)),
    }
    keys = KeyHasher(secret_key(settings))
    domain = build_domain(settings, clock=ManualClock(at))
    try:
        for email, role in DEMO_USERS:
            _, link = invite(
                domain.users,
                keys,
                email=email,
                role=role,
                owner_id=owners[role],
                by="demo",
                base_url="",
            )
            token = token_in(link)
            user_id = present(user_of(token), "an invite token names its user")
            domain.users.set_password(
                SetPassword(user_id, token_hash(keys, token), hash_password(DEMO_PASSWORD))
            )
    finally:
        domain.close()
    return [(email, role) for email, role in DEMO_USERS]
