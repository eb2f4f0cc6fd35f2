"""Settings of one chat session: system prompt, temperature, max tokens, routing policy and fallbacks.

Each is empty or at its default until changed, and then applies to this browser tab only (the
turn's :class:`agents.contract.TurnOptions`). The panel always shows the values the next turn
will really use, and where each comes from (this session, or the server's settings).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from agents.contract import TurnOptions
from podium.settings import POLICIES
from ui.gradio_events import PRIVATE

MAX_TOKENS_CAP = 32_768
"""Largest answer length the panel accepts (a model's own context is the real limit; it is checked per turn)."""


def _clean(values: list[str] | str | None) -> list[str]:
    items = values if isinstance(values, list) else [values] if values else []
    return [v.strip() for v in items if v and v.strip()]


class SettingsPanel:
    """The panel's components and the pure functions reading them."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.inputs: list[Any] = []
        """System prompt, temperature, max tokens, policy, fallbacks: what a turn's handlers take after the model."""
        self.effective: gr.Markdown | None = None

    def options(self, model: str | None, collection: str | None, system: str | None = None,
                temperature: float | None = None, max_tokens: float | None = None, policy: str | None = None,
                fallbacks: list[str] | None = None, user: str | None = None) -> TurnOptions:
        """The turn's options from the pickers and this panel; values left at the server's default stay unset."""
        s = self.settings
        return TurnOptions(
            model=(model or "").strip(), collection=collection or None,
            system_prompt=(system or "").strip() or None,
            temperature=None if temperature is None or float(temperature) == s.temperature else float(temperature),
            max_tokens=None if not max_tokens or int(max_tokens) == s.max_tokens else int(max_tokens),
            policy="" if not policy or policy == s.policy else policy,
            fallbacks=None if fallbacks is None or _clean(fallbacks) == list(s.fallbacks) else _clean(fallbacks),
            user=user)

    def check(self, max_tokens: float | None = None) -> str:
        """Why the panel's values cannot be used (empty when they can)."""
        if max_tokens is not None and not 1 <= float(max_tokens) <= MAX_TOKENS_CAP:
            return f"Max tokens must be between 1 and {MAX_TOKENS_CAP:,}."
        return ""

    def describe(self, model: str | None, system: str | None = None, temperature: float | None = None,
                 max_tokens: float | None = None, policy: str | None = None,
                 fallbacks: list[str] | None = None) -> str:
        """The values the next turn uses, each marked *this session* or *default* (Markdown)."""
        o, s = self.options(model, None, system, temperature, max_tokens, policy, fallbacks), self.settings

        def mark(own: bool) -> str:
            return " _(this session)_" if own else " _(default)_"

        chain = o.fallbacks if o.fallbacks is not None else list(s.fallbacks)
        prompt = o.system_prompt or s.system_prompt
        rows = [
            f"- **Model**: `{o.model or s.model}`{mark(bool(o.model and o.model != s.model))}",
            f"- **Temperature**: {o.temperature if o.temperature is not None else s.temperature:g}"
            f"{mark(o.temperature is not None)}",
            f"- **Max tokens**: {o.max_tokens or s.max_tokens}{mark(o.max_tokens is not None)}",
            f"- **Routing policy**: {o.policy or s.policy}{mark(bool(o.policy))}",
            f"- **Fallbacks**: {', '.join(f'`{c}`' for c in chain) or 'none'}{mark(o.fallbacks is not None)}",
            f"- **System prompt**: {prompt[:120]}{'…' if len(prompt) > 120 else ''}{mark(bool(o.system_prompt))}",
        ]
        return "**Effective for the next turn**\n\n" + "\n".join(rows)

    def build(self, model: Any, choices: list[Any]) -> None:
        """Lay out the panel (inside the Chat tab) and keep its summary current."""
        s = self.settings
        with gr.Accordion("Settings for this session", open=False, elem_id="podium-settings"):
            with gr.Row():
                with gr.Column(scale=3):
                    system = gr.Textbox(label="System prompt", placeholder=s.system_prompt, lines=2,
                                        elem_id="podium-system-prompt",
                                        info="Empty: the server's (PODIUM_SYSTEM_PROMPT).")
                    with gr.Row():
                        temperature = gr.Slider(0, 2, value=s.temperature, step=0.05, label="Temperature",
                                                elem_id="podium-temperature")
                        max_tokens = gr.Number(s.max_tokens, label="Max tokens per answer", precision=0,
                                               minimum=1, maximum=MAX_TOKENS_CAP, elem_id="podium-max-tokens")
                    with gr.Row():
                        policy = gr.Dropdown(list(POLICIES), value=s.policy, label="Routing policy",
                                             elem_id="podium-policy")
                        fallbacks = gr.Dropdown(choices, value=list(s.fallbacks), multiselect=True,
                                                allow_custom_value=True, label="Fallbacks (in order)",
                                                elem_id="podium-fallbacks",
                                                info="Tried when the model fails; type any spec.")
                with gr.Column(scale=2):
                    self.effective = gr.Markdown(self.describe(s.model), elem_id="podium-effective")
        self.inputs = [system, temperature, max_tokens, policy, fallbacks]
        for component in (model, *self.inputs):
            component.change(self.describe, [model, *self.inputs], [self.effective], **PRIVATE,
                             concurrency_limit=None, show_progress="hidden")
