"""Fuzz `podium serve` from its own OpenAPI document (schemathesis): whatever arrives, never a 5xx.

Generated bodies follow the schema and break it (wrong types, missing and extra fields); the app is
the real one (conductor on the scripted model, keys, gate, metrics), called in-process over ASGI.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from graph.app import PodiumApp
from podium.settings import Settings
from ui.api import create_app
from ui.api_keys import open_keys


def _app():
    """The real app on a throwaway data dir (built at import: schemathesis reads the schema then)."""
    home = Path(tempfile.mkdtemp(prefix="podium-fuzz-"))
    atexit.register(shutil.rmtree, home, True)
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    podium = PodiumApp(Settings(home=home, model="scripted/echo", max_tokens=16))
    return create_app(podium, open_keys(podium.settings))


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case):
    case.call_and_validate(checks=[not_a_server_error])
