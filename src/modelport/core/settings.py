"""The one typed settings root. Read once by the CLI (env prefix ``MODELPORT_``, ``__`` nests)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "AuthSettings",
    "DriftSettings",
    "GrpcSettings",
    "HttpSettings",
    "JobSettings",
    "LimitSettings",
    "PayloadSettings",
    "RaySettings",
    "ServingSettings",
    "Settings",
    "StorageSettings",
    "TracingSettings",
    "read_token_file",
]


class LimitSettings(BaseModel):
    max_body_bytes: int = Field(64 * 1024 * 1024, gt=0)
    """Largest request body accepted, after decompression."""
    max_tensor_bytes: int = Field(256 * 1024 * 1024, gt=0)
    """Largest decoded request (sum of shape times itemsize), checked before allocating."""
    max_json_depth: int = Field(32, gt=0)
    """Deepest nesting of arrays/objects in a JSON body."""


class AuthSettings(BaseModel):
    token: str | None = None
    """Bearer token for the management API; required when listening beyond loopback."""
    token_file: Path | None = None
    """A file holding the token (its first line), e.g. a mounted secret: the token then appears in
    no environment and no command line."""
    protect_inference: bool = False
    """Ask for the token on inference routes too."""
    allow_untrusted_uploads: bool = False
    """Accept pickle/joblib artifacts through the remote API (they run code when loaded)."""

    @model_validator(mode="after")
    def _read_token_file(self) -> AuthSettings:
        if self.token_file is None:
            return self
        if self.token is not None:
            raise ValueError("set auth.token or auth.token_file, not both")
        self.token = read_token_file(self.token_file)
        return self


def read_token_file(path: Path) -> str:
    """The first line of ``path``, stripped; a missing or empty file is an error, never an open server."""
    try:
        lines = path.expanduser().read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the token file {path}: {exc}") from None
    token = lines[0].strip() if lines else ""
    if not token:
        raise ValueError(f"the token file {path} is empty")
    return token


class ServingSettings(BaseModel):
    poll_interval_s: float = Field(0.5, gt=0)
    """How often the server compares the registry with what it has loaded."""
    inference_threads: int = Field(4, gt=0)
    """Threads running model code (the event loop never does)."""
    inline_below_us: float = Field(200.0, ge=0)
    """Run a model on the event loop while its average call takes less than this (0: always in threads);
    cheaper than handing a microsecond-scale call to a thread and back."""
    model_threads: int = Field(1, gt=0)
    """Threads a framework may use inside one prediction."""
    parallel_loads: int = Field(2, gt=0)
    """Versions loaded at the same time, e.g. at start-up with hundreds of them."""
    load_retry_s: float = Field(5.0, gt=0)
    """Wait before a version that failed to load is tried again (its object store was down, say);
    doubled after each failure, up to 5 minutes. Other bytes for it (a new registration) are tried at once."""
    drain_timeout_s: float = Field(30.0, gt=0)
    """Longest wait for in-flight requests before an old version is unloaded anyway."""
    probe_timeout_s: float = Field(120.0, gt=0)
    """Longest test-load of a new artifact in a child process."""
    isolated_call_timeout_s: float = Field(60.0, gt=0)
    """Longest ``predict`` of a model run in a confined child (untrusted scikit-learn, XGBoost and
    LightGBM files); past it the child is stopped and the call fails."""
    fast_lane: bool = True
    """Answer data-plane HTTP requests straight from the HTTP protocol, without ASGI (see
    docs/performance.md); off: every request goes through uvicorn's ASGI path."""
    explain_max_rows: int = Field(100, ge=1)
    """Most rows one explanation request may carry (``:explain``, ``/v2/.../explain``): sampling costs
    64 x (features + 1) model rows per row, so more belong in ``modelport batch --explain``."""
    invocations_target: str | None = Field(None, pattern=r"^[^:@]+(:[1-9][0-9]*|@[^:@]+)?$")
    """``NAME[:VERSION|@ALIAS]`` (a model or an endpoint) that ``POST /invocations`` and ``GET /ping``
    answer for when a request names none in ``x-modelport-target``: SageMaker's one model per container."""


class GrpcSettings(BaseModel):
    enabled: bool = True
    port: int = Field(8081, ge=0, le=65535)
    """Open Inference Protocol gRPC port, on the same host as HTTP; 0 picks a free port."""
    max_message_bytes: int = Field(64 * 1024 * 1024, gt=0)
    max_connections: int = Field(1000, gt=0)
    """Open gRPC connections per server process; grpcio closes any more as soon as they open."""
    max_connection_idle_s: float = Field(300.0, gt=0)
    """A connection with no call in progress for this long is closed (clients reconnect on their
    next call); grpcio has no deadline of its own for a connection that trickles a frame."""
    max_stream_in_flight: int = Field(64, gt=0)
    """Requests of one ModelStreamInfer stream in progress at once, from read to answer sent; the
    stream reads its next request only when one of them is answered (back-pressure on the client)."""


