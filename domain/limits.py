"""Every named bound on input, defined once: the API's pydantic fields (`api/models.py`, the
query parameters of `api/routers`) and the parsing of commands (`handlers/parse.py`, the
domain's validators and value objects) read the same constants, so the HTTP contract and the
domain cannot drift apart. A unit test refuses a literal number in any bound of the API.

A `Range` is inclusive at both ends; `default` is the value an optional input takes when it
is not given (the API documents it, the commands use it).

Where the API and the handlers used to disagree, the stricter bound was kept:

* a dispute's reason: at most 200 characters (the handlers' name rule; the API took 2,000);
* an API key's label: at most 200 characters (the API's; the handlers took 2,000);
* a target's caps: at most 10,000,000 (the domain's; the API had no maximum).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Range:
    """Inclusive bounds of a whole number or of a length, and an optional input's default."""

    minimum: int
    maximum: int
    default: int | None = None

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int) and self.minimum <= value <= self.maximum


# -- text ------------------------------------------------------------------------------------
# names of publishers, buyers, campaigns, targets, pools; a number's source, medium, keyword;
# a dispute's reason (printable, no blanks around it)
NAME_LENGTH = Range(1, 200)
# free text kept as written: a deposit's reference, a pause's reason, a resolution's note, a
# block's reason
TEXT_LENGTH_MAX = 2_000
KEY_LABEL_LENGTH_MAX = 200
DISPUTE_REASON_LENGTH = NAME_LENGTH
URL_LENGTH_MAX = 2_000  # an RTB endpoint
ORIGIN_LENGTH_MAX = 300  # a web origin, scheme://host[:port]
KEY_HASH_LENGTH_MAX = 200
EMAIL_LENGTH = Range(3, 254)  # a portal user's address (RFC 5321's path limit)
PASSWORD_LENGTH = Range(12, 256)  # long enough to resist guessing; argon2 takes any length
INVITE_VALID_DAYS = 7  # an invite link works this long, once
USERS_LISTED_MAX = 10_000  # portal users an admin's list reads from the log, at most
SESSION_HOURS = 12  # a portal session cookie's life
LOGIN_FAILURES_MAX = 5  # failed sign-ins per address (and per client address) …
LOGIN_WINDOW_S = 900  # … within this window; then refused until the window passes
KEY_EXPIRY_DAYS_MAX = 3_660  # an API key's `expires_at`: at most about ten years ahead
# settings (PPCX_KEY_EXPIRY_WARNING_DAYS, PPCX_KEY_UNUSED_EXPIRE_DAYS) with their defaults
KEY_EXPIRY_WARNING_DAYS = Range(0, 365)  # warn this long before a key expires (0: never)
KEY_EXPIRY_WARNING_DAYS_DEFAULT = 7
KEY_UNUSED_EXPIRE_DAYS = Range(0, 3_660)  # expire a key unused this long (0: never)
KEY_UNUSED_EXPIRE_DAYS_DEFAULT = 0
# a webhook: its endpoint (a pixel's template too), the event types it subscribes to (each
# once; there are 17), its description
WEBHOOK_URL_LENGTH = Range(1, 2_000)
WEBHOOK_EVENTS = Range(1, 17)
WEBHOOK_DESCRIPTION_LENGTH_MAX = 500
# an analyst's saved queries: a name, one SELECT, and how many one user keeps
SAVED_QUERY_NAME_LENGTH = Range(1, 100)
SQL_LENGTH = Range(1, 20_000)
SAVED_QUERIES_MAX = 100
# an Idempotency-Key, which names the command it makes take effect at most once
COMMAND_ID_LENGTH = Range(1, 200)

# -- markets ---------------------------------------------------------------------------------
MARKET_DEFAULT = "main"  # a buyer's and a campaign's market when none is given

