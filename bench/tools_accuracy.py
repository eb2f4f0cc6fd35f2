"""Tool-calling accuracy of the embedded SmolLM2-135M: spans-from-the-message grammar vs schema-only grammar.

Both modes go through ``ChatLlamaCpp.bind_tools`` with the same prompt, few-shot examples,
deterministic pre-selection and temperature 0; they differ only in what the grammar lets the
model write as argument values. A case
counts as right when the chosen tool, run with the model's arguments, gives the expected
result. Prints per-case outcomes, then accuracy and mean seconds per plan for each mode.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.tools import TOOLS  # noqa: E402
from models.registry import ModelPool  # noqa: E402
from podium.settings import Settings  # noqa: E402
from tools import ToolEnv, run_calls, select  # noqa: E402
from tools.local import bind_options, select_for  # noqa: E402

CASES: list[tuple[str, str, str]] = [  # (message, tool, text the result must contain)
    ("What is 1234 * 5678?", "calculator", "7006652"),
    ("What is the square root of 1764?", "calculator", "42"),
    ("Calculate (48 + 52) * 3 - 7", "calculator", "293"),
    ("What is a 15% tip on a $86.40 bill?", "calculator", "12.96"),
    ("What's 17.5% of 2340?", "calculator", "409.5"),
    ("what is 2 to the power of 20", "calculator", "1048576"),
    ("How much is 99 divided by 3?", "calculator", "33"),
    ("compute 2**10 / 4", "calculator", "256"),
    ("What is 0.1 + 0.2?", "calculator", "0.3"),
    ("what's 7 times 6", "calculator", "42"),
    ("What is 20% off 50?", "calculator", "40"),
    ("Please calculate 3.5 * (2 + 4.25)", "calculator", "21.875"),
    ("What is the cube root of 27?", "calculator", "3"),
    ("what is 12 squared", "calculator", "144"),
    ("What is 1000 - 1 - 1?", "calculator", "998"),
    ("Convert 5 miles to km", "convert_units", "8.04672 km"),
    ("How many pounds is 3.5 kg?", "convert_units", "7.716179176 lb"),
    ("convert 100 fahrenheit to celsius", "convert_units", "37.77777778 C"),
    ("What is 10 km in miles?", "convert_units", "6.213711922 mi"),
    ("12 inches to cm", "convert_units", "30.48 cm"),
    ("Convert 2 GiB to MB", "convert_units", "2147.483648 MB"),
    ("What time is it in Tokyo?", "current_time", "Asia/Tokyo"),
    ("What's the current time in New York?", "current_time", "America/New_York"),
    ("what time is it?", "current_time", "(UTC+00:00, UTC)"),
    ("What is the time in Europe/Paris right now?", "current_time", "Europe/Paris"),
    ("Read the file notes/todo.md", "read_file", "buy milk"),
    ("Show me report.txt", "read_file", "quarterly"),
    ("List the files in the workspace", "list_files", "notes/"),
    ("What files are in the notes folder?", "list_files", "todo.md"),
    ("Run this python code: print(sum(range(10)))", "python", "45"),
    ("Run this python code: print('a' * 3)", "python", "aaa"),
    ("Execute `print(2 ** 16)`", "python", "65536"),
]


MULTI: list[tuple[str, list[str]]] = [  # (message, results of the independent calls it needs)
    ("What is 12*3 and what is the square root of 81?", ["36", "9"]),
    ("What is 15% of 80 and what is 7 times 8?", ["12", "56"]),
    ("Convert 5 miles to km and 3 kg to pounds", ["5 mi = 8.04672 km", "3 kg = 6.613867866 lb"]),
]


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="podium-bench-"))
    settings = Settings(home=home, temperature=0.0)
    (settings.workspace_dir / "notes").mkdir()
    (settings.workspace_dir / "notes" / "todo.md").write_text("- buy milk\n")
    (settings.workspace_dir / "report.txt").write_text("The quarterly report.\n")
    env = ToolEnv(workspace=settings.workspace_dir, now=lambda: datetime(2026, 1, 15, 12, tzinfo=UTC))
    model = ModelPool(settings).model("llamacpp/smollm2-135m")
    tools = select(TOOLS)

    def plan(message: str, copy_spans: bool) -> list[dict]:
        """The calls the model makes for ``message``, as the tools specialist asks for them."""
        selection = select_for(message, tools)
        options = bind_options(message, selection, copy_spans=copy_spans)
        functions = [t.openai_schema() for t in selection.tools.values()]
        bound = model.model_copy(update={"copy_spans": copy_spans}).bind_tools(
            functions, tool_choice=selection.choice, **options)
        return bound.invoke(message, temperature=0.0, max_tokens=384).tool_calls

    model.invoke("warm up", max_tokens=1)  # load the weights outside the timings
    for mode, copy_spans in (("spans", True), ("schema-only", False)):
        right, seconds = 0, 0.0
        for message, tool, expected in CASES:
            started = time.perf_counter()
            calls = plan(message, copy_spans)
            seconds += time.perf_counter() - started
            records = run_calls(calls, tools, env) if calls else []
            got = records[0] if records else {}
            ok = bool(got) and got["name"] == tool and expected in (got.get("result") or "")
            right += ok
            print(f"{mode:11} {'ok ' if ok else 'BAD'} {message!r:48} -> {got.get('name')} {got.get('args')} "
                  f"= {got.get('result') or got.get('error')!r}"[:220])
        print(f"== {mode}: {right}/{len(CASES)} right ({right / len(CASES):.0%}), "
              f"{seconds / len(CASES):.2f} s per plan")
        right = 0
        for message, expected in MULTI:
            calls = plan(message, copy_spans)
            results = sorted(r.get("result") or "" for r in run_calls(calls, tools, env))
            right += results == sorted(expected)
            print(f"{mode:11} {'ok ' if results == sorted(expected) else 'BAD'} {message!r:48} -> {results}")
        print(f"== {mode}, two questions in one message: {right}/{len(MULTI)} with both calls right")


if __name__ == "__main__":
    main()
