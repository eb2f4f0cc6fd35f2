"""``podium models``: the registry (bare), a model's card, and a GGUF's tensors layer by layer."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from podium.errors import ConfigError, PodiumError
from ui.terminal import load_settings

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]
WIDE = 120
"""Terminal columns from which tables show every column; narrower ones get the essential columns."""
SpecArg = Annotated[str, typer.Argument(help="Model spec, e.g. llamacpp/smollm2-135m or openai/gpt-4o-mini.")]

models_app = typer.Typer(help="Known models; `podium models card SPEC` and `podium models layers SPEC` for one.",
                         invoke_without_command=True, no_args_is_help=False)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


@models_app.callback()
def models(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List known models with their internals (read from GGUF metadata) and prices."""
    if ctx.invoked_subcommand is not None:
        return
    from models.registry import known_models
    from ui.render import human_size, model_row

    settings = load_settings()
    rows, problems = [], []
    for item in known_models(settings):
        if isinstance(item, PodiumError):
            problems.append({"spec": getattr(item, "spec", ""), "error": item.one_line()})
        else:
            rows.append(model_row(item))
    if as_json:
        _print_json({"models": rows, "unavailable": problems, "default": settings.model})
        return
    columns: tuple[str, ...] = (
        "spec", "arch", "params", "layers", "heads", "embd", "ctx", "vocab", "quant", "size", "license", "$/1M")
    if out.width < WIDE:  # an 80-column terminal: the columns people choose a model by
        columns = ("spec", "params", "ctx", "quant", "size", "license", "$/1M")
    table = Table(*columns)
    for r in rows:
        size = human_size(r["file_size"]) + "B" if r["file_size"] else "-"
        cells = {"spec": r["spec"], "arch": r["architecture"] or "-", "params": human_size(r["parameters"]),
                 "layers": str(r["layers"] or "-"), "heads": str(r["heads"] or "-"),
                 "embd": str(r["embedding_size"] or "-"), "ctx": str(r["context_length"]),
                 "vocab": human_size(r["vocab_size"]), "quant": r["quantization"] or "-", "size": size,
                 "license": r["license"] or "-", "$/1M": f"{r['price_in_per_1m']}/{r['price_out_per_1m']}"}
        table.add_row(*(escape(cells[c]) for c in columns))
    table.columns[0].overflow = "fold"  # a long spec wraps inside its column instead of widening the table
    out.print(table)
    for r in rows:
        if r.get("finetune"):  # imported here: the tools package pulls numpy and the retrieval code in
            from tools.finetune.report import summary

            out.print(f"{r['spec']}: {summary(r['finetune'])}", markup=False, style="dim")
    for p in problems:
        err.print(f"{p['spec']}: {p['error']}", style="dim", markup=False)


@models_app.command("card")
def card_command(spec: SpecArg, as_json: JsonOpt = False) -> None:
    """A model's card: open or closed, license, dates, size, Chinchilla ratio, prices, measured speed and scores."""
    from models.cards import card
    from models.ledger import open_ledger
    from models.registry import resolve
    from models.scores import open_scores
    from ui.eval_view import card_lines

    settings = load_settings()
    described = resolve(spec, settings)
    data = card(described, scores=open_scores(settings.data_dir), ledger=open_ledger(settings))
    if as_json:
        _print_json(data)
        return
    for label, value, source in card_lines(data):
        tail = f"  [dim]{escape(source)}[/dim]" if source else ""
        out.print(f"[bold]{escape(label)}[/bold]: {escape(value)}{tail}")


@models_app.command("layers")
def layers_command(spec: SpecArg, as_json: JsonOpt = False,
                   summary: Annotated[bool, typer.Option("--summary", help="Only the totals per type.")] = False
                   ) -> None:
    """Tensors of a GGUF per layer (name, shape, type, bytes), totals per quantization type, bits per weight."""
    from models.gguf_layers import read_layers
    from models.registry import resolve
    from ui.render import human_size

    described = resolve(spec, load_settings())
    if described.path is None:
        raise ConfigError(f"{described.spec} is not a local GGUF", setting="model",
                          hint="layers are read from a GGUF file: use llamacpp/... or a path to a .gguf")
    layers = read_layers(described.path)
    if as_json:
        _print_json(layers.to_dict())
        return
    if not summary:
        table = Table("layer", "tensor", "shape", "type", "bytes")
        for layer, tensors in layers.layers.items():
            for t in tensors:
                table.add_row("-" if layer is None else str(layer), t.name, "x".join(map(str, t.shape)), t.type,
                              human_size(t.bytes) + "B")
        out.print(table)
    totals = Table("type", "tensors", "weights", "bytes", "bits/weight")
    for name, row in layers.by_type().items():
        totals.add_row(name, str(int(row["tensors"])), human_size(row["elements"]), human_size(row["bytes"]) + "B",
                       f"{row['bits_per_weight']:.2f}")
    out.print(totals)
    out.print(f"{len(layers.tensors)} tensors, {human_size(layers.elements)} weights, "
              f"{human_size(layers.bytes)}B, {layers.bits_per_weight:.2f} bits per weight", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``podium models`` (a group whose bare form lists the registry) to the ``podium`` app."""
    app.add_typer(models_app, name="models")
