"""Hugging Face Spaces entry: the Podium web app on the embedded model (Gradio SDK runs this file)."""

from __future__ import annotations

import os

from graph.app import PodiumApp
from podium.settings import load_settings
from ui.gradio_app import CSS, THEME, build_app

# Spaces keeps /data across restarts when persistent storage is on; otherwise a local folder.
os.environ.setdefault("PODIUM_HOME", "/data/podium" if os.path.isdir("/data") else "podium-data")
demo = build_app(PodiumApp(load_settings()))

if __name__ == "__main__":
    demo.launch(server_name="0.0.0.0", server_port=int(os.environ.get("PORT", "7860")), theme=THEME, css=CSS,
                ssr_mode=False)
