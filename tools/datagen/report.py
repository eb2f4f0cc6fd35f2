"""``podium datagen report FILE``: an HTML page with plots, PNGs, and a Hugging Face dataset card.

The report reads the dataset (any format) and, when present, the run's sidecar
(settings, rejected rows, cost, time, topics). It writes ``FILE.report/``:
``index.html`` (images embedded, so it opens anywhere), one PNG per plot, and
``README.md`` in the Hugging Face dataset-card format.
"""

from __future__ import annotations

import base64
import html
import json
from collections import Counter
from pathlib import Path
from typing import Any

from tools.datagen import diversity, store
from tools.datagen.dedup import row_text
from tools.datagen.fields import type_text
from tools.datagen.prompts import QA_SCHEMA
from tools.datagen.schema import infer_schema

CHAT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "turns": {"type": "integer"}, "user_chars": {"type": "integer"}, "assistant_chars": {"type": "integer"}}}
"""What the report measures of conversations (chat datasets)."""


def report_dir(data: Path) -> Path:
    """Where the report of ``data`` goes: ``FILE.report/`` beside it."""
    return data.with_name(data.name + ".report")


def analyze(data: Path, fmt: str | None = None, embed: Any = None) -> dict[str, Any]:
    """Everything the report shows, as plain data (also what the web app displays)."""
    rows = store.read_rows(data, fmt)
    side = store.load_sidecar(data)
    settings = side.get("settings", {})
    mode = settings.get("mode") or ("chat" if rows and "messages" in rows[0] else "records")
    schema = settings.get("schema") or (QA_SCHEMA if mode == "docs" else None)
    content = [{k: v for k, v in r.items() if k != "_meta"} for r in rows]
    if mode == "chat":
        measured, shown_schema = [_chat_measures(r) for r in content], CHAT_SCHEMA
    else:
        shown_schema = schema or (infer_schema(content) if content else {"properties": {}})
        measured = content
    texts = [row_text(r, None if mode == "chat" else shown_schema) for r in content]
    vectors = embed(texts) if embed is not None and len(texts) > 1 else None
    totals = side.get("totals", {})
    metas = store.read_meta(data, len(rows)) if store.meta_path(data).exists() else [r.get("_meta") or {} for r in rows]
    topics = Counter(str(m["topic"]) for m in metas if m.get("topic"))
    return {
        "file": str(data), "rows": len(rows), "mode": mode, "model": side.get("model"),
        "description": settings.get("description", ""), "schema": schema or shown_schema,
        "fields": diversity.distributions(measured, shown_schema),
        "rejected": {"invalid": totals.get("invalid", 0), "exact_duplicates": totals.get("exact", 0),
                     "near_duplicates": totals.get("near", 0)},
        "problems": side.get("problems", [])[:10], "seconds": totals.get("seconds"),
        "cost_usd": totals.get("cost_usd"), "topics": dict(topics.most_common(30)),
        "seed_topics": side.get("topics") or [],
        "diversity": {"distinct_1": diversity.distinct_n(texts, 1), "distinct_2": diversity.distinct_n(texts, 2),
                      "embedding_spread": diversity.spread(vectors) if vectors is not None else None},
        "settings": settings, "sources": dict(Counter(s for r in content for s in r.get("sources", [])))
        if mode == "docs" else {},
    }


