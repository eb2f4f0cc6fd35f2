"""A Stop the user asked for is not an error (issue 17 web 8): no "Error in StopSignal" warning in the log, no
retry, no fallback; the ledger records the call as stopped. Real graph, SQLite and ledger with a scripted model."""

from __future__ import annotations

import logging
import threading

import pytest

from agents.contract import TurnOptions
from graph.app import PodiumApp
from models.scripted import register_script
from ui.session import StopSignal, TurnStopped


def test_a_stop_logs_no_warning_and_does_not_fall_back(app: PodiumApp, caplog: pytest.LogCaptureFixture):
    stop = threading.Event()
    stop.set()
    options = TurnOptions(model="scripted/echo", fallbacks=[register_script("stop-fallback", ["made up"])])
    with caplog.at_level(logging.WARNING), pytest.raises(TurnStopped):
        list(app.stream_turn("tell me a long story", None, options, callbacks=[StopSignal(stop)]))
    assert not [r for r in caplog.records if "TurnStopped" in r.getMessage()], "a stop is not logged as an error"
    calls = app.ledger.calls()
    assert [(c.model, c.outcome, c.error_class) for c in calls] == [("scripted/echo", "failed", "TurnStopped")], \
        "one call, no retry and no fallback"
    assert app.threads() == [], "the stopped turn was rolled back"


def test_other_callback_errors_still_warn(caplog: pytest.LogCaptureFixture):
    StopSignal(threading.Event())  # installs the filter
    manager = logging.getLogger("langchain_core.callbacks.manager")
    with caplog.at_level(logging.WARNING):
        manager.warning("Error in StopSignal.on_llm_new_token callback: TurnStopped('stopped')")
        manager.warning("Error in Other.on_llm_new_token callback: ValueError('boom')")
    assert [r.getMessage() for r in caplog.records] == ["Error in Other.on_llm_new_token callback: ValueError('boom')"]
