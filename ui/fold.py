"""One fold of a run's events into what every front end shows: the answer so far, notices, approvals, the result.

The CLI (:func:`ui.terminal.drive`), the Gradio chat (:class:`ui.chat_view.TurnView`), the
Debug tab and the HTTP API (:func:`ui.api_chat.run_podium`) all feed a run's
:class:`graph.app.Event` records through :meth:`TurnFold.apply` and render from it, so a
retraction, a notice or a pending approval means the same thing everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ui.render import take_back


@dataclass
class TurnFold:
    """A run's events, folded: read it after each :meth:`apply`."""

    answer: str = ""
    """The answer streamed so far; a failed attempt's text is taken back when a retry or another model follows."""
    notices: list[str] = field(default_factory=list)
    """Notices in the order they came (routing, budget, fallbacks, trimmed history)."""
    pending: list[Any] = field(default_factory=list)
    """Approval interrupts waiting for the user (their payloads: ``{id, name, args, question}``)."""
    route: str = ""
    """The specialist the conductor chose."""
    result: Any = None
    """The :class:`graph.app.TurnResult` once the run is done."""
    plan: list[dict[str, Any]] = field(default_factory=list)
    """The turn's plan as its steps progress (the latest ``plan`` event); empty for a one-step turn."""
    step_text: dict[int, str] = field(default_factory=dict)
    """What each running plan step's specialist has streamed so far (its output, not the turn's answer)."""
    steps: list[tuple[str, Any]] = field(default_factory=list)
    """Each graph step as it ended: ``(node, state update)``, in order (the API's record of a turn)."""

    def apply(self, event: Any) -> None:
        """Fold one event in."""
        kind, data = event.kind, event.data
        if kind == "token":
            self.answer += data.get("text", "")
        elif kind == "retract":
            self.answer = take_back(self.answer, int(data.get("chars", 0)))
        elif kind == "notice" and data.get("text"):
            self.notices.append(data["text"])
        elif kind == "route":
            self.route = data.get("route", "")
        elif kind == "interrupt":
            self.pending = list(data.get("interrupts") or [])
        elif kind == "plan":
            self.plan = list(data.get("plan") or [])
        elif kind == "step_token":
            self.step_text[data["step"]] = self.step_text.get(data["step"], "") + data.get("text", "")
        elif kind == "step_retract":
            self.step_text[data["step"]] = take_back(self.step_text.get(data["step"], ""), int(data.get("chars", 0)))
        elif kind == "step":
            self.steps.append((event.node, data.get("update")))
        elif kind == "done":
            self.result = data["result"]

    @property
    def final(self) -> str:
        """The answer to show once the run is over: the saved one, else what streamed."""
        return (self.result.answer if self.result is not None else "") or self.answer
