"""The events the projections read: `ingest.sql` turns a batch of them into table rows (the
staged `ev.name` is `Aggregate.Event`). The SQL names them itself — a byte change there
rebuilds every deployed projection store, so it is not generated — and a unit test parses it
and checks that it handles exactly the events declared here."""

from __future__ import annotations

from domain.anomaly import CampaignTraffic
from domain.api_key import ApiKey
from domain.blocklist import BlockedCaller
from domain.buyer import Buyer
from domain.call import Call
from domain.caller_history import CallerHistory
from domain.campaign import Campaign
from domain.catalog import Reads
from domain.numbers import NumberPool, TrackingNumber
from domain.publisher import Publisher
from domain.rate_limits import RateLimitReport
from domain.receipt import CommandReceipt
from domain.saved_query import SavedQueries
from domain.scoring_model import ScoringModels
from domain.target import Target
from domain.user import User
from domain.webhook import Webhook

READS = Reads(
    "projections/ingest.sql",
    handles=(
        Publisher,  # publishers, setup_changes (LIKE 'Publisher.%')
        Buyer.Registered,  # buyers, setup_changes
        Buyer.CreditLimitChanged,
        Buyer.ProfileChanged,
        Campaign,  # campaigns, campaign_publishers, setup_changes
        Target,  # targets, setup_changes
        TrackingNumber,  # tracking_numbers, setup_changes
        NumberPool,  # number_pools, setup_changes
        ApiKey,  # api_keys (never the hash), setup_changes
        BlockedCaller,  # blocklist (LIKE 'BlockedCaller.%')
        Buyer.FundsDeposited,  # ledger_entries, open_holds
        Buyer.TransferReversed,
        Buyer.HoldPlaced,
        Buyer.HoldPosted,
        Buyer.HoldVoided,
        Webhook,  # webhooks (nothing secret: none is stored)
        Call,  # pings, bids, calls (LIKE 'Call.%') and the rollups
    ),
    ignores=(
        CallerHistory,
        User,  # portal users: no table yet (the admins' page of portal part 2)
        SavedQueries,  # an analyst's saved SQL: the portal's, no table
        CommandReceipt,
        RateLimitReport,
        CampaignTraffic,  # the anomaly watch's counts: the calls table has the same facts
        ScoringModels,  # the models in use: `ppcx score` and the log say which
    ),
)
