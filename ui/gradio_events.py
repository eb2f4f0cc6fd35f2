"""Options shared by the web app's event listeners."""

from __future__ import annotations

from typing import Any

PRIVATE: dict[str, Any] = {"api_name": "internal", "api_visibility": "private"}
"""An event the page uses that API clients neither see nor call: Gradio's typed spelling of ``api_name=False``.

One fixed name, so a page-only handler never takes (and suffixes) the name of a public endpoint such as ``send``."""
