"""The Fine-tune tab: data, base model, hyperparameters, here or on Modal; live loss and logs; before/after; chat."""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from tools.finetune.report import BEFORE_AFTER_HEADERS, LIST_HEADERS, before_after, list_rows, progress_line
from ui.gradio_events import PRIVATE

WHERE = ("this machine (CPU)", "a Modal GPU")


class FinetuneTab:
    """The tab's callbacks over one PodiumApp (its settings name the data dir)."""

    def __init__(self, podium: Any) -> None:
        self.podium = podium
        self.stop = threading.Event()

    def data_files(self) -> list[str]:
        """JSONL files made in the Datasets tab (``PODIUM_HOME/datasets``)."""
        folder = self.podium.settings.data_dir / "datasets"
        return sorted(str(p) for p in folder.rglob("*.jsonl")) if folder.is_dir() else []

    def models(self) -> list[list[str]]:
        """Rows of the registered fine-tunes."""
        from models.finetuned import all_models

        return list_rows([m.to_dict() for m in all_models(self.podium.settings)])

    def run(self, upload: Any, picked: str | None, held: Any, base: str, name: str, steps: float, lr: float,
            rank: float, alpha: float, batch: float, where: str, gpu: str) -> Any:
        """Plan (errors at once), then train in a thread and stream the log, loss chart and results."""
        from tools.finetune.run import Request, plan
        from tools.finetune.train import TrainConfig

        data = Path(upload) if upload else Path(picked) if picked else None
        if data is None:
            raise gr.Error("upload a JSONL file or pick one from the Datasets tab", print_exception=False)
        self.stop.clear()
        try:
            config = TrainConfig(steps=int(steps), lr=float(lr), rank=int(rank), alpha=float(alpha),
                                 batch_size=int(batch))
            planned = plan(Request(base=base, data=data, name=(name or "").strip(), config=config,
                                   val=Path(held) if held else None), self.podium.settings)
        except Exception as exc:  # noqa: BLE001 - a one-line error in the tab, nothing written
            raise gr.Error(exc.one_line() if hasattr(exc, "one_line") else str(exc), print_exception=False) from None
        events: queue.Queue[dict[str, Any]] = queue.Queue()
        remote = gpu if where == WHERE[1] else None
        worker = threading.Thread(target=self._train, args=(planned, events, remote), daemon=True)
        worker.start()
        log, points = [f"{planned.stats['train']['examples']} train / {planned.stats['val']['examples']} val, "
                       f"{planned.steps} steps, ~{planned.memory['estimate_gib']} GiB"], []
        while True:
            event = events.get()
            if event["kind"] == "step":
                points.append({"step": event["step"], "loss": event["loss"]})
                log.append(progress_line(event))
            elif event["kind"] in ("stage", "warning", "error"):
                log.append(("warning: " if event["kind"] == "warning" else "") + event["text"])
            if event["kind"] in ("finished", "error"):
                record = event.get("record")
                table = before_after(record["scores"]) if record else []
                status = (f"Registered **llamacpp/{record['name']}**." if record else f"**Failed:** {event['text']}")
                yield "\n".join(log), _chart(points), table, status, self.models(), \
                    (f"llamacpp/{record['name']}" if record else gr.skip())
                return
            yield "\n".join(log), _chart(points), gr.skip(), "Training…", gr.skip(), gr.skip()

    def _train(self, planned: Any, events: queue.Queue, remote: str | None) -> None:
        from tools.finetune.run import execute

        try:
            record = execute(planned, self.podium.settings, events.put, self.stop.is_set, gpu=remote)
            events.put({"kind": "finished", "record": record.to_dict()})
        except KeyboardInterrupt as exc:
            events.put({"kind": "error", "text": f"{exc} (the checkpoint is kept: start again to resume)"})
        except Exception as exc:  # noqa: BLE001 - shown in the tab
            events.put({"kind": "error", "text": exc.one_line() if hasattr(exc, "one_line") else str(exc)})