class MetricsSettings(BaseModel):
    enabled: bool = True
    """Per-request statistics, served as Prometheus metrics and the OIP statistics extension. Off:
    nothing is counted, and ``/metrics`` and ``/v2/models/stats`` are not served."""
    path: str = Field("/metrics", pattern=r"^/[A-Za-z0-9/_.-]*$")
    """Where the data-plane port serves Prometheus metrics."""


class TracingSettings(BaseModel):
    enabled: bool = False
    """OpenTelemetry spans for each request (decode, predict, encode); off costs nothing."""
    otlp_endpoint: str | None = None
    """OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318/v1/traces; unset: spans are not exported."""
    service_name: str = "modelport"


class PayloadSettings(BaseModel):
    """The payload log (``<home>/payloads/<name>/``); what to log is set per name with ``monitor set``."""

    buffer_size: int = Field(10_000, gt=0)
    """Sampled requests waiting to be written; one more is dropped (and counted), never waited for."""
    buffer_max_bytes: int = Field(64 * 1024 * 1024, gt=0)
    """Memory for logged requests not yet on disk, all names together: their tensors waiting in the
    buffer plus the rows converted from them; past it a new record is dropped (``buffer_full``)."""
    flush_interval_s: float = Field(5.0, gt=0)
    """Longest time before a logged request is readable and on stable storage, so also what a crash
    (kill -9, power loss) can lose; also how often a paused log retries."""
    segment_max_rows: int = Field(100_000, gt=0)
    """Rows per Parquet segment before a new one starts."""
    segment_max_bytes: int = Field(32 * 1024 * 1024, gt=0)
    """In-memory (uncompressed) size of a segment before a new one starts."""
    segment_max_age_s: float = Field(3600.0, gt=0)
    """Age of a segment before a new one starts."""
    retention_max_bytes: int = Field(1024 * 1024 * 1024, gt=0)
    """Bytes on disk kept per name; the oldest segments go first."""
    retention_max_age_s: float = Field(7 * 24 * 3600.0, gt=0)
    """Segments whose newest row is older than this are deleted."""
    retention_interval_s: float = Field(60.0, gt=0)
    """How often each process enforces retention over every name's folder (and on shutdown); while
    the log is paused, also before each retry."""
    url: str | None = None
    """``s3://bucket/prefix``: every process uploads its completed segments there, and drift and
    exports read every process's (the endpoint and credentials are ``storage.s3_*``'s); unset: the
    log stays in ``<home>/payloads`` (docs/monitoring.md)."""


class DriftSettings(BaseModel):
    """Drift detection over the payload log; the thresholds are explained in docs/monitoring.md."""

    window: int = Field(1000, gt=0)
    """Live rows compared with the reference: the last ``window`` logged rows of a name."""
    reference_rows: int = Field(1000, gt=0)
    """Without reference data from registration, the first this-many logged rows are the reference."""
    interval_s: float = Field(30.0, gt=0)
    """How often a server recomputes drift for its ``modelport_drift_*`` metrics."""
    bins: int = Field(10, ge=2, le=100)
    """PSI bins, cut at the reference's quantiles."""
    max_categories: int = Field(20, ge=2, le=1000)
    """An integer feature with at most this many distinct reference values is categorical;
    a categorical feature's rarer categories beyond this many are counted together."""
    psi_warning: float = Field(0.1, gt=0)
    psi_alert: float = Field(0.25, gt=0)
    js_warning: float = Field(0.1, gt=0, le=1)
    js_alert: float = Field(0.2, gt=0, le=1)
    pvalue: float = Field(0.01, gt=0, lt=1)
    """A PSI or JS level counts only when its test is significant at this level, after Holm's
    correction over all the tests of a model's features and outputs."""
    min_rows: int = Field(100, gt=0)
    """A feature with fewer live or reference rows than this is ``insufficient_data``, not judged."""


class StorageSettings(BaseModel):
    database_url: str | None = None
    """SQLAlchemy URL of the registry; ``sqlite:///<home>/modelport.db`` when unset."""
    artifacts_url: str | None = None
    """Where artifacts are stored: unset, the folder ``<home>/artifacts``; ``s3://bucket/prefix``, an
    S3-compatible bucket (see docs/storage.md)."""
    s3_endpoint_url: str | None = None
    """The S3 endpoint, e.g. ``http://127.0.0.1:8333``; unset: ``AWS_ENDPOINT_URL``, else AWS."""
    s3_region: str | None = None
    """Unset: ``AWS_REGION``."""
    s3_access_key_id: str | None = None
    """Unset: ``AWS_ACCESS_KEY_ID``."""
    s3_secret_access_key: str | None = Field(None, repr=False)
    """Unset: ``AWS_SECRET_ACCESS_KEY``. Not in the settings' repr; the server passes it to its
    worker processes in a private (0600) file, as it does the token."""
    cache_dir: Path | None = None
    """The local read-through cache of an S3 store; ``<home>/cache/artifacts`` when unset."""
    cache_max_bytes: int = Field(10 * 1024**3, gt=0)
    """Size of the cache; past it the least recently used files go (never one a process is using)."""
    fetch_max_bytes: int = Field(4 * 1024**3, gt=0)
    """Largest artifact ``register`` downloads from an ``https://`` or ``s3://`` URI."""


