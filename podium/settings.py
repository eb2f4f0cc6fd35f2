"""One settings object, built once at the entry point from the environment.

Every knob is an environment variable prefixed ``PODIUM_`` (``PODIUM_HOME``,
``PODIUM_MODEL``...), except the OpenAI ones, which keep their usual names.
No ``.env`` file is read unless ``PODIUM_ENV_FILE`` names one, so tests never
pick up a developer's secrets by accident.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from podium.errors import ConfigError

DEFAULT_MODEL = "llamacpp/smollm2-135m"
POLICIES = ("local-first", "quality-first", "budget", "best-for")
KNOWLEDGE_MODES = ("auto", "extractive", "generative")
"""How the knowledge specialist answers: ``auto`` quotes for tiny local models and lets capable ones write."""
"""Routing policies, the default first."""
MIN_CONTEXT = 256
"""Smallest ``PODIUM_MAX_CONTEXT``: below it no prompt and answer fit a local model."""


class Settings(BaseSettings):
    """Podium's configuration; see the README for every variable."""

    model_config = SettingsConfigDict(env_prefix="PODIUM_", extra="ignore", populate_by_name=True)

    home: Path = Field(default=Path("~/.podium"))
    """Data directory: checkpoints, the ledger, the knowledge base, downloaded models."""
    model: str = DEFAULT_MODEL
    """Default model spec (``provider/name``) for every specialist."""
    fallbacks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Models tried in order when the default one fails (JSON list or comma-separated)."""
    router_model: str | None = None
    """A capable model for LLM routing; the conductor routes deterministically without it."""
    temperature: float = 0.2
    """Sampling temperature for answers."""
    max_tokens: int = 512
    """Most tokens an answer may generate."""
    max_context: int = 8192
    """Cap on the context window a local model is loaded with (memory grows with it)."""
    n_threads: int | None = None
    """CPU threads for llama.cpp; default: every physical core the process may use (measured fastest)."""
    kv_cache_mb: int = 256
    """Memory for saved KV states of local-model conversations (0: off). Sessions that take
    turns on one loaded model resume from their own saved prefix instead of re-reading it."""
    stream_frame_ms: float = 16.0
    """A local model's streamed text is sent at most once per this many milliseconds (the first token at
    once), so front ends wake once per display frame rather than once per token; 0 sends every token."""
    stream: bool = False
    """Print answers token by token into a pipe or a file too (a terminal always gets them live);
    a failed attempt's words may then reach the file, followed by a note to ignore them."""
    seed: int = 0
    """Sampling seed for local models, so runs at temperature 0 repeat exactly."""
    system_prompt: str = "You are Podium, a helpful assistant. Answer clearly and concisely."
    """System prompt of the chat specialist."""
    request_timeout_s: float = 60.0
    """Timeout of one remote model request."""
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    """Key for ``openai/...`` models; read from ``OPENAI_API_KEY``, never logged."""
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    """Any OpenAI-compatible server (llama.cpp server, vLLM); read from ``OPENAI_BASE_URL``."""
    chroma_url: str | None = None
    """Chroma server URL; the embedded persistent client is used when unset."""
    embedding_model: str = "onnx/all-MiniLM-L6-v2-int8"
    """Knowledge-base embeddings: the offline default, ``openai/<model>`` or ``sentence-transformers/<model>``."""
    postgres_url: str | None = None
    """Postgres URL for the shared checkpointer of several app replicas; SQLite when unset."""
    checkpoint_keep_turns: int = Field(default=20, ge=0)
    """Turns whose every step checkpoint is kept (time travel to any step); older turns keep their input and
    end only. ``0`` keeps every checkpoint (a thread's store then grows with the square of its length)."""
    workspace: Path | None = None
    """Folder the file tools may read; default ``<home>/workspace``."""
    sandbox_wall_s: float = 10.0
    """Wall-clock seconds a python-tool snippet may run before its process tree is killed."""
    sandbox_cpu_s: int = 5
    """CPU seconds a python-tool snippet may use."""
    sandbox_memory_mb: int = 256
    """Address space a python-tool snippet may use, in MB."""
    sandbox_unconfined: bool = False
    """Run python-tool snippets even where the kernel cannot confine their files (no mount namespace, no
    Landlock): only the interpreter-level guard and the limits remain. At the user's own risk."""
    prices_file: Path | None = None
    """JSON file overriding model prices (USD per 1M input/output tokens)."""
    policy: str = "local-first"
    """Routing policy: ``local-first``, ``quality-first``, ``budget`` (remote models within the caps) or ``best-for``
    (the cheapest model scoring within ``best_for_margin`` of the best on the step's benchmark)."""
    best_for: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    """``best-for`` policy: which benchmark stands for each step (``chat=ifeval,tools=gsm8k``), over the defaults."""
    best_for_margin: float = 2.0
    """``best-for`` policy: score points below the best that still count as good enough."""
    budget_thread_usd: float | None = None
    """Most USD one thread may spend on remote models; past it the local model answers."""
    budget_day_usd: float | None = None
    """Most USD all threads together may spend on remote models per calendar day (local time)."""
    agent_models: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    """Per-agent model specs: JSON ``{"knowledge": "openai/gpt-4o-mini"}`` or ``node=spec,node=spec``."""
    timeouts: Annotated[dict[str, float], NoDecode] = Field(default_factory=dict)
    """Per-provider timeouts in seconds: JSON ``{"openai": 30}`` or ``openai=30,llamacpp=300``."""
    retries: int = 2
    """Retries of one model on 429/5xx/timeouts/connection errors before the next model is tried."""
    backoff_s: float = 0.5
    """First retry delay in seconds; it doubles per retry, with jitter."""
    backoff_max_s: float = 20.0
    """Longest wait before a retry; a longer ``Retry-After`` moves on to the next model at once."""
    cooldown_after: int = 3
    """Consecutive failed calls after which a provider is skipped for ``cooldown_s``."""
    cooldown_s: float = 60.0
    """How long a provider that keeps failing is skipped."""
    structured_repairs: int = 1
    """Times a model may repair invalid structured output before the step escalates to the next model."""

    modal_url: str | None = None
    """OpenAI-compatible endpoint of the deployed modal_app.py (``https://...modal.run/v1``) for ``modal/NAME``."""
    modal_gpu: str = "A10G"
    """GPU the Modal endpoint runs on: prices its GPU-seconds (Modal's table, or PODIUM_PRICES_FILE)."""
    modal_first_token_s: float = 60.0
    """Deadline for a Modal model's first token; past it the chain falls back while the container starts."""
    modal_cold_start_s: float = 40.0
    """Expected cold start of a Modal container, shown in the notice while one starts."""

    no_native_tools: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """OpenAI-compatible models (specs, or ``*``) whose native tool calling is off: they choose tools through a
    GBNF grammar sent to the server, as local models do (llama.cpp's servers take one)."""
    knowledge_mode: str = "auto"
    """Knowledge answers: ``extractive`` (the passages' best sentences, quoted with citations), ``generative``
    (the model writes the answer) or ``auto`` (extractive for local models under 1B parameters)."""

    @field_validator("fallbacks", "no_native_tools", mode="before")
    @classmethod
    def _split_fallbacks(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                return json.loads(value)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("policy", mode="after")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        if value not in POLICIES:
            raise ConfigError(f"PODIUM_POLICY: unknown routing policy {value!r}", setting="PODIUM_POLICY",
                              hint=f"use one of {', '.join(POLICIES)}")
        return value

    @field_validator("knowledge_mode", mode="after")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        if value not in KNOWLEDGE_MODES:
            raise ConfigError(f"PODIUM_KNOWLEDGE_MODE: unknown mode {value!r}", setting="PODIUM_KNOWLEDGE_MODE",
                              hint=f"use one of {', '.join(KNOWLEDGE_MODES)}")
        return value

    @field_validator("budget_thread_usd", "budget_day_usd", "backoff_s", "backoff_max_s", "cooldown_s",
                     "retries", "cooldown_after", "structured_repairs", "kv_cache_mb", "best_for_margin",
                     "stream_frame_ms", mode="after")
    @classmethod
    def _not_negative(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and value < 0:
            setting = _env_name(info)
            raise ConfigError(f"{setting} is negative ({value})", setting=setting, hint="use 0 or a positive number")
        return value

    @field_validator("max_tokens", "n_threads", mode="after")
    @classmethod
    def _at_least_one(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None and value < 1:
            setting = _env_name(info)
            raise ConfigError(f"{setting} must be at least 1 ({value})", setting=setting,
                              hint="use a whole number of 1 or more" + (" (or unset it for every core)"
                                                                        if info.field_name == "n_threads" else ""))
        return value

    @field_validator("temperature", mode="after")
    @classmethod
    def _sampling_temperature(cls, value: float) -> float:
        if not 0 <= value <= 2:
            raise ConfigError(f"PODIUM_TEMPERATURE must be between 0 and 2 ({value})", setting="PODIUM_TEMPERATURE",
                              hint="0 answers the same way every time; 0.2 is the default; 2 is the most random")
        return value

    @field_validator("max_context", mode="after")
    @classmethod
    def _usable_context(cls, value: int) -> int:
        if value < MIN_CONTEXT:
            raise ConfigError(f"PODIUM_MAX_CONTEXT is {value} tokens; the smallest usable context is {MIN_CONTEXT}",
                              setting="PODIUM_MAX_CONTEXT", hint=f"use {MIN_CONTEXT} or more (the default is 8192)")
        return value

    @model_validator(mode="after")
    def _room_for_prompt(self) -> Settings:
        # An answer of max_tokens is reserved in the local context: nothing would be left for the prompt.
        if self.max_tokens >= self.max_context:
            raise ConfigError(f"PODIUM_MAX_TOKENS ({self.max_tokens}) leaves no room for the prompt in "
                              f"PODIUM_MAX_CONTEXT ({self.max_context} tokens)", setting="PODIUM_MAX_TOKENS",
                              hint="lower PODIUM_MAX_TOKENS or raise PODIUM_MAX_CONTEXT")
        return self

    @field_validator("sandbox_wall_s", "sandbox_cpu_s", "sandbox_memory_mb", "modal_first_token_s",
                     "modal_cold_start_s", mode="after")
    @classmethod
    def _positive(cls, value: float, info: ValidationInfo) -> float:
        if value <= 0:
            setting = _env_name(info)
            raise ConfigError(f"{setting} must be positive ({value})", setting=setting, hint="use a number above 0")
        return value

    @field_validator("agent_models", "timeouts", "best_for", mode="before")
    @classmethod
    def _split_pairs(cls, value: object, info: ValidationInfo) -> object:
        setting = _env_name(info)
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip().startswith("{") else dict(
                    (k.strip(), v.strip()) for k, _, v in (p.partition("=") for p in value.split(",") if p.strip()))
            except ValueError as exc:
                raise ConfigError(f"{setting} is not valid JSON: {exc}", setting=setting,
                                  hint='write {"name": "value", ...} or name=value,name=value') from exc
        if not isinstance(value, dict) or not all(k and v not in ("", None) for k, v in value.items()):
            raise ConfigError(f"{setting} must map names to values", setting=setting,
                              hint='write {"name": "value", ...} or name=value,name=value')
        if info.field_name == "timeouts":
            try:
                value = {k: float(v) for k, v in value.items()}
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{setting}: {exc}", setting=setting, hint="timeouts are seconds") from exc
            if any(v <= 0 for v in value.values()):
                raise ConfigError(f"{setting} has a timeout <= 0", setting=setting, hint="timeouts are seconds > 0")
        return value

    @field_validator("home", "workspace", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @property
    def data_dir(self) -> Path:
        """The data directory, created on first use."""
        return _make_dir(self.home, "PODIUM_HOME")

    @property
    def workspace_dir(self) -> Path:
        """The tools' workspace folder, created on first use."""
        if self.workspace is None:
            return _make_dir(self.data_dir / "workspace", "PODIUM_HOME")
        return _make_dir(self.workspace, "PODIUM_WORKSPACE")


def _env_name(info: ValidationInfo) -> str:
    """The environment variable of the field a field validator checks (pydantic always names that field)."""
    assert info.field_name is not None, "a field validator always has a field name"
    return f"PODIUM_{info.field_name.upper()}"


def _make_dir(path: Path, setting: str) -> Path:
    """Create a settings folder, or raise a one-line :class:`ConfigError` naming the setting."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"{setting}: {path} is a file, not a folder", setting=setting,
                          hint=f"point {setting} at a folder (it is created if missing)") from None
    except OSError as exc:
        raise ConfigError(f"{setting}: cannot create the folder {path} ({exc.strerror or exc})", setting=setting,
                          hint=f"point {setting} at a folder you can write to") from None
    if not os.access(path, os.W_OK | os.X_OK):  # a read-only mount (even for root), or another user's folder
        why = "a read-only file system" if _read_only(path) else "no write permission"
        raise ConfigError(f"{setting}: the folder {path} cannot be written ({why})", setting=setting,
                          hint=f"point {setting} at a folder you can write to")
    return path


def _read_only(path: Path) -> bool:
    """Whether ``path`` is on a file system mounted read-only."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment (and ``PODIUM_ENV_FILE`` when set)."""
    env_file = os.environ.get("PODIUM_ENV_FILE") or None
    if env_file is not None and not Path(env_file).expanduser().is_file():
        what = "is a folder" if Path(env_file).expanduser().is_dir() else "does not exist"
        raise ConfigError(f"PODIUM_ENV_FILE: {env_file} {what}", setting="PODIUM_ENV_FILE",
                          hint="name a .env file of KEY=value lines, or unset PODIUM_ENV_FILE")
    env_file = str(Path(env_file).expanduser()) if env_file else None
    try:
        # BaseSettings takes `_env_file` in __init__, but the dataclass_transform signature mypy reads lists
        # the fields only.
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except (ValidationError, SettingsError, ValueError) as exc:
        raise ConfigError(f"invalid setting: {_first_problem(exc)}", setting="environment",
                          hint="fix the PODIUM_* variable named above") from exc


def _first_problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        name = "PODIUM_" + str(first["loc"][0]).upper() if first.get("loc") else "?"
        return f"{name}: {first['msg']}"
    return str(exc).splitlines()[0]
