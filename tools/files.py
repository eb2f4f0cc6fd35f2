"""read_file and list_files, confined to the configured workspace folder.

Every path is resolved (symlinks included) before use and must stay inside the
workspace; after opening, the descriptor's real path is checked again, so a link
swapped in between the check and the open is refused too.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from tools.registry import ToolError, tool

MAX_CHARS = 20_000
"""Most characters read_file returns (the rest is reported as truncated)."""
MAX_ENTRIES = 200
"""Most entries list_files shows."""


def confine(root: Path, path: str) -> Path:
    """The real path of ``path`` (relative to ``root``), refused if it leaves ``root``."""
    if "\x00" in path:
        raise ToolError("a path cannot contain a NUL character")
    root = root.resolve()
    real = Path(os.path.realpath(root / Path(path.strip() or ".").expanduser()))
    if real != root and root not in real.parents:
        raise ToolError(f"{path!r} is outside the workspace; only files under the workspace folder can be read")
    return real


def _open_confined(root: Path, real: Path) -> int:
    """Open without following a final symlink, then re-check where the descriptor really points."""
    fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    actual = Path(os.readlink(f"/proc/self/fd/{fd}")) if Path("/proc/self/fd").is_dir() else real
    if actual != root.resolve() and root.resolve() not in actual.parents:
        os.close(fd)
        raise ToolError("the path changed while it was being opened and now leaves the workspace")
    return fd


def _relative(root: Path, real: Path) -> str:
    return str(real.relative_to(root.resolve())) or "."


_QUOTED = re.compile(r"`([^`\n]+)`|\"([^\"\n]+)\"|'([^'\n]+)'")
_WITH_SLASH = re.compile(r"(?<![\w/.~-])(?:~|\.{1,2})?[\w.-]*/[\w./-]*")
_WITH_EXTENSION = re.compile(r"(?<![\w/.~-])[\w.-]+\.[A-Za-z][A-Za-z0-9]{0,7}(?=$|[\s,;:!?)])")
_NAMED_FOLDER = re.compile(r"\b(?:folder|directory|dir)\s+([\w./-]+)|([\w.-]+)\s+(?:folder|directory)\b")
_NOT_PATHS = {"the", "a", "my", "this", "that", "workspace"}


def path_spans(message: str) -> list[str]:
    """Paths named in a message: quoted or back-ticked text, words with a slash or a file extension,
    and the name next to 'folder' or 'directory'."""
    found = [next(part for part in group if part) for group in _QUOTED.findall(message)]
    found += _WITH_SLASH.findall(message) + _WITH_EXTENSION.findall(message)
    found += [a or b for a, b in _NAMED_FOLDER.findall(message)]
    cleaned = (f.rstrip(".,") for f in found)
    return list(dict.fromkeys(f for f in cleaned if f and f.lower() not in _NOT_PATHS))


def _workspace(env: Any) -> Path:
    if env is None or getattr(env, "workspace", None) is None:
        raise ToolError("no workspace folder is configured (set PODIUM_WORKSPACE)")
    return Path(env.workspace)


@tool(
    trigger=r"\b(?:read|open|show|display|print|cat)\b.{0,40}?(?:[\w-]+\.[A-Za-z][A-Za-z0-9]{0,7}\b|[\w.-]*/[\w.-]+)",
    spans={"path": path_spans},
    examples=[("Read the file notes/todo.md", {"path": "notes/todo.md"}),
              ("Show me what's in `report.txt`", {"path": "report.txt"})],
    answer=lambda args, result: f"{args['path']}:\n{result}",
)
def read_file(path: str, *, env: Any = None) -> str:
    """Read a text file from the workspace folder.

    Args:
        path: The file's path relative to the workspace folder, e.g. 'notes/todo.md'.
    """
    root = _workspace(env)
    real = confine(root, path)
    if real.is_dir():
        raise ToolError(f"{path!r} is a folder; list it with list_files")
    try:
        fd = _open_confined(root, real)
    except FileNotFoundError:
        raise ToolError(f"there is no file {path!r} in the workspace") from None
    except OSError as exc:
        raise ToolError(f"cannot open {path!r}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ToolError(f"{path!r} is not a regular file")
        data = handle.read(MAX_CHARS * 4 + 1)
        size = os.fstat(handle.fileno()).st_size
    if b"\x00" in data[:8192]:
        raise ToolError(f"{path!r} is a binary file ({size} bytes), not text")
    text = data.decode("utf-8", errors="replace")
    if len(text) > MAX_CHARS or size > len(data):
        note = f"\n[... truncated: the file has {size} bytes; showing the first {MAX_CHARS} characters]"
        return text[:MAX_CHARS] + note
    return text


@tool(
    trigger=r"\b(?:list|show|what)\b.{0,30}\b(?:files|folders|directories)\b|\bls\b",
    spans={"path": path_spans},
    examples=[("List the files in the workspace", {}), ("What files are in the notes folder?", {"path": "notes"})],
    answer=lambda args, result: f"Files in {args.get('path') or '.'}:\n{result}",
)
def list_files(path: str = ".", *, env: Any = None) -> str:
    """List the files and folders in a folder of the workspace.

    Args:
        path: The folder relative to the workspace folder; '.' (the default) is the workspace itself.
    """
    root = _workspace(env)
    real = confine(root, path)
    if not real.is_dir():
        raise ToolError(f"{path!r} is not a folder in the workspace" if not real.exists() else f"{path!r} is a file")
    entries = sorted(real.iterdir(), key=lambda p: p.name)
    lines = [_entry(root, entry) for entry in entries[:MAX_ENTRIES]]
    if len(entries) > MAX_ENTRIES:
        lines.append(f"[... {len(entries) - MAX_ENTRIES} more entries]")
    return "\n".join(lines) if lines else "(empty folder)"


def _entry(root: Path, entry: Path) -> str:
    if entry.is_symlink():
        try:
            target = _relative(root, confine(root, str(entry)))
        except ToolError:
            return f"{entry.name} -> (a link out of the workspace; not followed)"
        return f"{entry.name} -> {target}"
    if entry.is_dir():
        return f"{entry.name}/"
    return f"{entry.name} ({entry.stat().st_size} bytes)"
