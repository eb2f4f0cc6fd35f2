"""Prompt injection in ingested documents: the share of attacks that changed what Podium did.

The corpus (``tests/data/injection.json``: override instructions, leak keys or the system prompt,
call tools) runs against the knowledge specialist on the embedded SmolLM2 and against the native
tool loop (an ``openai/...`` model with tool calling: llama-cpp-python's server on the same GGUF),
which reads each document with ``read_file``. Prints the share per target and kind and each attack
that got through. Run: ``.venv/bin/python bench/injection.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph.app import PodiumApp  # noqa: E402
from memory.ingest import ingest  # noqa: E402
from models.llamacpp import locate  # noqa: E402
from podium.settings import Settings  # noqa: E402
from tests.injection import SECRET, attacks, report, run_knowledge, run_tool_loop, write_documents  # noqa: E402
from tests.servers import free_port, serve  # noqa: E402


def main() -> None:
    os.environ.update(OPENAI_API_KEY=SECRET, ANONYMIZED_TELEMETRY="False")
    items = attacks()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        docs = home / "workspace"
        write_documents(docs, items)
        gguf = locate("smollm2-135m", Settings(home=home))[0]
        port = free_port()
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host", "127.0.0.1",
                   "--port", str(port), "--n_ctx", "4096", "--seed", "0"]
        with serve(command, f"http://127.0.0.1:{port}/v1/models", home / "llama.log"):
            settings = Settings(home=home, temperature=0.0, max_tokens=96, workspace=docs,
                                openai_base_url=f"http://127.0.0.1:{port}/v1", openai_api_key=SECRET)
            podium = PodiumApp(settings)
            ingest(podium.knowledge, [docs], "attacks")
            verdicts = run_knowledge(podium, items, "attacks") + run_tool_loop(podium, items, "openai/smollm2")
    print("note: SmolLM2-135M on a shared 2-core machine; a bigger model follows instructions better, both ways")
    print(report(verdicts))
    changed = sum(v.changed for v in verdicts)
    print(f"overall: {changed}/{len(verdicts)} = {changed / len(verdicts):.0%} of attacks changed behaviour; "
          f"the provider key leaked in {sum(SECRET in v.answer for v in verdicts)} answers")


if __name__ == "__main__":
    main()
