"""`ppcx-tools bench …`: figures next to baselines measured in the same run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from ppcx.commands.common import console, load_settings
from ppcx.services import ServiceRunner
from tools.bench.report import Figure, markdown, render, write_section

app = typer.Typer(help="Benchmarks: figures next to same-run baselines.", no_args_is_help=True)
BENCHMARKS_MD = Path("BENCHMARKS.md")


def publish(
    name: str, title: str, command: str, figures: list[Figure], notes: list[str], write: bool
) -> None:
    render(title, figures, console)
    if write:
        write_section(BENCHMARKS_MD, name, markdown(title, command, figures, notes))
        console.print(f"written to {BENCHMARKS_MD} (section {name})")


@app.command("store")
def store(
    calls: int = typer.Option(20_000, min=100, help="call aggregates appended in batches"),
    write: bool = typer.Option(False, help=f"update the section in {BENCHMARKS_MD}"),
) -> None:
    """Event-store append and read throughput (SQLite, PostgreSQL) vs raw SQLite."""
    from tools.bench import store as bench

    figures = bench.run(load_settings(), console, calls=calls)
    notes = [
        "Each call aggregate is 5 events (ping, three bids, auction decision), ~300 bytes each.",
        "The append path includes orjson encoding and the keyed audit-chain link per event; "
        "the raw baseline inserts the already-encoded rows. Batched figures are medians of 3 "
        "rounds that alternate ours and raw in fresh files.",
    ]
    publish(
        "store", "Event store", f"ppcx-tools bench store --calls {calls}", figures, notes, write
    )


@app.command("exchange")
def exchange(
    pings: int = typer.Option(400, min=20, help="pings per scenario"),
    write: bool = typer.Option(False, help=f"update the section in {BENCHMARKS_MD}"),
) -> None:
    """Ping → decision latency for 10/100/1,000 standing bids and 20 RTB bidders."""
    from tools.bench import exchange as bench

    settings = load_settings()
    with ServiceRunner(settings).session() as endpoints:
        figures = bench.run(settings, endpoints.redis_url, console, pings=pings)
    notes = [
        "Decision = ping received → eligibility, bids, ranking and the winner's atomic "
        "reservation in Redis; durable = plus appending the auction's events (one per bid) "
        "and the winner's hold in one SQLite transaction.",
        "RTB: 17 bidders answer in 5–135 ms (±10 ms jitter), two answer after the deadline, "
        "one declines; all are real HTTP servers on loopback, in a process of their own.",
    ]
    publish(
        "exchange", "Exchange", f"ppcx-tools bench exchange --pings {pings}", figures, notes, write
    )


def http_notes(workers: int, concurrency: int) -> list[str]:
    from tools.bench.http import P99_TARGET_MS, sweep_levels

    return [
        "Durable: the answer is sent after the auction's events (ping, one per bid, the "
        "decision and the winner's hold) are committed to SQLite with synchronous=FULL. The "
        "workers' writers take turns on the store's write lock and decide the holds on the "
        "buyer's account under it, a batch per turn.",
        "One buyer wins every auction (the highest standing bid): the worst case for its "
        "account, which both workers write.",
        f"Both servers run {workers} worker processes, each on its own SO_REUSEPORT socket "
        f"(`ppcx.workers`); the load generator (aiohttp on uvloop, keep-alive, {concurrency} "
        "concurrent clients, in the benchmark's process) shares the same 2 cores.",
        "Closed loop: every client sends its next request as soon as the last is answered, so "
        "at saturation latency is mostly queueing (clients ÷ throughput), for the baseline as "
        f"for PPCX. PPCX is driven at {', '.join(map(str, sweep_levels(concurrency)))} clients; "
        f"the target's figure is the most pings/s among the levels whose p99 is within "
        f"{P99_TARGET_MS:.0f} ms. Each level's figures are the median of 3 rounds (by "
        "throughput), as are the baseline's at full load.",
    ]


@app.command("http")
def http(
    pings: int = typer.Option(4000, min=100, help="pings to send"),
    concurrency: int = typer.Option(32, min=1, max=512, help="concurrent HTTP clients"),
    workers: int = typer.Option(
        2, min=1, max=16, help="worker processes of `ppcx serve` (and of the baseline)"
    ),
    screening_rounds: int = typer.Option(
        5,
        min=0,
        max=21,
        help="interleaved rounds of `--pings` with screening on and off, two fresh servers "
        "side by side (0: skip)",
    ),
    write: bool = typer.Option(False, help=f"update the section in {BENCHMARKS_MD}"),
) -> None:
    """Durable pings/s and latency through `ppcx serve` vs a bare FastAPI + Redis endpoint;
    and the ping path with screening on vs off."""
    from tools.bench import http as bench

    settings = load_settings()
    with ServiceRunner(settings).session() as endpoints:
        figures = bench.run(
            endpoints.redis_url,
            endpoints.nats_url,
            console,
            pings=pings,
            concurrency=concurrency,
            workers=workers,
            screening_rounds=screening_rounds,
        )
    notes = http_notes(workers, concurrency)
    if screening_rounds:
        notes.append(
            "Screening on vs off: two more fresh `ppcx serve` (the same market, the campaign's "
            "velocity 10 calls in 600 s; every caller new, so nothing is refused: the cost is "
            "the screening itself — the number classified, one Redis script per ping, the "
            f"facts recorded), {screening_rounds} interleaved rounds at {concurrency} clients "
            "after a warm-up, each side's median; off is `PPCX_SCREENING=false`, the ping path "
            "as before screening."
        )
    command = (
        f"ppcx-tools bench http --pings {pings} --concurrency {concurrency} --workers {workers}"
        f" --screening-rounds {screening_rounds}"
    )
    publish("http", "HTTP API", command, figures, notes, write)


@app.command("projections")
def projections(
    log_calls: int = typer.Option(20_000, min=100, help="calls in the relayed/projected log"),
    query_calls: int = typer.Option(10_000_000, min=1000, help="synthetic calls for queries"),
    write: bool = typer.Option(False, help=f"update the section in {BENCHMARKS_MD}"),
) -> None:
    """Relay msgs/s, projector events/s, and report query times over 10 M calls."""
    from tools.bench import projections as bench

    settings = load_settings()
    with ServiceRunner(settings).session() as endpoints:
        figures = bench.run(
            settings, endpoints.nats_url, console, log_calls=log_calls, query_calls=query_calls
        )
    notes = [
        f"The relayed and projected log is {log_calls:,} synthetic call lives (~11 events "
        "each: ping, bids, decision, hold, post, route, answer, completion, billing, ledger).",
        "Queries run over rollups the projector maintains (pnl_hourly, attribution_daily); "
        "the baseline groups the raw calls table in the same file. Best of 3 runs each.",
    ]
    publish(
        "projections",
        "Projections",
        f"ppcx-tools bench projections --log-calls {log_calls} --query-calls {query_calls}",
        figures,
        notes,
        write,
    )


@app.command("replay")
def replay(
    calls: int = typer.Option(1_000_000, min=1000, help="calls in the verified log"),
    write: bool = typer.Option(False, help=f"update the section in {BENCHMARKS_MD}"),
) -> None:
    """`replay verify` events/s over a log of `calls` calls vs a raw read-and-decode."""
    from tools.bench import replay as bench

    figures = bench.run(load_settings(), console, calls=calls)
    notes = [
        "Verify checks every chain link (keyed BLAKE2b), every transfer and recorded balance, "
        "every hold, re-runs the billing rules for every completed call and the auction for "
        "every decision, and follows every route; the baseline only fetches the rows and "
        "decodes their JSON, on one core.",
        "Verify uses both cores: this process reads, chains and books each page while a "
        "worker process re-runs the calls' auctions, routes and bills on the same page.",
        f"The log ({calls:,} synthetic call lives, ~11 events each) is generated once by the "
        "real recorder and kept in the data dir; generation is not timed.",
    ]
    publish(
        "replay",
        "Replay and audit",
        f"ppcx-tools bench replay --calls {calls}",
        figures,
        notes,
        write,
    )


@app.command("lag")
def lag(
    seconds: float = typer.Option(60.0, min=5, help="how long to sample under traffic"),
    write: bool = typer.Option(False, help=f"update the section in {BENCHMARKS_MD}"),
) -> None:
    """How far what readers see trails the log under steady traffic through `ppcx serve`
    (every role), sampled from /readyz."""
    from tools.bench import lag as bench

    figures = bench.run(console, seconds=seconds)
    notes = [
        "`ppcx serve` with every role (2 API workers, relay, projector, sweeper) on a fresh "
        "data dir with its own embedded Redis and NATS; one client drives demo-like calls "
        "(ping, post, answered, completed) through the API while /readyz is sampled every "
        "100 ms.",
        "Read lag = the age of the oldest event the reading routes cannot see yet: the "
        "projector publishes what readers see every PPCX_SNAPSHOT_INTERVAL_S (the baseline) "
        "when something changed, so the lag's floor is that interval plus one projector pass.",
    ]
    publish("lag", "Read lag", f"ppcx-tools bench lag --seconds {seconds:g}", figures, notes, write)


@app.command("portal")
def portal(
    write: bool = typer.Option(False, help=f"update the section in {BENCHMARKS_MD}"),
) -> None:
    """Page times of the portal's calls lists over 10,000 calls vs the API's GET /v1/calls."""
    from tools.bench import portal as bench

    settings = load_settings()
    with ServiceRunner(settings).session() as endpoints:
        figures = bench.run(settings, endpoints.redis_url, endpoints.nats_url, console)
    notes = [
        f"A store of {bench.CALLS:,} synthetic call lives, projected; the app (`create_app`, "
        "one uvicorn worker, in this process) on loopback; one client, "
        f"{bench.REQUESTS} requests per page one after another, each the first page "
        "(newest calls) as a signed-in buyer or publisher user renders it.",
        "The baseline is the API's `GET /v1/calls?limit=50` with the same buyer's key in the "
        "same run: the page's extra cost is the session check, the HTML and the template.",
    ]
    publish("portal", "Portal pages", "ppcx-tools bench portal", figures, notes, write)


@app.command("webhooks")
def webhooks(
    write: bool = typer.Option(False, help=f"update the section in {BENCHMARKS_MD}"),
) -> None:
    """Deliveries/s of the webhook worker to a loopback receiver vs a bare httpx client."""
    from tools.bench import webhooks as bench
    from webhooks.worker import PER_ENDPOINT

    settings = load_settings()
    with ServiceRunner(settings).session() as endpoints:
        figures = bench.run(settings, endpoints.redis_url, endpoints.nats_url, console)
    notes = [
        f"{bench.CALLS} synthetic call lives, relayed to JetStream; {bench.ENDPOINTS} admin "
        "webhooks (every event type) on paths of one aiohttp receiver on loopback that answers "
        "200 at once. The worker (`webhooks.worker`, in this process) consumes the stream, "
        "records the deliveries in SQLite, signs and sends them, at most "
        f"{PER_ENDPOINT} in flight per endpoint and in order per call, and records "
        "each attempt.",
        "The baseline is a bare `httpx.AsyncClient` posting the same bodies with the same "
        f"(pre-signed) headers, {PER_ENDPOINT} at a time per endpoint, to the same "
        "receiver in the same run, with no order per call. Each figure is deliveries ÷ the time "
        "from the first request the receiver saw to the last; receiver, worker and baseline "
        "share one event loop.",
        "History: 0.38 at first (2026-12-01, 12:27 UTC), when the worker recorded each stream "
        "message (with a sync to disk) and each attempt in a transaction of its own, from a "
        "thread. Now a fetch of messages is one transaction and the attempts that finish "
        "together are another, and the sender's store calls run on the event loop: handed to a "
        "thread, a due query took 1.4 ms waiting for the GIL against 0.12 ms on the loop.",
    ]
    publish("webhooks", "Webhook deliveries", "ppcx-tools bench webhooks", figures, notes, write)


@app.command("transcription")
def transcription(
    write: bool = typer.Option(False, help=f"update the section in {BENCHMARKS_MD}"),
) -> None:
    """The transcriber's real-time factor (CPU seconds per audio second) next to PocketSphinx's
    own decoder on the same synthesised telephone calls."""
    from tools.bench import transcription as bench

    figures, measured = bench.run(console)
    notes = [
        f"{bench.CALLS} calls of {bench.SENTENCES_PER_CALL} sentences each, spoken by espeak-ng "
        "(en-us+klatt, 170 words/min), telephone band (300–3,400 Hz) at 8 kHz with low seeded "
        "noise (`tools.sim.speech`); the 16 kHz files are sox's resampling of the same audio.",
        "Ours: `evidence.transcription.Transcriber` (WAV reading, ×2 windowed-sinc upsampling of "
        "8 kHz audio, PocketSphinx's `Segmenter`, one utterance per speech segment). Baseline: "
        "PocketSphinx's own `Decoder` fed the whole 16 kHz file in 1,024-frame blocks as one "
        "utterance, the loop of its documentation. Same model (the wheel's en-us), same "
        f"process; CPU time by `time.process_time`, median of {bench.ROUNDS} passes, models "
        "loaded before timing. Lower is better: 0.2 means a core transcribes 5 s of audio a "
        "second.",
        *measured,
    ]
    publish(
        "transcription",
        "Offline transcription",
        "ppcx-tools bench transcription",
        figures,
        notes,
        write,
    )


@app.command("commits")
def commits(
    revisions: list[str] = typer.Argument(
        ..., help='commits to compare, the first the baseline ("." is this working tree)'
    ),
    rounds: int = typer.Option(8, min=1, max=50, help="rounds; each runs every commit once"),
    pings: int = typer.Option(1500, min=100, help="pings per round at --clients"),
    clients: int = typer.Option(16, min=1, max=512, help="concurrent clients of the load"),
    one_pings: int = typer.Option(500, min=50, help="pings per round from one client"),
    write: bool = typer.Option(False, help=f"update the section in {BENCHMARKS_MD}"),
) -> None:
    """The ping path of `ppcx serve` at several commits, side by side in one run: server CPU
    per ping, pings/s, one client's latency — each as a ratio to the first commit's."""
    from tools.bench import commits as bench

    if len(revisions) < 2:
        raise typer.BadParameter("name at least two commits (the first is the baseline)")
    try:
        bench.check_revisions(revisions)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    settings = load_settings()
    with ServiceRunner(settings).session() as endpoints:
        figures = bench.run(
            endpoints.redis_url,
            endpoints.nats_url,
            console,
            revisions,
            rounds=rounds,
            pings=pings,
            clients=clients,
            one_pings=one_pings,
        )
    notes = [
        "Each commit is checked out into a worktree of its own and served by `ppcx serve` (the "
        "API role where the commit has roles, 2 workers) from this checkout's virtualenv, with "
        "its own store, Redis prefix and the same market (10 standing bids, one buyer winning "
        "every auction).",
        f"{rounds} rounds, each running every server in a seeded shuffled order: {pings:,} "
        f"pings at {clients} clients, then {one_pings} from one client; each figure is the "
        "median over the rounds, its ratio against the first commit's. CPU per ping is the "
        "server's processes' user + system time (from /proc) over the pings they answered.",
    ]
    command = (
        f"ppcx-tools bench commits {' '.join(revisions)} --rounds {rounds} --pings {pings} "
        f"--clients {clients} --one-pings {one_pings}"
    )
    publish("commits", "Commits side by side", command, figures, notes, write)


@app.command("cluster")
def cluster(
    pings: int = typer.Option(3000, min=100, help="pings per configuration (split over hosts)"),
    concurrency: int = typer.Option(24, min=1, max=512, help="concurrent HTTP clients in all"),
    workers: int = typer.Option(1, min=1, max=16, help="API worker processes per host"),
    shared_machine: bool = typer.Option(
        False, help="note in BENCHMARKS.md that other work shared the machine's CPU"
    ),
    write: bool = typer.Option(False, help=f"update the section in {BENCHMARKS_MD}"),
) -> None:
    """Durable pings/s and p99 through 1, 2 and 3 hosts on PostgreSQL vs one host on SQLite,
    and where the ceiling is (the store's lock, Redis, CPU)."""
    from tools.bench import cluster as bench

    settings = load_settings()
    with ServiceRunner(settings).session() as endpoints:
        figures, runs = bench.run(
            settings,
            endpoints.redis_url,
            endpoints.nats_url,
            console,
            pings=pings,
            concurrency=concurrency,
            workers=workers,
        )
    notes = bench.notes(runs, workers, concurrency)
    notes.append(
        "What the lock's hold is made of: the store's own part of an append (the lock and "
        "the head, events and links, the commit) took 1.55 ms for 4 rows in one process on "
        "an idle store (measured apart, 2026-12-01); the rest of the time held is the "
        "writer deciding its batch under the lock (the buyers' holds: `EventWriter.execute`) "
        "and waiting for a core. More hosts split the load into smaller batches, so more "
        "appends queue for the one lock: the ceiling is the lock's, not the hosts'."
    )
    if shared_machine:
        notes.append(
            "Run while other work used the same cores: absolute figures are low; the ratios "
            "and the shares (lock held, CPU) are what to compare."
        )
    command = (
        f"ppcx-tools bench cluster --pings {pings} --concurrency {concurrency} --workers {workers}"
    )
    publish("cluster", "Cluster", command, figures, notes, write)


@app.command("all")
def run_all(
    write: bool = typer.Option(True, help=f"update {BENCHMARKS_MD} (default: yes)"),
) -> None:
    """Every benchmark in turn (store, exchange, HTTP, projections, replay, lag, portal,
    webhooks, transcription), each section of
    BENCHMARKS.md rewritten with its figures, baselines, ratios, machine and command."""
    import time

    steps: list[tuple[str, Callable[[], None]]] = [
        ("store", lambda: store(calls=20_000, write=write)),
        ("exchange", lambda: exchange(pings=400, write=write)),
        (
            "http",
            lambda: http(pings=3000, concurrency=32, workers=2, screening_rounds=5, write=write),
        ),
        ("projections", lambda: projections(log_calls=20_000, query_calls=10_000_000, write=write)),
    ]
    steps.append(("replay", lambda: replay(calls=1_000_000, write=write)))
    steps.append(("lag", lambda: lag(seconds=60.0, write=write)))
    steps.append(("portal", lambda: portal(write=write)))
    steps.append(("webhooks", lambda: webhooks(write=write)))
    steps.append(("transcription", lambda: transcription(write=write)))
    steps.append(("cluster", lambda: cluster(3000, 24, 1, shared_machine=False, write=write)))
    began = time.perf_counter()
    for name, step in steps:
        console.rule(f"bench {name}")
        started = time.perf_counter()
        step()
        console.print(f"bench {name}: {time.perf_counter() - started:.0f} s")
    console.print(f"all benchmarks: {time.perf_counter() - began:.0f} s")
