"""The Models tab: the registry with internals and prices; "Use this model" sets the session's default."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ui.gradio_chat import ChatParts, model_registry
from ui.gradio_eval import add_card_section
from ui.models_view import MODEL_HEADERS, MODEL_WIDTHS, model_choices, model_table


def add_models_tab(podium: Any, parts: ChatParts) -> None:
    """The registry as a table with internals and prices; pick the session's default model."""
    with gr.Tab("Models", id="models"):
        _layout(podium, parts)


def _layout(podium: Any, parts: ChatParts) -> None:
    settings = podium.settings

    def table() -> list[list[Any]]:
        return model_table(*model_registry(podium))

    def choose(spec: str) -> tuple[Any, str]:
        spec = (spec or "").strip()
        try:
            podium.models.model(spec)  # validates the spec and the provider's key (a local GGUF loads lazily)
        except Exception as exc:  # noqa: BLE001 - shown to the user, who picks another
            message = exc.one_line() if hasattr(exc, "one_line") else str(exc)
            raise gr.Error(message, duration=10, print_exception=False) from None
        return gr.Dropdown(value=spec), f"This session now answers with **{spec}**."

    gr.Markdown("Every model Podium knows, with internals read from GGUF metadata and prices per 1M tokens. "
                "Unavailable ones say why (a missing key or package). Not listed? The Chat tab's model picker "
                "takes any spec you type: `llamacpp/<alias or path.gguf>`, `llamacpp/hf:owner/repo/file.gguf`, "
                "`openai/<model>` (any OpenAI-compatible server via OPENAI_BASE_URL).")
    grid = gr.Dataframe(value=table(), headers=MODEL_HEADERS, interactive=False, wrap=True,
                        elem_id="podium-models", column_widths=MODEL_WIDTHS)
    with gr.Row():
        items, problems = model_registry(podium)
        pick = gr.Dropdown(model_choices(items, settings.model, problems), value=settings.model,
                           allow_custom_value=True, label="Default model for this session", scale=3)
        use = gr.Button("Use this model", variant="primary", scale=1, elem_id="podium-use-model")
    done = gr.Markdown()
    use.click(choose, [pick], [parts.model, done], api_name="choose_model", concurrency_limit=None)
    refresh = gr.Button("↻ Refresh", size="sm")
    refresh.click(table, None, [grid], api_name="models", concurrency_limit=None)
    add_card_section(podium)
