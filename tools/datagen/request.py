"""From what a user asked (CLI flags, the web form, a chat request) to a checked :class:`Job`.

Every check that needs no model happens here, before anything loads: the field spec,
the schema file, the examples, the mode flags, ``--n``, the output path, lists of
topics and personas, the temperature schedule and the dedup threshold.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from podium.errors import ConfigError
from tools.datagen import diversity, store
from tools.datagen import schema as schemas
from tools.datagen.engine import Job
from tools.datagen.fields import fields_text, parse_fields


@dataclass
class Request:
    """Options as a user gives them (strings and paths, unchecked)."""

    description: str = ""
    fields: str | None = None
    schema: Path | None = None
    like: Path | None = None
    chat: bool = False
    style: str | None = None
    system: str | None = None
    turns: int = 1
    magpie: bool = False
    from_docs: str | None = None
    n: int = 100
    out: Path | None = None
    fmt: str | None = None
    model: str | None = None
    fallbacks: list[str] = field(default_factory=list)
    seed: int = 0
    topics: str | None = None
    personas: str | None = None
    temperature: str | None = None
    diversity: bool = True
    dedup: str = "0.92"
    meta: bool = True
    max_cost: float | None = None
    concurrency: int | None = None
    batch: int = 1
    max_failures: int = 20
    max_tokens: int | None = None
    resume: bool = False
    force: bool = False


def default_out(description: str, fmt: str | None) -> Path:
    """An output name from the description's first words (``customer-support-tickets-for.jsonl``)."""
    words = re.findall(r"[a-z0-9]+", description.lower())[:4] or ["dataset"]
    suffix = {"csv": ".csv", "parquet": ".parquet", "hf": ""}.get(fmt or "jsonl", ".jsonl")
    return Path("-".join(words) + suffix)


def _mode(request: Request) -> str:
    sources = [name for name, given in (("--fields", request.fields), ("--schema", request.schema),
                                        ("--like", request.like)) if given]
    if len(sources) > 1:
        raise ConfigError(f"{' and '.join(sources)} both describe the rows", setting=sources[1],
                          hint="give one of --fields, --schema or --like")
    if request.chat and request.from_docs:
        raise ConfigError("--chat and --from-docs are different modes", setting="--from-docs", hint="pick one")
    if (request.chat or request.from_docs) and sources:
        raise ConfigError(f"{sources[0]} describes flat rows; --chat and --from-docs have their own format",
                          setting=sources[0], hint=f"drop {sources[0]}")
    if request.magpie and not request.chat:
        raise ConfigError("--magpie generates conversations", setting="--magpie", hint="add --chat")
    for flag, value in (("--style", request.style), ("--system", request.system)):
        if value and not request.chat:
            raise ConfigError(f"{flag} shapes conversations", setting=flag, hint="add --chat")
    if request.chat:
        return "chat"
    if request.from_docs:
        return "docs"
    if not sources:
        raise ConfigError("say what the rows hold", setting="--fields",
                          hint='add --fields "subject:str, priority:enum[low,high]", --schema FILE or --like FILE '
                               "(or use --chat or --from-docs COLLECTION)")
    return "records"


def _dedup(text: str) -> float | None:
    if text.strip().lower() in ("off", "none", "exact"):
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1:
        raise ConfigError(f"--dedup: {text!r} is not a cosine similarity in (0, 1]", setting="--dedup",
                          hint="e.g. --dedup 0.92 (higher removes fewer rows), or --dedup off (exact duplicates "
                               "only)")
    return value


def _style(text: str | None) -> tuple[str | None, list[list[dict[str, str]]]]:
    """``--style`` in words, or a JSONL file of example conversations (shown to the model before each answer)."""
    if not text:
        return None, []
    path = Path(text).expanduser()
    if not (len(text) < 4096 and path.suffix in (".jsonl", ".json") and path.is_file()):
        return text, []
    shots = []
    for row in schemas.read_examples(path, "--style"):
        messages = row.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
            raise ConfigError(f"--style: {path.name} rows must be {{\"messages\": [...]}} conversations",
                              setting="--style",
                              hint="use the OpenAI fine-tuning format, or describe the style in words")
        shots.append([m for m in messages if m.get("role") in ("user", "assistant")])
    return "like the example conversations", shots


def plan(request: Request, confirm: Callable[[str], bool] | None = None) -> tuple[Job, str | None]:
    """A checked :class:`Job`, and the schema inferred from ``--like`` (to show) when there was one.

    ``confirm`` is asked whether to use an inferred schema; declining is an error that ends the run.
    """
    mode = _mode(request)
    if request.n < 1:
        raise ConfigError(f"--n must be at least 1 (got {request.n})", setting="--n", hint="e.g. --n 100")
    description = request.description.strip()
    row_schema, examples, shown = None, [], None
    if request.fields is not None:
        row_schema = parse_fields(request.fields)
    elif request.schema is not None:
        row_schema = schemas.load_schema(request.schema)
    elif request.like is not None:
        examples = schemas.read_examples(request.like)
        row_schema = schemas.check_schema(schemas.infer_schema(examples), "--like")
        shown = fields_text(row_schema)
        if confirm is not None and not confirm(shown):
            raise ConfigError("the inferred schema was not accepted", setting="--like",
                              hint="describe the rows with --fields or --schema instead")
    if not description and mode != "docs":
        if not examples:
            raise ConfigError("say what the dataset is about", setting="DESCRIPTION",
                              hint='e.g. podium datagen "customer support tickets for a SaaS product" --fields ...')
        description = "rows like the examples"
    if mode == "docs" and not description:
        description = f"questions answered by the documents of {request.from_docs}"
    fmt = store.detect_format(request.out or Path("x.jsonl"), request.fmt)
    out = (request.out or default_out(description, fmt)).expanduser()
    if request.out is not None and not request.fmt:
        fmt = store.detect_format(out, None)
    style, shots = _style(request.style)
    if request.max_cost is not None and request.max_cost < 0:
        raise ConfigError("--max-cost is negative", setting="--max-cost", hint="a number of USD, e.g. 0.50")
    job = Job(description=description, n=request.n, out=out, fmt=fmt, mode=mode, schema=row_schema,
              examples=examples, seed=request.seed, topics=diversity.read_list(request.topics, "--topics"),
              personas=diversity.read_list(request.personas, "--personas"), diversity=request.diversity,
              temperature=diversity.parse_schedule(request.temperature, 0.0) if request.temperature else None,
              dedup=_dedup(request.dedup), meta=request.meta, max_cost=request.max_cost,
              concurrency=request.concurrency or 1, batch=request.batch, max_failures=request.max_failures,
              max_tokens=request.max_tokens,
              magpie=request.magpie, style=style, style_shots=shots, system=request.system, turns=request.turns,
              collection=request.from_docs, resume=request.resume, force=request.force)
    if request.resume and request.force:
        raise ConfigError("--resume and --force contradict each other", setting="--force",
                          hint="--resume continues the file, --force replaces it")
    store.check_out(job.out, job.fmt, resume=job.resume, force=job.force)
    return job, shown


def describe_job(job: Job) -> str:
    """One line saying what a job will make (for the web app and the specialist)."""
    what = {"chat": "conversations", "docs": f"question-answer pairs from {job.collection}"}.get(job.mode, "rows")
    fields = f" with {fields_text(job.schema)}" if job.schema else ""
    return f"{job.n} {what}{fields} about {json.dumps(job.description)} into {job.out}"
