"""``podium serve`` (the OpenAI-compatible API) and ``podium keys create|list|revoke``."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from typing import Annotated, Any

import typer

from podium.errors import ConfigError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
ENV_UI, ENV_BODY = "PODIUM_SERVE_UI", "PODIUM_SERVE_MAX_BODY_MB"
"""How ``serve`` hands its flags to ``--workers`` processes, which build the app themselves."""


def build_server_app(podium: Any = None, *, ui: bool | None = None, max_body_mb: float | None = None) -> Any:
    """The API app (``--ui``: with the web app at ``/ui``); without arguments, from the environment (workers)."""
    from graph.app import PodiumApp
    from podium.settings import load_settings
    from ui.api import create_app, model_cards, warm
    from ui.api_keys import open_keys

    podium = podium or PodiumApp(load_settings())
    ui = os.environ.get(ENV_UI) == "1" if ui is None else ui
    max_body_mb = float(os.environ.get(ENV_BODY, "4")) if max_body_mb is None else max_body_mb
    warm(podium)  # load the local model now: the first request should not pay for it
    # Describing local models reads GGUF metadata (seconds): done in the background, /v1/models is then instant.
    threading.Thread(target=model_cards, args=(podium,), daemon=True, name="podium-model-cards").start()
    app = create_app(podium, open_keys(podium.settings), max_body_bytes=int(max_body_mb * 2**20))
    if ui:
        import gradio as gr

        from ui.gradio_app import build_app

        app = gr.mount_gradio_app(app, build_app(podium), path="/ui")
    return app


def register(app: typer.Typer) -> None:
    """Add ``serve`` and the ``keys`` group to the ``podium`` CLI."""

    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Interface to bind; other than 127.0.0.1 only once a key "
                                          "exists (podium keys create).")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
        workers: Annotated[int, typer.Option(help="Worker processes (each loads its own local model: share one "
                                             "through a model server, see the README).")] = 1,
        ui: Annotated[bool, typer.Option("--ui", help="Also serve the web app at /ui.")] = False,
        max_body_mb: Annotated[float, typer.Option(help="Largest request body in MiB (larger: 413).")] = 4.0,
    ) -> None:
        """Serve Podium as an OpenAI-compatible API: /v1/chat/completions, /v1/models, /v1/embeddings, /metrics."""
        import uvicorn

        from podium.settings import load_settings
        from ui.api_keys import open_keys
        from ui.terminal import err

        if not 0 < port < 65536:
            raise ConfigError(f"bad port {port}", setting="--port", hint="use a number between 1 and 65535")
        if workers < 1:
            raise ConfigError(f"--workers must be at least 1 ({workers})", setting="--workers", hint="use 1 or more")
        if max_body_mb <= 0:
            raise ConfigError(f"--max-body-mb must be positive ({max_body_mb})", setting="--max-body-mb",
                              hint="the default is 4")
        settings = load_settings()
        if host not in LOCAL_HOSTS and not open_keys(settings).any():
            err.print(f"no API keys exist, so the API listens on 127.0.0.1 only (not {host}); "
                      "create one with `podium keys create` to serve others", markup=False)
            host = "127.0.0.1"
        os.environ[ENV_UI], os.environ[ENV_BODY] = ("1" if ui else "0"), str(max_body_mb)
        err.print(f"Podium API on http://{host}:{port}/v1 (model \"podium\" or any spec; OpenAPI at /docs"
                  f"{', web app at /ui' if ui else ''}); Ctrl-C stops it", markup=False)
        config: dict[str, Any] = {"host": host, "port": port, "log_level": "warning", "timeout_graceful_shutdown": 5}
        if workers > 1:
            os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="podium-metrics-"))
            uvicorn.run("ui.cli_serve:build_server_app", factory=True, workers=workers, **config)
        else:
            uvicorn.run(build_server_app(ui=ui, max_body_mb=max_body_mb), **config)

    keys = typer.Typer(help="API keys of `podium serve`: create, list, revoke.", no_args_is_help=True)
    app.add_typer(keys, name="keys")

    @keys.command("create")
    def create(
        name: Annotated[str, typer.Option(help="What the key is for.")] = "",
        budget_usd: Annotated[float | None, typer.Option("--budget-usd", help="Most USD its requests may spend.")]
        = None,
        rpm: Annotated[int | None, typer.Option("--rpm", help="Most requests per minute.")] = None,
        user: Annotated[str | None, typer.Option("--user", help="Whose key it is: its requests read that user's "
                                                 "knowledge and what is shared with them (default: you).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Create a key; it is printed once and only its hash is stored."""
        secret, key = _store().create(name, budget_usd=budget_usd, rpm=rpm, user=user)
        if as_json:
            sys.stdout.write(json.dumps({"key": secret, **key.to_dict()}) + "\n")
            return
        sys.stdout.write(secret + "\n")
        from ui.terminal import err

        err.print(f"key {key.id} created; it is shown only now (send it as 'Authorization: Bearer ...')",
                  markup=False)

    @keys.command("list")
    def list_keys(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False) -> None:
        """List keys (never their secrets) with budget, spend, what requests in flight hold, rate limit and requests.

        A request is refused (403) when spent + held + its own worst-case cost would pass the budget, so a key
        with budget left can still be refused while other requests hold it.
        """
        from rich.table import Table

        from ui.terminal import print_table

        items = _store().list()
        if as_json:
            sys.stdout.write(json.dumps([k.to_dict() for k in items]) + "\n")
            return
        table = Table("id", "name", "user", "created", "status", "budget $", "spent $", "held $", "in flight", "rpm",
                      "requests", caption_justify="left",
                      caption="held $: what requests in flight hold of the budget until they end; a request is "
                      "refused (403) when spent + held + its own estimate would pass the budget")
        for k in items:
            table.add_row(k.id, k.name or "-", k.user, time.strftime("%Y-%m-%d %H:%M", time.localtime(k.created)),
                          "revoked" if k.revoked else "active", "-" if k.budget_usd is None else f"{k.budget_usd:g}",
                          f"{k.spent_usd:.4f}", f"{k.held_usd:.4f}", str(k.in_flight),
                          "-" if k.rpm is None else str(k.rpm), str(k.requests))
        print_table(table)

    @keys.command("revoke")
    def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (or the key itself).")]) -> None:
        """Revoke a key: its requests get 401 from now on, on every replica."""
        key = _store().revoke(key_id)
        from ui.terminal import err

        err.print(f"key {key.id} revoked", markup=False)


def _store() -> Any:
    from podium.settings import load_settings
    from ui.api_keys import open_keys

    return open_keys(load_settings())
