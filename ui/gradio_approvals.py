"""The approval widget: a hidden panel with the pending tool call, its editable arguments, Approve / Edit / Reject.

One widget for the Chat tab and the Debug tab: each lays one out with its own element ids and
wires the buttons to its own handler (the Chat tab streams the rest of the turn into the chat,
the Debug tab into its step table). :func:`decision_for` reads a button press into the decision
``PodiumApp.resume`` takes, or the reason it cannot be taken.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import gradio as gr

from ui.chat_view import approval_text

ACTIONS = ("approve", "edit", "reject")
"""The buttons, in order."""


def decision_for(action: str, args_text: str, pending: list[Any]) -> tuple[dict[str, Any] | None, str]:
    """``(decision, "")`` for a button press, or ``(None, why)`` when it cannot be taken (nothing is run)."""
    if not pending:
        return None, "There is no tool call waiting for approval."
    decision: dict[str, Any] = {"action": action}
    if action == "edit":
        try:
            decision["args"] = json.loads(args_text or "{}")
        except json.JSONDecodeError as exc:
            return None, f"The edited arguments are not valid JSON: {exc.msg} (line {exc.lineno}). Nothing was run."
    return decision, ""


class ApprovalWidget:
    """The panel, laid out once per tab; ``prefix`` names its element ids (``<prefix>-approve``...).

    ``fixed``: its three outputs are always among the handlers' outputs (the Debug tab's), so
    :meth:`shown` and :meth:`hidden` give them even before the panel is laid out (tests without a page).
    """

    def __init__(self, prefix: str = "podium", *, fixed: bool = False) -> None:
        self.prefix = prefix
        self.fixed = fixed
        self.buttons: dict[str, Any] = {}
        self._parts: list[Any] = []

    def build(self) -> None:
        """Lay out the (hidden) panel where it is called."""
        # The id sits on an inner column: Gradio renders a Group as two nested divs that share its elem_id.
        with gr.Group(visible=False) as group, gr.Column(elem_id=f"{self.prefix}-approval"):
            info = gr.Markdown()
            args = gr.Code(language="json", label="Arguments (edit, then press Edit)", interactive=True, lines=3)
            with gr.Row():
                variants: tuple[Literal["primary", "secondary", "stop"], ...] = ("primary", "secondary", "stop")
                for action, variant in zip(ACTIONS, variants, strict=True):
                    self.buttons[action] = gr.Button(action.title(), variant=variant,
                                                     elem_id=f"{self.prefix}-{action}")
        self._parts = [group, info, args]

    @property
    def args(self) -> Any:
        """The editable arguments (the first input of every button's handler)."""
        return self._parts[2]

    def components(self) -> list[Any]:
        """The outputs that show or hide it: the group, its description, the editable arguments."""
        return list(self._parts)

    def hidden(self) -> tuple[Any, ...]:
        """Updates that hide the panel (none when it was never laid out, unless ``fixed``)."""
        return (gr.update(visible=False), gr.skip(), gr.skip()) if self._parts or self.fixed else ()

    def shown(self, pending: list[Any]) -> tuple[Any, ...]:
        """Updates that show the first pending approval, or hide the panel when none is pending."""
        if not pending or not (self._parts or self.fixed):
            return self.hidden()
        title, args = approval_text(pending[0])
        return gr.update(visible=True), title, json.dumps(args, indent=2, ensure_ascii=False)

    def wire(self, handler: Callable[[str], Callable[..., Any]], inputs: list[Any], outputs: list[Any], *,
             api_prefix: str, **options: Any) -> None:
        """Connect each button to ``handler(action)``, called with the arguments' text then ``inputs``."""
        for action, button in self.buttons.items():
            button.click(handler(action), [self.args, *inputs], outputs, api_name=f"{api_prefix}{action}", **options)