def _chart(points: Sequence[Mapping[str, float | None]]) -> Any:
    import pandas as pd

    return pd.DataFrame(points or [{"step": 0, "loss": None}])


def add_finetune_tab(podium: Any, parts: Any) -> FinetuneTab:
    """Build the Fine-tune tab; "Chat with it" points the Chat tab's model picker (``parts.model``) at the result."""
    chat_model = parts.model
    from models.registry import known_models
    from models.spec import ModelSpec

    tab = FinetuneTab(podium)
    bases = [m.spec for m in known_models(podium.settings) if isinstance(m, ModelSpec) and m.provider == "llamacpp"
             and not m.extra.get("lora_path")] or ["llamacpp/smollm2-135m"]
    with gr.Tab("Fine-tune", id="finetune"):
        gr.Markdown("Teach a local model from chat data (`{\"messages\": [...]}` per line, as `podium datagen --chat` "
                    "writes): a LoRA trained here or on a Modal GPU, exported to GGUF and served by llama.cpp as "
                    "`llamacpp/NAME`.")
        with gr.Row():
            upload = gr.File(label="Training data (.jsonl)", file_types=[".jsonl"], type="filepath",
                             elem_id="podium-ft-data")
            picked = gr.Dropdown(tab.data_files(), label="…or a dataset from the Datasets tab", allow_custom_value=True)
            held = gr.File(label="Held-out conversations (optional .jsonl)", file_types=[".jsonl"], type="filepath",
                           elem_id="podium-ft-val")
        with gr.Row():
            base = gr.Dropdown(bases, value=bases[0], label="Base model", allow_custom_value=True)
            name = gr.Textbox(label="Name (the model becomes llamacpp/NAME)", elem_id="podium-ft-name")
            where = gr.Radio(list(WHERE), value=WHERE[0], label="Train on")
            gpu = gr.Dropdown(["A10G", "L4", "L40S", "A100", "H100"], value="A10G", label="Modal GPU")
        with gr.Row():
            steps = gr.Number(30, label="Steps", precision=0, minimum=1, elem_id="podium-ft-steps")
            lr = gr.Number(2e-3, label="Learning rate")
            rank = gr.Number(8, label="LoRA rank", precision=0, minimum=1)
            alpha = gr.Number(16, label="LoRA alpha")
            batch = gr.Number(4, label="Batch size", precision=0, minimum=1, elem_id="podium-ft-batch")
        with gr.Row():
            start = gr.Button("Start fine-tuning", variant="primary", elem_id="podium-ft-start")
            stop = gr.Button("Stop (keeps the checkpoint)")
        status = gr.Markdown(elem_id="podium-ft-status")
        with gr.Row():
            chart = gr.LinePlot(_chart([]), x="step", y="loss", title="Training loss", elem_id="podium-ft-chart")
            logs = gr.Textbox(label="Log", lines=12, max_lines=12, autoscroll=True, elem_id="podium-ft-log")
        table = gr.Dataframe(headers=BEFORE_AFTER_HEADERS, label="Before and after", interactive=False,
                             elem_id="podium-ft-scores")
        result = gr.Textbox(visible=False)
        chat = gr.Button("Chat with it", elem_id="podium-ft-chat")
        chosen = gr.Markdown()
        listing = gr.Dataframe(tab.models(), headers=LIST_HEADERS, label="Fine-tuned models", interactive=False)
    start.click(tab.run, [upload, picked, held, base, name, steps, lr, rank, alpha, batch, where, gpu],
                [logs, chart, table, status, listing, result], api_name="finetune", concurrency_limit=1)
    stop.click(lambda: tab.stop.set(), None, None, **PRIVATE, concurrency_limit=None)
    chat.click(lambda spec: (gr.Dropdown(value=spec), f"The Chat tab now answers with **{spec}**.") if spec
               else (gr.skip(), "Fine-tune a model first."), [result], [chat_model, chosen], **PRIVATE,
               concurrency_limit=None)
    return tab
