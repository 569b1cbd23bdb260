"""The serve stage's config: which model, where to listen, and the limits that keep the server up."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from antrenor.config import StageConfig

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: addresses only this machine reaches."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class ServeConfig(StageConfig):
    """Serve a tuned model over HTTP: an OpenAI-compatible API (/v1/chat/completions, /v1/completions,
    /v1/models) for generation models, /v1/classify for classifiers, /health and Prometheus /metrics.

    Concurrent requests are micro-batched: one worker thread owns the model and runs one forward
    (or generate) for up to max_batch_size requests that arrived within batch_wait_ms of each other.
    Every inference request (accepted or rejected) is logged to a SQLite file (log_db), which
    `antrenor monitor` reads. Binds to 127.0.0.1 unless host says otherwise; the API key can also be
    given in the ANTRENOR_API_KEY environment variable (safer than a flag other users can see in `ps`).
    """

    stage: ClassVar[str] = "serve"

    model: str = Field(..., description="Model folder: an `antrenor train` output (full weights or adapter) or an `antrenor export` output (onnx backend: or one .onnx file in it).")
    backend: Literal["torch", "onnx"] = Field("torch", description="Inference engine: torch, or onnx (ONNX Runtime, for `antrenor export --format onnx` outputs).")
    task: Literal["auto", "sft", "clm", "classification"] = Field(
        "auto", description="auto: from the folder's manifest, else from its architecture; sft/clm serve text generation.")
    host: str = Field("127.0.0.1", description="Address to bind. Anything but loopback exposes the model to the network: set api_key.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port.")
    api_key: str | None = Field(None, description="Bearer key clients must send (Authorization: Bearer KEY); none: no authentication.")
    allow_unauthenticated: bool = Field(
        False, description="Allow a host other than loopback without an api_key: anyone who reaches the port can use the "
        "model and write into the request log that monitor and retraining read. Only on a network you trust.")
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Without an api_key, requests are answered only when their Host header names "
        "this server: 127.0.0.1, localhost, [::1], the bound host, and these names (e.g. a machine name clients use); "
        "'*' accepts any (only behind a proxy that checks it). Blocks DNS rebinding from web pages.")
    log_db: str | None = Field(None, description="SQLite request log; default: <model folder>.requests.db beside the "
                               "folder (never inside it: a re-export replaces the folder whole).")
    model_name: str | None = Field(None, description="Name clients use in the `model` field and /v1/models; default: the model folder's name.")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted (bytes); larger -> 413.")
    max_tokens_cap: int = Field(512, ge=1, description="Largest max_tokens a request may ask for; more -> 400.")
    default_max_tokens: int | None = Field(
        None, ge=1, description="Tokens generated when a request does not say (max_tokens); default: 128, or max_tokens_cap if lower.")
    max_inputs: int = Field(64, ge=1, description="Texts one /v1/classify request may hold; more -> 400.")
    request_timeout_s: float = Field(60.0, gt=0, description="A request not answered within this many seconds gets 504 (its generation is stopped).")
    max_batch_size: int = Field(8, ge=1, description="Requests run together in one forward/generate at most.")
    batch_wait_ms: float = Field(10.0, ge=0, description="How long the worker waits for more requests to fill a batch (latency traded for throughput).")
    max_queue: int = Field(64, ge=1, description="Requests waiting or running at most; more -> 429 (try again later).")
    bf16: bool | None = Field(None, description="Generation models in bfloat16 (halves memory, faster on CPUs with AVX512-BF16); default: when the CPU supports it.")
    trust_remote_code: bool = Field(False, description="Run model code shipped with a hub model.")
    allow_pickle: bool = Field(False, description="Allow loading .bin (pickle) weights.")

    @field_validator("allowed_hosts")
    @classmethod
    def _plain_host_names(cls, hosts: list[str]) -> list[str]:
        cleaned = [h.strip().lower().strip("[]").rstrip(".") for h in hosts]
        wrong = [h for h in cleaned if not h or any(c in h for c in "/@ ") or h.count(":") == 1]
        if wrong:
            raise ValueError(f"allowed_hosts {wrong}: give host names or addresses without scheme, port or path "
                             "(e.g. gpu-box.lan, 192.168.1.5)")
        return cleaned

    @model_validator(mode="after")
    def _check_limits(self) -> "ServeConfig":
        if self.default_max_tokens is not None and self.default_max_tokens > self.max_tokens_cap:
            raise ValueError(f"default_max_tokens ({self.default_max_tokens}) is above max_tokens_cap ({self.max_tokens_cap}); "
                             "lower it or raise the cap")
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("api_key is empty: give a key, or leave it unset for no authentication")
        return self

    @property
    def answer_tokens(self) -> int:
        """max_tokens of a request that does not say."""
        return self.default_max_tokens or min(128, self.max_tokens_cap)

    @property
    def model_folder(self) -> Path:
        """The model's folder (the onnx backend may be given one .onnx file in it)."""
        path = Path(self.model)
        return path.parent if path.suffix == ".onnx" else path

    @property
    def log_path(self) -> Path:
        """log_db, or a file beside the model folder: state that must outlive a re-export of the folder."""
        if self.log_db:
            return Path(self.log_db)
        folder = self.model_folder if self.model_folder.name else self.model_folder.resolve()
        return folder.with_name(folder.name + ".requests.db")

    @property
    def accepted_host_names(self) -> set[str] | None:
        """Host header names answered without an API key; None: any."""
        if "*" in self.allowed_hosts:
            return None
        names = {"127.0.0.1", "localhost", "::1", *self.allowed_hosts}
        bound = self.host.strip("[]").lower().rstrip(".")
        if bound not in WILDCARD_HOSTS:
            names.add(bound)
        return names

    @property
    def served_name(self) -> str:
        return self.model_name or self.model_folder.resolve().name

    def doubts(self) -> list[str]:
        found = []
        if not is_loopback(self.host) and not self.api_key and self.allow_unauthenticated:
            found.append(f"binding to {self.host} without an api_key (allow_unauthenticated): anyone who can reach this "
                         "port can use the model and write into the request log")
            if not self.allowed_hosts:
                found.append("allowed_hosts is empty: requests addressed to this machine's network names or addresses are "
                             "refused (403); add the names clients use, e.g. --set allowed_hosts=[gpu-box.lan]")
        if self.max_batch_size > 1 and self.batch_wait_ms == 0:
            found.append("batch_wait_ms is 0: requests batch only when they are already queued together")
        return found
