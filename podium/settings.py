"""One settings object, built once at the entry point from the environment.

Every knob is an environment variable prefixed ``PODIUM_`` (``PODIUM_HOME``,
``PODIUM_MODEL``...), except the OpenAI ones, which keep their usual names.
No ``.env`` file is read unless ``PODIUM_ENV_FILE`` names one, so tests never
pick up a developer's secrets by accident.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MODEL = "llamacpp/smollm2-135m"


class Settings(BaseSettings):
    """Podium's configuration; see the README for every variable."""

    model_config = SettingsConfigDict(env_prefix="PODIUM_", extra="ignore", populate_by_name=True)

    home: Path = Field(default=Path("~/.podium"))
    """Data directory: checkpoints, the ledger, the knowledge base, downloaded models."""
    model: str = DEFAULT_MODEL
    """Default model spec (``provider/name``) for every specialist."""
    fallbacks: list[str] = Field(default_factory=list)
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
    """CPU threads for llama.cpp; default: all cores."""
    seed: int = 0
    """Sampling seed for local models, so runs at temperature 0 repeat exactly."""
    system_prompt: str = (
        "You are Podium, a helpful assistant. Answer clearly and concisely."
    )
    """System prompt of the chat specialist."""
    request_timeout_s: float = 60.0
    """Timeout of one remote model request."""
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    """Key for ``openai/...`` models; read from ``OPENAI_API_KEY``, never logged."""
    openai_base_url: str | None = Field(default=None, validation_alias="OPENAI_BASE_URL")
    """Any OpenAI-compatible server (llama.cpp server, vLLM); read from ``OPENAI_BASE_URL``."""
    chroma_url: str | None = None
    """Chroma server URL; the embedded persistent client is used when unset."""
    postgres_url: str | None = None
    """Postgres URL for the shared checkpointer of several app replicas; SQLite when unset."""
    workspace: Path | None = None
    """Folder the file tools may read; default ``<home>/workspace``."""
    prices_file: Path | None = None
    """JSON file overriding model prices (USD per 1M input/output tokens)."""

    @field_validator("fallbacks", mode="before")
    @classmethod
    def _split_fallbacks(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("home", "workspace", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @property
    def data_dir(self) -> Path:
        """The data directory, created on first use."""
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home

    @property
    def workspace_dir(self) -> Path:
        """The tools' workspace folder, created on first use."""
        path = self.workspace or self.home / "workspace"
        path.mkdir(parents=True, exist_ok=True)
        return path


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment (and ``PODIUM_ENV_FILE`` when set)."""
    env_file = os.environ.get("PODIUM_ENV_FILE")
    return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
