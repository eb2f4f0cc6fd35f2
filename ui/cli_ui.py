"""``podium ui``: serve the web app (Chat, Knowledge, Models) on 127.0.0.1 by default."""

from __future__ import annotations

from typing import Annotated

import typer

from podium.errors import ConfigError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def parse_auth(values: list[str] | None) -> list[tuple[str, str]] | None:
    """``user:password`` values as (user, password) pairs; a malformed one is a one-line error."""
    if not values:
        return None
    pairs = []
    for value in values:
        user, sep, password = value.partition(":")
        if not sep or not user.strip() or not password:
            raise ConfigError("--auth must look like user:password", setting="--auth",
                              hint="for example --auth alice:s3cret (repeat it for more users)")
        pairs.append((user.strip(), password))
    return pairs


def register(app: typer.Typer) -> None:
    """Add the ``ui`` command to the ``podium`` CLI."""

    @app.command()
    def ui(
        host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0: your network).")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 7860,
        share: Annotated[bool, typer.Option("--share", help="Open a public link (needs internet).")] = False,
        auth: Annotated[list[str] | None, typer.Option(help="Require a login, as user:password (repeatable).")] = None,
        debug: Annotated[bool, typer.Option("--debug", help="Add the Debug tab.")] = False,
    ) -> None:
        """Start the web app: streamed chat with visible agent work, knowledge and models tabs."""
        from ui.terminal import err, open_app

        credentials = parse_auth(auth)
        if not 0 < port < 65536:
            raise ConfigError(f"bad port {port}", setting="--port", hint="use a number between 1 and 65535")
        if (share or host not in LOCAL_HOSTS) and credentials is None:
            err.print("[yellow]warning:[/yellow] others can reach this app and it has no login; "
                      "consider --auth user:password")
        podium = open_app()
        from ui.gradio_app import launch

        launch(podium, host=host, port=port, share=share, auth=credentials, debug=debug)
