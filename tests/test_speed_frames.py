"""Streamed text in display frames: the first token at once, nothing lost or reordered, a stop still stops."""

from __future__ import annotations

import threading

import pytest

from graph.app import PodiumApp
from models import registry
from models.frames import Frames
from models.llama_pool import default_threads
from podium.settings import Settings
from tests.conftest import LOCAL_MODEL
from ui.session import StopSignal, TurnStopped


class Ticks:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.unit
def test_first_piece_goes_at_once_then_one_send_per_frame() -> None:
    clock = Ticks()
    frames = Frames(0.016, clock)
    assert frames.add("") == ""  # nothing to send does not start a frame
    assert frames.add("Once") == "Once"
    clock.now += 0.005
    assert frames.add(" upon") == ""
    clock.now += 0.005
    assert frames.add(" a") == ""
    clock.now += 0.007  # 17 ms after the last send
    assert frames.add(" time") == " upon a time"
    clock.now += 0.001
    assert frames.add(",") == ""
    assert frames.flush() == ","
    assert frames.flush() == ""


@pytest.mark.unit
def test_every_piece_arrives_once_and_in_order() -> None:
    clock = Ticks()
    frames = Frames(0.016, clock)
    pieces = [f"w{i} " for i in range(200)]
    sent = []
    for index, piece in enumerate(pieces):
        clock.now += 0.001 * (index % 7)  # uneven gaps, some shorter than a frame, some together longer
        sent.append(frames.add(piece))
    sent.append(frames.flush())
    assert "".join(sent) == "".join(pieces)
    sends = [s for s in sent if s]
    assert sends[0] == "w0 " and 1 < len(sends) < len(pieces)


@pytest.mark.unit
def test_a_zero_frame_sends_every_piece() -> None:
    clock = Ticks()
    frames = Frames(0.0, clock)
    assert [frames.add(p) for p in ("a", "b", "c")] == ["a", "b", "c"]


@pytest.mark.unit
def test_stream_frame_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from podium.errors import ConfigError

    monkeypatch.setenv("PODIUM_STREAM_FRAME_MS", "-1")
    with pytest.raises(ConfigError, match="PODIUM_STREAM_FRAME_MS is negative"):
        Settings()


@pytest.mark.unit
def test_llama_cpp_runs_on_every_physical_core_by_default() -> None:
    """Counted apart from the implementation: one core per distinct sibling list among the CPUs we may use."""
    import os
    from pathlib import Path

    cpus = os.sched_getaffinity(0)
    siblings = {Path(f"/sys/devices/system/cpu/cpu{c}/topology/thread_siblings_list").read_text().strip()
                for c in cpus}
    assert default_threads() == len(siblings) >= 1


def text_chunks(settings: Settings, frame_ms: float) -> list[str]:
    """The text pieces SmolLM2 streams for one question with frames of ``frame_ms``."""
    framed = settings.model_copy(update={"stream_frame_ms": frame_ms})
    model = registry.build(registry.resolve(LOCAL_MODEL, framed), framed)
    return [c.content for c in model.stream("Name three colours of the rainbow.") if c.content]


@pytest.mark.model
def test_the_local_model_sends_its_first_token_at_once_and_holds_the_rest_for_the_frame(settings: Settings) -> None:
    every = text_chunks(settings, 0)
    held = text_chunks(settings, 3_600_000)  # an hour-long frame: the first token, then the rest at the end
    assert len(every) > 3, every
    assert held == [every[0], "".join(every[1:])]


@pytest.mark.model
def test_the_apps_token_events_are_frames_of_the_whole_answer(settings: Settings) -> None:
    app = PodiumApp(settings.model_copy(update={"stream_frame_ms": 3_600_000}))
    events = list(app.stream_turn("What is the capital of France?"))
    tokens = [e.data["text"] for e in events if e.kind == "token"]
    result = events[-1].data["result"]
    assert len(tokens) == 2 and "".join(tokens) == result.answer and "Paris" in result.answer
    assert result.usage["completion_tokens"] > 2  # two events carried every token


@pytest.mark.model
@pytest.mark.parametrize("frame_ms", [16.0, 3_600_000])
def test_a_stop_still_stops_a_framed_stream(settings: Settings, frame_ms: float) -> None:
    """A stop set while tokens are held ends the turn at the next frame sent, and nothing is saved."""
    app = PodiumApp(settings.model_copy(update={"stream_frame_ms": frame_ms}))
    stop = threading.Event()
    seen = []
    with pytest.raises(TurnStopped):
        for event in app.stream_turn("Tell me a long story about a dragon.", "t-stop", callbacks=[StopSignal(stop)],
                                     create=True):
            if event.kind == "token":
                seen.append(event.data["text"])
                stop.set()
    if frame_ms > 60_000:  # nothing else is sent before the end: the stop came with the held text, never shown
        assert len(seen) == 1
    assert not app.thread_exists("t-stop")
