"""deploy/: the compose topology is coherent, the model server script finds its GGUF, the Spaces entry builds
the web app; `podium serve --ui` serves the web app beside the API; `--workers` and a non-local host behave."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import yaml
from fastapi.testclient import TestClient

from graph.app import PodiumApp
from podium.settings import Settings
from tests.conftest import ROOT, cli_here

DEPLOY = ROOT / "deploy"


def test_compose_wires_replicas_to_postgres_chroma_and_one_model_server():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "chroma", "model", "api", "proxy"}
    api = services["api"]
    assert api["deploy"]["replicas"] >= 2 and "serve" in api["command"]
    env = api["environment"]
    assert env["PODIUM_POSTGRES_URL"].startswith("postgresql://") and "@postgres:" in env["PODIUM_POSTGRES_URL"]
    assert env["PODIUM_CHROMA_URL"] == "http://chroma:8000" and env["OPENAI_BASE_URL"] == "http://model:8080/v1"
    assert env["PODIUM_MODEL"].startswith("openai/")
    assert (DEPLOY / Path(env["PODIUM_PRICES_FILE"]).name).is_file()
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert "proxy_buffering off" in nginx and "api:8000" in nginx
    for name in ("model", "api"):  # built from the repository root, as the Dockerfile's COPY expects
        assert services[name]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert (DEPLOY / "Dockerfile").is_file()


def test_the_model_server_script_finds_the_shipped_gguf(tmp_path):
    script = (DEPLOY / "model-server.sh").read_text()
    assert "--interrupt_requests False" in script, "replicas' concurrent requests must queue, not cut each other"
    code = re.search(r"python -c '([^']+)'", script).group(1)
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()).suffix == ".gguf" and Path(found.stdout.strip()).is_file()


def test_the_spaces_entry_builds_the_web_app(tmp_path, monkeypatch):
    import gradio as gr

    front = (DEPLOY / "spaces" / "README.md").read_text().split("---")[1]
    meta = yaml.safe_load(front)
    assert meta["sdk"] == "gradio" and (ROOT / meta["app_file"]).is_file()
    monkeypatch.setenv("PODIUM_HOME", str(tmp_path / "space"))
    spec = importlib.util.spec_from_file_location("spaces_app", ROOT / meta["app_file"])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.demo, gr.Blocks)


def test_serve_ui_mounts_the_web_app_beside_the_api(tmp_path):
    from ui.cli_serve import build_server_app

    app = build_server_app(PodiumApp(Settings(home=tmp_path, model="scripted/echo")), ui=True, max_body_mb=1)
    client = TestClient(app)
    assert client.get("/healthz").json() == {"status": "ok"}
    page = client.get("/ui/")
    assert page.status_code == 200 and "gradio" in page.text.lower()


def test_serve_refuses_bad_options_and_stays_local_without_keys(capsys, monkeypatch):
    for args, word in ((["--port", "0"], "port"), (["--workers", "0"], "workers"), (["--max-body-mb", "0"], "body")):
        code, _, err = cli_here(capsys, "serve", *args)
        assert code == 2 and word in err and "Traceback" not in err
    started = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **config: started.update(config))
    monkeypatch.setattr("ui.cli_serve.build_server_app", lambda **kw: "app")
    code, _, err = cli_here(capsys, "serve", "--host", "0.0.0.0")
    assert code == 0 and started["host"] == "127.0.0.1" and "no API keys exist" in err
    code, out, _ = cli_here(capsys, "keys", "create", "--name", "ops")
    assert code == 0 and out.startswith("pk-")
    code, _, err = cli_here(capsys, "serve", "--host", "0.0.0.0", "--workers", "2")
    assert code == 0 and started["host"] == "0.0.0.0" and started["workers"] == 2 and started["factory"]