def _chat_measures(row: dict[str, Any]) -> dict[str, int]:
    messages = row.get("messages") or []
    users = [m.get("content", "") for m in messages if m.get("role") == "user"]
    answers = [m.get("content", "") for m in messages if m.get("role") == "assistant"]
    return {"turns": len(users), "user_chars": sum(map(len, users)) // max(len(users), 1),
            "assistant_chars": sum(map(len, answers)) // max(len(answers), 1)}


def plots(facts: dict[str, Any], folder: Path) -> list[tuple[str, Path]]:
    """One PNG per field (bars for labels, histograms for numbers and lengths), plus rejections and topics."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    made = []

    def save(name: str, title: str, draw: Any) -> None:
        fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
        draw(ax)
        ax.set_title(title, fontsize=11)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        path = folder / f"{name}.png"
        fig.savefig(path)
        plt.close(fig)
        made.append((title, path))

    for name, info in facts["fields"].items():
        if info["kind"] == "label":
            labels, counts = list(info["counts"]), list(info["counts"].values())
            save(f"field-{name}", f"{name}: values", lambda ax, a=labels, b=counts: ax.bar(a, b, color="#4c72b0"))
        elif info["kind"] in ("text", "number"):
            values = info.get("lengths") or info.get("values") or []
            unit = "length (characters)" if info["kind"] == "text" else "value"
            save(f"field-{name}", f"{name}: {unit}",
                 lambda ax, v=values: ax.hist(v, bins=min(20, max(len(set(v)), 1)), color="#55a868"))
    rejected = facts["rejected"]
    bars = {"kept": facts["rows"], "invalid": rejected["invalid"], "exact dup": rejected["exact_duplicates"],
            "near dup": rejected["near_duplicates"]}
    save("rows", "rows kept and removed", lambda ax: ax.bar(list(bars), list(bars.values()),
                                                              color=["#55a868", "#c44e52", "#dd8452", "#dd8452"]))
    if facts["topics"]:
        topics = facts["topics"]
        save("topics", "rows per topic", lambda ax: (ax.barh([t[:40] for t in topics], list(topics.values())),
                                                     ax.invert_yaxis()))
    return made


def write_report(data: Path, fmt: str | None = None, *, out_dir: Path | None = None, embed: Any = None) -> Path:
    """Write ``index.html``, the PNGs and ``README.md`` for a dataset; returns the HTML's path."""
    facts = analyze(data, fmt, embed)
    folder = out_dir or report_dir(data)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        images = plots(facts, folder)
        (folder / "README.md").write_text(dataset_card(facts), encoding="utf-8")
        page = folder / "index.html"
        page.write_text(_html(facts, images), encoding="utf-8")
        (folder / "facts.json").write_text(store.json_text({k: v for k, v in facts.items()
                                                            if k != "fields"} | {"fields": _slim(facts)}))
    except OSError as exc:
        raise store.disk_error(folder, exc) from None
    return page


def _slim(facts: dict[str, Any]) -> dict[str, Any]:
    return {n: {k: v for k, v in info.items() if k not in ("lengths", "values")} for n, info in facts["fields"].items()}


def _html(facts: dict[str, Any], images: list[tuple[str, Path]]) -> str:
    esc = html.escape
    rejected = facts["rejected"]
    cost = facts["cost_usd"]
    seconds = facts["seconds"]
    summary = [("rows", facts["rows"]), ("model", facts["model"] or "?"), ("mode", facts["mode"]),
               ("invalid rows removed", rejected["invalid"]),
               ("exact duplicates removed", rejected["exact_duplicates"]),
               ("near duplicates removed", rejected["near_duplicates"]),
               ("time", f"{seconds:.1f} s" if seconds is not None else "?"),
               ("cost", "free (local)" if cost == 0 else "unknown" if cost is None else f"${cost:.4f}"),
               ("distinct-1 / distinct-2", f"{facts['diversity']['distinct_1']} / {facts['diversity']['distinct_2']}"),
               ("embedding spread", facts["diversity"]["embedding_spread"] or "-")]
    table = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(str(v))}</td></tr>" for k, v in summary)
    fields = "".join(f"<tr><td>{esc(n)}</td><td>{esc(_field_line(i))}</td></tr>" for n, i in facts["fields"].items())
    figures = "".join(
        f'<figure><img alt="{esc(title)}" src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}">'
        f"<figcaption>{esc(title)}</figcaption></figure>" for title, path in images)
    problems = "".join(f"<li>{esc(p)}</li>" for p in facts["problems"]) or "<li>none</li>"
    topics = ", ".join(esc(t) for t in facts["seed_topics"]) or "none"
    name = esc(Path(facts["file"]).name)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Dataset report: {name}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}th,td{{text-align:left;padding:3px 12px;border-bottom:1px solid #ddd}}
figure{{display:inline-block;margin:8px}}img{{max-width:520px}}</style></head><body>
<h1>Dataset report: {name}</h1><p>{esc(facts['description'])}</p>
<h2>Summary</h2><table>{table}</table>
<h2>Fields</h2><table><tr><th>field</th><th>distribution</th></tr>{fields}</table>
<h2>Plots</h2>{figures}
<h2>Seed topics</h2><p>{topics}</p>
<h2>Why rows were rejected (first few)</h2><ul>{problems}</ul>
</body></html>"""


def _field_line(info: dict[str, Any]) -> str:
    if info["kind"] == "label":
        return ", ".join(f"{k}: {v}" for k, v in info["counts"].items())
    unit = " characters" if info["kind"] == "text" else " items" if info["kind"] == "list" else ""
    return f"min {info['min']}, mean {info['mean']}, max {info['max']}{unit}"


def _size_category(rows: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if rows < limit:
            return name
    return "100K<n<1M"


def dataset_card(facts: dict[str, Any]) -> str:
    """The dataset card (``README.md``): YAML metadata, schema, counts, model, prompt and a license note."""
    mode = facts["mode"]
    task = {"chat": "text-generation", "docs": "question-answering"}.get(mode, "text-generation")
    name = Path(facts["file"]).stem
    props = (facts.get("schema") or {}).get("properties", {})
    schema_rows = "\n".join(f"| `{n}` | {type_text(p) if isinstance(p, dict) else 'json'} |" for n, p in props.items())
    if mode == "chat":
        schema_rows = '| `messages` | list of `{"role", "content"}` (OpenAI fine-tuning format) |'
    settings = facts.get("settings", {})
    rejected = facts["rejected"]
    return f"""---
pretty_name: {json.dumps(name)}
task_categories:
- {task}
language:
- en
tags:
- synthetic
- podium
size_categories:
- {_size_category(facts['rows'])}
---

# {name}

{facts['description'] or 'A synthetic dataset.'}

Generated with `podium datagen` by **{facts['model'] or 'an unrecorded model'}**; every row was validated against
the schema, and exact and near duplicates were removed.

## Schema

| field | type |
|---|---|
{schema_rows}

## Counts

- rows: {facts['rows']}
- removed as invalid: {rejected['invalid']}; exact duplicates: {rejected['exact_duplicates']};
  near duplicates: {rejected['near_duplicates']} (cosine ≥ {settings.get('dedup', 'n/a')})
- distinct-2: {facts['diversity']['distinct_2']}; generation time: {facts['seconds'] or '?'} s;
  cost (USD): {facts['cost_usd']}

## How it was made

- mode: {mode}; seed: {settings.get('seed', '?')};
  diversity controls: {'on' if settings.get('diversity', True) else 'off'}
- seed topics: {', '.join(facts['seed_topics']) or 'none'}
- prompt: one request per row naming the dataset, the fields and their constraints, with a per-row topic,
  persona and angle; rows carry their provenance (model, seed, topic, prompt hash, time, cost) in `_meta`
  unless generated with `--no-meta`.

## License

Synthetic data generated by a model: check that the model's license and terms allow your use of its outputs
(SmolLM2 is Apache-2.0; frontier providers have their own terms). Rows may contain plausible-looking mistakes;
review them before training or evaluating on them.
"""