# -- a campaign ------------------------------------------------------------------------------
DUPLICATE_WINDOW_DAYS = Range(0, 365, default=30)
MAX_ATTEMPTS = Range(1, 10, default=3)  # routes per call: the winner and its failovers
BID_TTL_S = Range(5, 3_600, default=60)  # how long an accepted ping's bid stays valid
RTB_DEADLINE_MS = Range(20, 5_000, default=250)  # the whole decision, from the ping's arrival
# traffic quality (`domain/call_flags.py`): a call the buyer's side ended within
# `buzzer_margin_s` before its buffer is a buzzer-beater; an answered call shorter than
# `short_call_s` is a short call. Both are campaign rules; a margin of 0 flags no call.
BUZZER_MARGIN_S = Range(0, 600, default=10)
SHORT_CALL_S = Range(0, 600, default=10)
# the anomaly watch (`domain/anomaly.py`): over the current hour and the ones before it, up
# to `ANOMALY_WINDOW_S`, a publisher with at least `ANOMALY_CALLS_MIN` completed calls on a
# campaign whose short-call or duplicate rate is at least `ANOMALY_FACTOR` times the
# campaign's and at least `ANOMALY_GAP_PERCENT` points above it is flagged for review
ANOMALY_WINDOW_S = 86_400
ANOMALY_BUCKET_S = 3_600
ANOMALY_CALLS_MIN = 20
ANOMALY_FACTOR = 3
ANOMALY_GAP_PERCENT = 20
# IVR qualification (`domain/ivr.py`): the questions a campaign asks before its auction
IVR_QUESTIONS_MAX = 5
IVR_PROMPT_LENGTH = Range(1, 500)  # what the caller hears (<Say>)
IVR_ACCEPTS = Range(1, 10)  # accepted answers of one question
IVR_DIGITS_LENGTH = Range(1, 8)  # an accepted keypad answer (also the longest answer kept)
IVR_PHRASE_LENGTH = Range(1, 100)  # an accepted spoken phrase
IVR_TIMEOUT_S = Range(1, 30, default=5)  # silence before Twilio gives up on an answer
IVR_MESSAGE_LENGTH = Range(1, 500)  # what a caller who fails hears

# -- a buyer ---------------------------------------------------------------------------------
CREDIT_LIMIT_CENTS_MAX = 10**11  # $1 billion

# -- a target --------------------------------------------------------------------------------
TARGET_NAME_DEFAULT = "target"
RTB_TIMEOUT_MS = Range(10, 5_000, default=150)  # one RTB request
BUFFER_S = Range(0, 7_200, default=90)  # the minimum billable duration
PRIORITY = Range(-1_000, 1_000, default=0)
WEIGHT = Range(1, 10_000, default=1)
CAP = Range(1, 10_000_000)  # concurrency, calls per hour, day and month
GEO_STATES_MAX = 100
GEO_ZIPS_MAX = 50_000
GEO_AREA_CODES_MAX = 1_000
GEO_ENTRIES_MAX = 50_000  # states, ZIPs and area codes together
# auto-pause (`domain/quality.py`): a target that leaves `unanswered` calls unanswered within
# `window_s` is paused; each target may set its own rules (an empty list: never), else these
AUTO_PAUSE_UNANSWERED = Range(1, 100)
AUTO_PAUSE_WINDOW_S = Range(60, 7 * 86_400)
AUTO_PAUSE_RULES_MAX = 5
AUTO_PAUSE_RULES_DEFAULT: tuple[tuple[int, int], ...] = ((3, 3_600), (5, 86_400))
REQUIRED_TAGS_MAX = 20  # tags a target requires on a ping (`requires_tags`)

# -- numbers and DNI pools -------------------------------------------------------------------
POOL_SIZE = Range(1, 1_000)  # numbers in a pool
POOL_ORIGINS_MAX = 20
LEASE_TTL_S = Range(60, 7 * 86_400, default=1_800)
DNI_SESSION_LENGTH = Range(8, 200)

# -- a ping ----------------------------------------------------------------------------------
TAGS_MAX = 50
TAG_KEY_LENGTH = Range(1, 64)
TAG_VALUE_LENGTH_MAX = 200
ATTRIBUTION_TEXT_LENGTH_MAX = 200  # source, medium, campaign, keyword, an RTB SubID
CLICK_ID_LENGTH_MAX = 500
CONSENT_TEXT_VERSION_LENGTH = Range(1, 64)  # the consent language's version label

# -- a call ----------------------------------------------------------------------------------
DURATION_S = Range(0, 86_400)  # a completed call's reported duration

# -- call recordings (issue 24, item 1; `domain/recording.py`) ---------------------------------
RECORDING_DISCLOSURE_LENGTH = Range(1, 500)  # the words said to the caller before the transfer
RECORDING_RETENTION_DAYS = Range(1, 3_660, default=90)  # a recording is deleted after this
RECORDING_DURATION_S = Range(0, 86_400)  # Twilio's RecordingDuration
RECORDING_BYTES_MAX = 512 * 1024 * 1024  # a fetched recording larger than this is refused
RECORDING_FETCH_ATTEMPTS_MAX = 5  # tries of one fetch within one worker tick (tenacity)
RECORDING_FETCH_TIMEOUT_S = 60.0  # one HTTP request to Twilio's API
RECORDING_PENDING_BATCH_MAX = 20  # recordings fetched per tick
RECORDING_PENDING_MAX = 100_000  # recordings queued at once (beyond: the callback is a 503)
RECORDING_TICKS_MAX = 50  # ticks a recording is tried in before it is given up (logged)
RECORDING_CLAIM_LEASE_MS = 300_000  # one worker's claim on a pending fetch
RECORDING_SWEEP_BATCH_MAX = 200  # expired recordings deleted per tick
RECORDING_READ_CHUNK_BYTES = 64 * 1024  # a streamed answer's chunk
WHISPER_LENGTH = Range(1, 300)  # the words the buyer's agent hears before being connected

