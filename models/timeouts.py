"""How long one call to a provider may take."""

from __future__ import annotations

from podium.settings import Settings

DEFAULT_TIMEOUTS: dict[str, float] = {"llamacpp": 300.0}
"""Per-provider timeouts when ``PODIUM_TIMEOUTS`` names none; others use ``PODIUM_REQUEST_TIMEOUT_S``."""


def timeout_for(settings: Settings, provider: str) -> float:
    """The explicit timeout (seconds) of one call to ``provider``."""
    return settings.timeouts.get(provider) or DEFAULT_TIMEOUTS.get(provider) or settings.request_timeout_s