class HttpSettings(BaseModel):
    allowed_hosts: list[str] = []
    """More ``Host`` names the management API and the dashboard answer to (``name`` or ``name:port``),
    e.g. a proxy's public name, beside the loopback names and the bound address; ``*`` allows any."""
    head_timeout_s: float = Field(10.0, gt=0)
    """Longest wait for a request's line and headers, from the connection's start or the end of the
    previous response; past it the connection is closed (see ``serving/http_guard.py``)."""
    body_timeout_s: float = Field(60.0, gt=0)
    """Longest wait for a request's whole body, from the end of its head (or its turn, pipelined)."""
    max_connections: int = Field(1000, gt=0)
    """Open HTTP connections per server process; one more is answered 503 and closed."""


class JobSettings(BaseModel):
    """Batch jobs run by the server (``POST /api/v1/jobs``); see docs/batch.md and docs/safety.md."""

    allowed_roots: list[Path] = []
    """Directories a job may read and write under (symlinks resolved); empty: server jobs are off."""
    max_running: int = Field(1, ge=0)
    """Jobs one server process runs at a time; the others wait, queued. 0: this server only takes
    submissions, and other servers on the registry run them."""
    threads: int = Field(1, gt=0)
    """Threads of a job's model: the job's worker process runs at idle priority beside the traffic."""
    poll_interval_s: float = Field(1.0, gt=0)
    """How often a server looks for queued jobs and records its running jobs' progress (heartbeat)."""
    stale_after_s: float = Field(15.0, gt=0)
    """A running job whose heartbeat is older (its server was killed) is taken over and resumed."""


class RaySettings(BaseModel):
    """``modelport serve --backend ray``: the replicas of its one Ray Serve deployment (docs/scale-out.md).
    Ray's HTTP proxy listens at ``host``/``port``, like the local server."""

    min_replicas: int = Field(1, ge=1)
    """Replicas kept running, each a whole data plane that loads every served model."""
    max_replicas: int = Field(4, ge=1)
    """Most replicas Ray's autoscaler starts."""
    target_ongoing_requests: float = Field(32.0, gt=0)
    """Requests in flight per replica that the autoscaler aims at: high, since a replica batches
    the requests it holds at once (Ray's default of 2 would start a replica per two clients)."""
    max_ongoing_requests: int = Field(256, gt=0)
    """Requests a replica holds at once; the proxy queues the others (a replica's own queue limits
    still answer 503 past them)."""
    num_cpus_per_replica: float = Field(1.0, ge=0)
    """CPUs Ray reserves for each replica (where it fits them; 0: no reservation)."""
    upscale_delay_s: float = Field(30.0, ge=0)
    """How long the load must call for more replicas before Ray adds them (Ray's default)."""
    downscale_delay_s: float = Field(600.0, ge=0)
    """How long the load must call for fewer replicas before Ray removes them (Ray's default)."""

    @model_validator(mode="after")
    def _check_bounds(self) -> RaySettings:
        if self.max_replicas < self.min_replicas:
            raise ValueError("ray.max_replicas must be at least ray.min_replicas")
        if self.max_ongoing_requests < self.target_ongoing_requests:
            raise ValueError("ray.max_ongoing_requests must be at least ray.target_ongoing_requests")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODELPORT_", env_nested_delimiter="__", extra="ignore")

    home: Path = Path("~/.modelport")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    log_level: str = "info"
    workers: int = Field(1, ge=1)
    """Server processes sharing the port; each loads every served model."""
    seed_demo_models: bool = False
    limits: LimitSettings = LimitSettings()
    auth: AuthSettings = AuthSettings()
    serving: ServingSettings = ServingSettings()
    storage: StorageSettings = StorageSettings()
    grpc: GrpcSettings = GrpcSettings()
    metrics: MetricsSettings = MetricsSettings()
    tracing: TracingSettings = TracingSettings()
    payloads: PayloadSettings = PayloadSettings()
    drift: DriftSettings = DriftSettings()
    http: HttpSettings = HttpSettings()
    jobs: JobSettings = JobSettings()
    ray: RaySettings = RaySettings()

    @property
    def data_dir(self) -> Path:
        return self.home.expanduser()

    @property
    def payload_dir(self) -> Path:
        return self.data_dir / "payloads"

    @property
    def database_url(self) -> str:
        return self.storage.database_url or f"sqlite:///{self.data_dir / 'modelport.db'}"