# -- reading -----------------------------------------------------------------------------------
PAGE_LIMIT = Range(1, 1_000, default=100)  # items of a list page
CURSOR_LENGTH_MAX = 500
ID_LENGTH_MAX = 100  # an id given in a query (`campaign_id`, a DNI `pool`)
ACCOUNT_LENGTH_MAX = 200  # a ledger account's name in a query
GROUP_BY_LENGTH_MAX = 200  # a report's comma-separated dimensions

# -- webhooks ----------------------------------------------------------------------------------
# A failed delivery is tried again after a random delay up to min(cap, base × 2^(attempt-1))
# (full jitter), or later when the endpoint's Retry-After says so, for 24 hours at most; the
# attempts are bounded too, whatever the random draws.
WEBHOOK_RETRY_BASE_S = 5
WEBHOOK_RETRY_CAP_S = 3_600
WEBHOOK_ATTEMPTS_MAX = 100

# -- rate limits (token buckets: `rate_per_s` tokens a second, at most `burst` saved) --------
# a publisher's pings and RTB pings together, settable per publisher. Generous by default:
# above what one publisher reaches in BENCHMARKS.md (one publisher, ~760 pings/s a host), so
# only a publisher given a limit of its own, or a runaway one, is refused
PING_RATE_PER_S = Range(1, 100_000, default=5_000)
PING_BURST = Range(1, 1_000_000, default=10_000)
# the public DNI endpoint, per client address (hashed); a page asks once per visit
DNI_RATE_PER_S = 20
DNI_BURST = 100
# outbound RTB requests, per buyer endpoint (its URL, hashed): over it the request is not sent
RTB_RATE_PER_S = 10_000
RTB_BURST = 20_000
# a refused ping is recorded at most this often per publisher, with the count refused since
RATE_LIMITED_REPORT_EVERY_MS = 1_000

# -- screening before the auction (`domain/screening.py`) --------------------------------------
# caller velocity: a ping is refused when the same caller (its hash) was pinged `calls` times
# or more, across all campaigns, within the last `window_s` seconds; each campaign sets its own
# (`velocity`; calls 0: off). Off by default: an existing campaign's traffic is not refused by
# a rule it never chose (a publisher's IVR may ping one caller several times), and a campaign
# turns it on with `PATCH /v1/campaigns/{id}` (`{"calls": 10, "window_s": 600}` is a sane
# first setting).
VELOCITY_CALLS = Range(0, 1_000, default=0)
VELOCITY_WINDOW_S = Range(60, 86_400, default=600)
# Redis keeps a caller's pings this long (the longest window any campaign may set) and at most
# this many (a flood from one caller stays small; a count at the bound is over any rule)
VELOCITY_KEPT_MAX = 2 * VELOCITY_CALLS.maximum
# Replay's margin: a ping's time is taken when it arrives, its Redis script runs a little later,
# so a concurrent ping timestamped just before another may not be counted by it yet. Replay
# derives the count from the log and accepts a recorded count that misses only pings this
# close before it (and resolves each check once the log is this far past it, since a ping
# is recorded after it is screened). Far above a ping's decision time (p99 < 100 ms).
VELOCITY_RACE_MS = 10_000
# -- lead scoring (issue 24, item 5: `domain.scoring`, `evidence.models`) ----------------------
SCORE_BP = Range(0, 10_000)  # a score: the probability of conversion in basis points
SCORING_WEIGHTS_MAX = 2_000  # tokens a model weighs (the largest weights are kept)
SCORING_TOKEN_LENGTH_MAX = 200  # a token's characters (a keyword or a phrase, cut)
SCORING_CALLS_MAX = 1_000_000  # calls one training reads from the log, at most
SCORING_CALLS_MIN = 20  # fewer calls than this (or one class only): no model is trained
SCORING_HOLDOUT_PERCENT = Range(5, 50, default=20)  # the calls kept out to measure the AUC
# -- call evidence: transcripts and keyword spotting (domain/transcript.py) -------------------
KEYWORD_PHRASES_MAX = 50  # a campaign's `keywords` phrases
KEYWORD_PHRASE_CHARS = Range(1, 100)  # a phrase's characters
KEYWORD_PHRASE_CHARS_MAX = KEYWORD_PHRASE_CHARS.maximum
TRANSCRIPT_AUDIO_S_MAX = 4 * 3_600  # a longer recording is not transcribed (a call's longest)
TRANSCRIPT_CHARS_MAX = 1_000_000  # a stored transcript (about 30 hours of speech)
TRANSCRIBER_BATCH_MAX = 16  # recordings fetched from the stream at once
