"""The Podium web app on Gradio: Chat, Knowledge, Models and Evaluation tabs (thin wiring over ``ui.chat_view``).

``build_app(podium)`` returns the Blocks; ``launch(...)`` serves it. Queueing is set on
purpose: chat turns share the ``chat`` concurrency group, uploads the ``ingest`` group
(one at a time: embedding is CPU-bound), and the light events (stop, new thread, thread
list, search, model choice) have no limit, so they never wait behind a model.

Extension hook: with ``debug=True``, ``build_app`` calls
``ui.gradio_debug.add_debug_tab(podium, parts)`` inside the tab set when that module
exists, where ``parts`` is the Chat tab's :class:`ui.gradio_chat.ChatParts`
(chatbot, model, collection and the session ``gr.State`` holding ``thread_id``).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any

# Gradio phones home for analytics and version checks unless told not to; Podium never uses the network.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402 - the environment above must be set before Gradio is imported

from podium.errors import ConfigError  # noqa: E402
from ui.gradio_chat import ChatParts, ChatTab, model_registry  # noqa: E402
from ui.gradio_datasets import add_datasets_tab  # noqa: E402
from ui.gradio_eval import add_card_section, add_eval_tab  # noqa: E402
from ui.gradio_finetune import add_finetune_tab  # noqa: E402
from ui.gradio_knowledge import add_knowledge_tab  # noqa: E402
from ui.models_view import MODEL_HEADERS, model_choices, model_table  # noqa: E402
from ui.session import ThreadOwners  # noqa: E402

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
"""Limit of events that name no concurrency group (none of Podium's do; a safety net for plugins)."""
QUEUE_SIZE = 64
"""Events waiting at most; beyond this users are told the app is busy instead of waiting forever."""

MAX_UPLOAD = "100mb"
"""Largest upload Gradio accepts (the ingest refuses files over 50 MiB with a reason of its own)."""

CSS = """
#podium-chat .message-wrap sub { opacity: 0.7; }
footer { display: none !important; }
"""

# System fonts only: the default theme would fetch Google Fonts, and Podium works offline.
THEME = gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                       font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def build_models_tab(podium: Any, parts: ChatParts) -> None:
    """The registry as a table with internals and prices; pick the session's default model."""
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
                "Unavailable ones say why (a missing key or package).")
    grid = gr.Dataframe(value=table(), headers=MODEL_HEADERS, interactive=False, wrap=True,
                        elem_id="podium-models")
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


def _add_optional_tab(module: str, function: str, *args: Any) -> Any:
    """Call ``ui.<module>.<function>(*args)`` when another part of Podium has provided it; its result."""
    if importlib.util.find_spec(f"ui.{module}") is None:
        return None
    return getattr(importlib.import_module(f"ui.{module}"), function)(*args)


def build_app(podium: Any, *, debug: bool = False, auth: bool = False) -> gr.Blocks:
    """The whole web app for one :class:`graph.app.PodiumApp`, queued and ready to launch."""
    owners = ThreadOwners(podium.settings.data_dir / "ui_threads.sqlite") if auth else None
    chat = ChatTab(podium, owners=owners)
    with gr.Blocks(title="Podium", analytics_enabled=False) as demo:
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                parts = chat.build(podium.settings)
            knowledge = add_knowledge_tab(podium, parts)
            add_datasets_tab(podium)
            with gr.Tab("Models", id="models"):
                build_models_tab(podium, parts)
            evaluation = add_eval_tab(podium)
            add_finetune_tab(podium, parts.model)
            debugger = _add_optional_tab("gradio_debug", "add_debug_tab", podium, parts) if debug else None
        # Choices laid out at build time go stale (threads, models, collections made since, by the CLI
        # too), so each page load reads them afresh.
        light = {"api_name": False, "concurrency_limit": None, "show_progress": "hidden"}
        demo.load(chat.thread_list, [parts.session], [chat.threads], **light)
        demo.load(chat.model_picker, None, [parts.model], **light)
        if knowledge is not None:
            demo.load(knowledge.listing, None, knowledge.outputs, **light)
        demo.load(evaluation.pool_choices, None, [evaluation.pool], **light)
        demo.load(evaluation.refresh, None, evaluation.views, **light)
        if getattr(debugger, "picker", None) is not None:
            demo.load(debugger.thread_picker, None, [debugger.picker], **light)
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def launch(podium: Any, *, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           auth: list[tuple[str, str]] | None = None, debug: bool = False, block: bool = True) -> gr.Blocks:
    """Serve the app; ``block=False`` returns once it is listening (tests, notebooks)."""
    demo = build_app(podium, debug=debug, auth=auth is not None)
    try:
        _launch(demo, host, port, share, auth, block)
    except OSError as exc:
        why = "the port is in use" if "empty port" in str(exc) else exc.strerror or str(exc)
        raise ConfigError(f"cannot listen on {host}:{port}: {why}", setting="--port",
                          hint="pick another port with --port, or stop what is using it") from None
    return demo


def _launch(demo: gr.Blocks, host: str, port: int, share: bool, auth: list[tuple[str, str]] | None,
            block: bool) -> None:
    demo.launch(server_name=host, server_port=port, share=share, auth=auth, theme=THEME, css=CSS,
                max_file_size=MAX_UPLOAD, prevent_thread_lock=not block, show_error=False, quiet=False, ssr_mode=False,
                enable_monitoring=False, mcp_server=False, footer_links=[])
