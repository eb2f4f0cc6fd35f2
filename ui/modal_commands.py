"""``podium modal deploy|status|warm|logs``: Modal's CLI and SDK wrapped for Podium's GPU app (modal_app.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from podium.errors import ConfigError, ModelError
from ui.terminal import load_settings

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
APP_FILE = Path(__file__).resolve().parents[1] / "modal_app.py"
NameArg = Annotated[str, typer.Argument(help="What the endpoint serves: a fine-tune name or smollm2-135m.")]


def _modal_cli(*args: str, env: dict[str, str] | None = None, capture: bool = False) -> subprocess.CompletedProcess:
    """Run ``python -m modal ARGS`` after checking Modal is installed and logged in."""
    from tools.finetune.resources import modal_ready

    modal_ready()
    if not APP_FILE.is_file():
        raise ConfigError(f"{APP_FILE} is missing", setting="modal", hint="run podium from its source checkout")
    return subprocess.run([sys.executable, "-m", "modal", *args], env={**os.environ, **(env or {})},
                          capture_output=capture, text=True, check=False)


def add_modal_commands(group: typer.Typer) -> None:
    """Attach the commands to the ``podium modal`` group."""

    @group.command("deploy")
    def deploy(name: NameArg = "smollm2-135m",
               gpu: Annotated[str, typer.Option("--gpu", help="GPU of the inference containers.")] = "A10G") -> None:
        """Upload a model to the Volume and deploy the OpenAI-compatible endpoint serving it (modal/NAME)."""
        from tools.finetune.remote import upload_model

        settings = load_settings()
        upload_model(name, settings)
        done = _modal_cli("deploy", str(APP_FILE), env={"PODIUM_MODAL_SERVE": name, "PODIUM_MODAL_GPU": gpu})
        if done.returncode:
            raise ModelError(f"modal deploy failed (exit {done.returncode})", provider="modal",
                             hint="see Modal's output above; `podium modal logs` shows the containers' logs")
        out.print(f"deployed: set PODIUM_MODAL_URL to the endpoint URL printed above (ending in /v1), then use "
                  f"--model modal/{name}", markup=False)

    @group.command("status")
    def status() -> None:
        """Podium's apps on Modal and their state."""
        _modal_cli("app", "list")

    @group.command("warm")
    def warm(name: NameArg = "smollm2-135m",
             wait_s: Annotated[float, typer.Option("--wait", help="Seconds to wait for a container.")] = 300) -> None:
        """Start a container now (a warm-up request), so the first question does not wait for a cold start."""
        from models.modal import warm_up

        seconds = warm_up(name, load_settings(), wait_s)
        out.print(f"modal/{name} is warm ({seconds:.1f}s)", markup=False)

    @group.command("logs")
    def logs(app: Annotated[str, typer.Option("--app", help="Modal app name.")] = "podium") -> None:
        """Stream the app's logs from Modal (Ctrl-C to stop)."""
        _modal_cli("app", "logs", app)
