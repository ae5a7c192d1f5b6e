"""PPCX settings: the one place that reads the environment.

Everything else receives a `Settings` object (or values taken from it) from the composition
root. The event-store variables keep the eventsourcing library's own names
(`PERSISTENCE_MODULE`, `SQLITE_DBNAME`, `POSTGRES_*`) so an operator who knows the library
configures PPCX the same way; `eventstore_env()` hands them to the library explicitly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain import limits
from domain.limits import RTB_BURST, RTB_RATE_PER_S

PersistenceModule = Literal["eventsourcing.sqlite", "eventsourcing.postgres", "eventsourcing.popo"]


class Settings(BaseSettings):
    """All configuration of a PPCX deployment. Environment variables in brackets."""

    model_config = SettingsConfigDict(
        env_prefix="PPCX_",
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
    )

    # -- where things live -------------------------------------------------------------------
    data_dir: Path = Field(default=Path(".ppcx"), description="[PPCX_DATA_DIR] data directory")

    # -- external services (unset: the embedded runner starts real ones in the data dir) ----
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "PPCX_REDIS_URL"),
        description="[REDIS_URL] e.g. redis://127.0.0.1:6379/0",
    )
    nats_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("NATS_URL", "PPCX_NATS_URL"),
        description="[NATS_URL] e.g. nats://127.0.0.1:4222; a NATS cluster: several, "
        "comma-separated (nats://a:4222,nats://b:4222,nats://c:4222)",
    )
    redis_cluster: bool = Field(
        default=False,
        description="[PPCX_REDIS_CLUSTER] true: REDIS_URL names a node of a Redis Cluster and "
        "PPCX speaks the cluster protocol (the other nodes are discovered from it); every "
        "market's keys share one hash slot",
    )
    rtb_endpoint_rate_per_s: int = Field(
        default=RTB_RATE_PER_S,
        ge=1,
        le=1_000_000,
        description="[PPCX_RTB_ENDPOINT_RATE_PER_S] RTB requests a second sent to one buyer "
        "endpoint (its URL), on average; over it a request is not sent (its bid: rejected, "
        "`rate_limited`)",
    )
    rtb_endpoint_burst: int = Field(
        default=RTB_BURST,
        ge=1,
        le=1_000_000,
        description="[PPCX_RTB_ENDPOINT_BURST] RTB requests one endpoint may get at once",
    )
    screening: bool = Field(
        default=True,
        description="[PPCX_SCREENING] false: pings are not screened before the auction (no "
        "number, line-type or velocity screen; nothing counted or recorded for them) — for "
        "measuring its cost and for an emergency; replay checks only the pings screened",
    )
    redis_replica_ack_ms: int = Field(
        default=100,
        ge=0,
        le=5_000,
        description="[PPCX_REDIS_REPLICA_ACK_MS] on a Redis Cluster, how long a reservation "
        "waits for a replica to have it (WAIT 1) before the ping is refused with a 503 and the "
        "reservation undone, so a failover never loses one; 0: no wait (a reservation the "
        "dead master alone had may be over-committed until the loss is noticed)",
    )
    redis_prefix: str = Field(
        default="ppcx", description="[PPCX_REDIS_PREFIX] namespace of every Redis key"
    )
    nats_stream: str = Field(
        default="PPCX_EVENTS", description="[PPCX_NATS_STREAM] JetStream stream of events"
    )
    nats_subject_prefix: str = Field(
        default="ppcx.events", description="[PPCX_NATS_SUBJECT_PREFIX] subject prefix"
    )
    nats_replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        description="[PPCX_NATS_REPLICAS] copies JetStream keeps of each stream PPCX creates "
        "(the events, the checkpoints): 3 on a three-node NATS cluster, so a stream survives "
        "a node; a stream that exists keeps its own",
    )

    # -- event store: the eventsourcing library's own variables ---------------------------------
    persistence_module: PersistenceModule = Field(
        default="eventsourcing.sqlite",
        validation_alias=AliasChoices("PERSISTENCE_MODULE", "PPCX_PERSISTENCE_MODULE"),
    )
    sqlite_dbname: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SQLITE_DBNAME", "PPCX_SQLITE_DBNAME"),
        description="[SQLITE_DBNAME] default: <data dir>/events.sqlite",
    )
    postgres_dbname: str = Field(default="ppcx", validation_alias="POSTGRES_DBNAME")
    postgres_host: str = Field(default="127.0.0.1", validation_alias="POSTGRES_HOST")
    postgres_port: int = Field(default=5432, validation_alias="POSTGRES_PORT")
    postgres_user: str = Field(default="postgres", validation_alias="POSTGRES_USER")
    postgres_password: str = Field(default="", validation_alias="POSTGRES_PASSWORD")
    postgres_schema: str = Field(default="public", validation_alias="POSTGRES_SCHEMA")

    # -- analytics ------------------------------------------------------------------------------
    duckdb_path: Path | None = Field(
        default=None, description="[PPCX_DUCKDB_PATH] default: <data dir>/analytics.duckdb"
    )

    # -- HTTP API -------------------------------------------------------------------------------
    api_host: str = Field(default="127.0.0.1", description="[PPCX_API_HOST]")
    api_port: int = Field(default=8000, ge=1, le=65535, description="[PPCX_API_PORT]")
    api_workers: int = Field(default=1, ge=1, le=64, description="[PPCX_API_WORKERS]")

    snapshot_interval_s: float = Field(
        default=1.0,
        gt=0,
        le=300,
        description="[PPCX_SNAPSHOT_INTERVAL_S] how often the projector publishes the copy "
        "readers see (when something changed): the read lag's floor; each copies the DuckDB "
        "file",
    )
    checkpoint_interval_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="[PPCX_CHECKPOINT_INTERVAL_S] how often the relay writes a signed "
        "checkpoint of the log's head outside the store",
    )
    webhook_allowed_networks: str = Field(
        default="",
        description="[PPCX_WEBHOOK_ALLOWED_NETWORKS] comma-separated CIDRs that webhooks and "
        "pixels may reach besides public addresses (loopback, private and link-local ranges "
        "are refused unless listed here, e.g. 127.0.0.0/8 in tests)",
    )
    scorer: bool = Field(
        default=False,
        description="[PPCX_SCORER] `ppcx serve` runs the lead scorer too (role `scorer`: each "
        "ended call scored with the active model, `ppcx score train`); off by default",
    )
    scoring_models_dir: Path | None = Field(
        default=None,
        description="[PPCX_SCORING_MODELS_DIR] where trained scoring models are written, "
        "<version>.json (default: <data dir>/models)",
    )
    transcriber: bool = Field(
        default=False,
        description="[PPCX_TRANSCRIBER] `ppcx serve` runs the transcriber role (offline "
        "transcription of recordings and keyword spotting) among all its roles; off by "
        "default (decoding takes about 0.4 CPU seconds per second of audio: BENCHMARKS.md). "
        "`--role transcriber` runs it whatever this says",
    )
    transcripts_dir: Path | None = Field(
        default=None,
        description="[PPCX_TRANSCRIPTS_DIR] where redacted transcripts are stored (default: "
        "<data dir>/transcripts)",
    )
    access_log: bool = Field(
        default=False,
        description="[PPCX_ACCESS_LOG] log every request (method, path without its query, "
        "status, duration, request id)",
    )
    prometheus_multiproc_dir: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("PROMETHEUS_MULTIPROC_DIR", "PPCX_PROMETHEUS_MULTIPROC_DIR"),
        description="[PROMETHEUS_MULTIPROC_DIR] where worker processes write their metrics so a "
        "scrape of any of them answers for all (`ppcx serve` sets it)",
    )

    # -- secrets (unset: generated once into the data dir, mode 0600) ----------------------------
    secret_key: str | None = Field(
        default=None,
        description="[PPCX_SECRET_KEY] keys the hashes of API keys and caller numbers",
    )
    audit_key: str | None = Field(
        default=None, description="[PPCX_AUDIT_KEY] keys the event log's tamper-evident chain"
    )
    key_expiry_warning_days: int = Field(
        default=limits.KEY_EXPIRY_WARNING_DAYS_DEFAULT,
        ge=limits.KEY_EXPIRY_WARNING_DAYS.minimum,
        le=limits.KEY_EXPIRY_WARNING_DAYS.maximum,
        description="[PPCX_KEY_EXPIRY_WARNING_DAYS] an API key's owner is warned (webhook "
        "api_key.expiring, the portal's banner) this many days before it expires; 0: never",
    )
    key_unused_expire_days: int = Field(
        default=limits.KEY_UNUSED_EXPIRE_DAYS_DEFAULT,
        ge=limits.KEY_UNUSED_EXPIRE_DAYS.minimum,
        le=limits.KEY_UNUSED_EXPIRE_DAYS.maximum,
        description="[PPCX_KEY_UNUSED_EXPIRE_DAYS] an API key unused this many days (since its "
        "last use, or its issue) is expired by the sweeper; 0: never",
    )
    bootstrap_admin_key: str | None = Field(
        default=None, description="[PPCX_BOOTSTRAP_ADMIN_KEY] an admin key accepted by serve"
    )
    twilio_auth_token: str | None = Field(
        default=None, description="[PPCX_TWILIO_AUTH_TOKEN] checks X-Twilio-Signature"
    )
    public_base_url: str | None = Field(
        default=None,
        description="[PPCX_PUBLIC_BASE_URL] the URL Twilio calls, for signatures and callbacks",
    )
    # -- call recordings (issue 24; DESIGN.md "Call recordings") -------------------------------
    twilio_account_sid: str | None = Field(
        default=None,
        description="[PPCX_TWILIO_ACCOUNT_SID] with PPCX_TWILIO_AUTH_TOKEN: fetches recordings "
        "from Twilio's API (unset: recordings are queued, not fetched)",
    )
    twilio_api_base: str = Field(
        default="https://api.twilio.com",
        pattern=r"^https?://[^/?#\s]+$",
        description="[PPCX_TWILIO_API_BASE] Twilio's REST API: the only host recordings are "
        "fetched from (never a callback's RecordingUrl)",
    )
    recordings_dir: Path | None = Field(
        default=None,
        description="[PPCX_RECORDINGS_DIR] the recordings store's directory (default: "
        "<data dir>/recordings); unused with PPCX_RECORDINGS_S3_URL",
    )
    recordings_s3_url: str | None = Field(
        default=None,
        pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[A-Za-z0-9._\-/]*)?$",
        description="[PPCX_RECORDINGS_S3_URL] s3://bucket/prefix: recordings in S3-compatible "
        "object storage instead of the directory",
    )
    recordings_s3_endpoint: str | None = Field(
        default=None,
        description="[PPCX_RECORDINGS_S3_ENDPOINT] an S3-compatible service's URL (unset: AWS)",
    )
    recordings_s3_region: str | None = Field(
        default=None, description="[PPCX_RECORDINGS_S3_REGION] the bucket's region"
    )
    recordings_s3_access_key_id: str | None = Field(
        default=None,
        description="[PPCX_RECORDINGS_S3_ACCESS_KEY_ID] (unset: boto3's own credential chain)",
    )
    recordings_s3_secret_access_key: str | None = Field(
        default=None, description="[PPCX_RECORDINGS_S3_SECRET_ACCESS_KEY]"
    )

    @field_validator("redis_url", "nats_url", "secret_key", "audit_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    # -- derived ------------------------------------------------------------------------------
    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_recordings_dir(self) -> Path:
        if self.recordings_dir is not None:
            return self.recordings_dir.expanduser().resolve()
        return self.resolved_data_dir / "recordings"

    @property
    def resolved_sqlite_path(self) -> Path:
        if self.sqlite_dbname:
            return Path(self.sqlite_dbname).expanduser().resolve()
        return self.resolved_data_dir / "events.sqlite"

    @property
    def resolved_duckdb_path(self) -> Path:
        if self.duckdb_path is not None:
            return self.duckdb_path.expanduser().resolve()
        return self.resolved_data_dir / "analytics.duckdb"

    @property
    def resolved_models_dir(self) -> Path:
        if self.scoring_models_dir is not None:
            return self.scoring_models_dir.expanduser().resolve()
        return self.resolved_data_dir / "models"

    @property
    def resolved_transcripts_dir(self) -> Path:
        if self.transcripts_dir is not None:
            return self.transcripts_dir.expanduser().resolve()
        return self.resolved_data_dir / "transcripts"

    def eventstore_env(self) -> dict[str, str]:
        """The eventsourcing library's environment, built from these settings only."""
        env: dict[str, str] = {
            "PERSISTENCE_MODULE": self.persistence_module,
            "ORIGINATOR_ID_TYPE": "text",  # ids are strings such as call_…
        }
        if self.persistence_module == "eventsourcing.sqlite":
            env["SQLITE_DBNAME"] = str(self.resolved_sqlite_path)
            env["SQLITE_LOCK_TIMEOUT"] = "30"
        elif self.persistence_module == "eventsourcing.postgres":
            env.update(
                POSTGRES_DBNAME=self.postgres_dbname,
                POSTGRES_HOST=self.postgres_host,
                POSTGRES_PORT=str(self.postgres_port),
                POSTGRES_USER=self.postgres_user,
                POSTGRES_PASSWORD=self.postgres_password,
                POSTGRES_SCHEMA=self.postgres_schema,
            )
        return env
