"""Pending tool approvals in the Chat tab: a hidden panel with Approve / Edit / Reject.

When a turn stops at an approval interrupt, the session keeps the interrupt payloads
(``session["pending"]``) and this panel shows the call; a button resumes the graph through
``PodiumApp.resume`` and streams the rest of the turn into the chat like any other turn.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import gradio as gr

from ui.chat_view import approval_text, decision_message, settle

if TYPE_CHECKING:
    from ui.gradio_chat import ChatTab


class ApprovalPanel:
    """The approval panel of one Chat tab."""

    def __init__(self, chat: ChatTab) -> None:
        self.chat = chat
        self._parts: list[Any] = []

    def build(self) -> None:
        """Lay out the (hidden) panel; call inside the chat column."""
        # The id sits on an inner column: Gradio renders a Group as two nested divs that share its elem_id.
        with gr.Group(visible=False) as group, gr.Column(elem_id="podium-approval"):
            info = gr.Markdown()
            args = gr.Code(language="json", label="Arguments (edit, then press Edit)", interactive=True,
                           lines=3)
            with gr.Row():
                self.approve = gr.Button("Approve", variant="primary", elem_id="podium-approve")
                self.edit = gr.Button("Edit", elem_id="podium-edit")
                self.reject = gr.Button("Reject", variant="stop", elem_id="podium-reject")
        self._parts = [group, info, args]

    def components(self) -> list[Any]:
        """Outputs every turn updates: the group, its description, the editable arguments."""
        return list(self._parts)

    def hidden(self) -> tuple[Any, ...]:
        """Updates that hide the panel."""
        return (gr.Group(visible=False), gr.skip(), gr.skip()) if self._parts else ()

    def shown(self, session: dict[str, Any]) -> tuple[Any, ...]:
        """Updates that show the session's first pending approval (or hide the panel)."""
        pending = session.get("pending") or []
        if not self._parts or not pending:
            return self.hidden()
        title, args = approval_text(pending[0])
        return gr.Group(visible=True), title, json.dumps(args, indent=2, ensure_ascii=False)

    def wire(self, session: gr.State, turn_outputs: list[Any]) -> None:
        """Connect the three buttons to :meth:`decide` (queued with the chat turns)."""
        from ui.gradio_chat import CHAT_CONCURRENCY

        args = self._parts[2]
        for button, action in ((self.approve, "approve"), (self.edit, "edit"), (self.reject, "reject")):
            button.click(self._handler(action), [args, session], turn_outputs, api_name=f"tool_{action}",
                         concurrency_id="chat", concurrency_limit=CHAT_CONCURRENCY, show_progress="minimal")

    def _handler(self, action: str) -> Any:
        def handle(args_text: str, session: dict[str, Any], request: gr.Request) -> Iterator[tuple[Any, ...]]:
            yield from self.decide(action, args_text, session, request)

        handle.__name__ = f"tool_{action}"
        return handle

    def decide(self, action: str, args_text: str, session: dict[str, Any],
               request: gr.Request) -> Iterator[tuple[Any, ...]]:
        """Resume the session's interrupted turn with the user's decision.

        A decision that cannot be taken (nothing pending, arguments that are not JSON) is a
        warning toast and changes nothing: an error would blank the chat, an output of this event.
        """
        pending = session.get("pending") or []
        decision: dict[str, Any] = {"action": action}
        why = "" if pending and session.get("thread_id") else "There is no tool call waiting for approval."
        if action == "edit" and not why:
            try:
                decision["args"] = json.loads(args_text or "{}")
            except json.JSONDecodeError as exc:
                why = f"The edited arguments are not valid JSON: {exc.msg} (line {exc.lineno}). Nothing was run."
        if why:
            gr.Warning(why, duration=8)
            yield (gr.skip(),) * (4 + len(self._parts))
            return
        resume = self.chat.podium.resume
        title, _ = approval_text(pending[0])
        chat = [*settle(session.get("chat", []), {"approve": "approved", "edit": "edited"}.get(action, "rejected")),
                decision_message(title, decision)]
        session = {**session, "chat": chat}  # pending stays until the resumed run reports anew
        thread_id = session["thread_id"]
        from ui.gradio_chat import session_key

        self.chat.stops.start(session_key(request))
        yield from self.chat.run_events(session, request, lambda callbacks: resume(
            thread_id, decision=decision, callbacks=callbacks))

