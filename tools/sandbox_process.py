"""The sandbox's process from the outside: start it, wait for it, kill what it left, read what it wrote.

Nothing here trusts the snippet: the report is the supervisor's (a marshal file it wrote
after the snippet's process ended), output is read capped, and the verdict names the
limit that stopped a run in one line.
"""

from __future__ import annotations

import marshal
import os
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import Any


def execute(command: list[str], env: dict[str, str], cwd: Path, out_path: Path, err_path: Path,
            wall_s: float) -> tuple[int, bool, float]:
    """Run ``command`` in a new session with its output in two files: ``(return code, timed out, seconds)``.

    Whatever is left in the session when it ends or times out is killed before this returns.
    """
    started = time.perf_counter()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd,
                                start_new_session=True)
        timed_out = not _wait_exit(proc, wall_s)
        _kill_group(proc.pid)  # whatever the snippet left behind in its group goes too
        proc.wait()
        _wait_group_gone(proc.pid)
    return proc.returncode, timed_out, time.perf_counter() - started


def verdict(limits: Any, timed_out: bool, report: dict[str, Any], returncode: int, stderr: str,
            output_bytes: int) -> tuple[str, str]:
    """``(status, one-line message)`` for a finished run; ``limits`` is the run's ``Limits``."""
    sig, code = report.get("signal"), report.get("exit")
    if timed_out:
        return "timeout", f"stopped: still running after the {limits.wall_s:g} s wall-clock limit"
    if report.get("setup_error"):
        return "error", report["setup_error"]
    if sig in (signal.SIGXCPU, signal.SIGKILL) and report.get("cpu_s", 0) >= limits.cpu_s - 0.5:
        return "cpu_limit", f"stopped: used its {limits.cpu_s} s of CPU time"
    if "MemoryError" in stderr[-2000:]:
        return "memory_limit", f"stopped: ran out of its {limits.memory_mb} MB of memory"
    if output_bytes >= limits.file_mb * 2**20 or "File too large" in stderr[-2000:]:
        return "output_limit", f"stopped: wrote more than the {limits.file_mb} MB output limit"
    if sig:
        return "killed", f"killed by signal {signal.Signals(sig).name}"
    if code == 120:
        return "error", stderr.strip().splitlines()[-1] if stderr.strip() else "the sandbox could not start"
    if code is None:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit status {returncode}"
        return "error", f"the sandbox could not start: {last}"
    if code:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        return "error", f"exited with status {code}" + (f": {last}" if last else "")
    return "ok", "ran to completion"


def read_report(path: Path) -> dict[str, Any]:
    """How the snippet's process ended, as its supervisor recorded it (empty if it recorded nothing)."""
    try:
        report = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return {}
    return report if isinstance(report, dict) else {}


def _wait_exit(proc: subprocess.Popen, timeout_s: float) -> bool:
    """Whether ``proc`` exited within ``timeout_s``; woken by a pidfd the moment it does (``Popen.wait`` polls
    with sleeps of up to 50 ms, a quarter of the sandbox's start-up)."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout=timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:  # poll, not select: select() fails on descriptors numbered 1024 and up (a busy server has them)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        return bool(poller.poll(max(0, int(timeout_s * 1000))))
    finally:
        os.close(pidfd)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _wait_group_gone(pgid: int, deadline_s: float = 5.0) -> None:
    """Return once no process of the group is left, so a finished run leaves nothing running."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)  # the kernel is reaping the killed processes


def read_capped(path: Path, limit: int) -> tuple[str, int]:
    """The first ``limit`` characters of a captured stream, and its size in bytes."""
    size = path.stat().st_size if path.exists() else 0
    with open(path, "rb") as handle:
        data = handle.read(limit * 4)
    text = data.decode("utf-8", errors="replace")
    if len(text) > limit or size > len(data):
        text = text[:limit] + f"\n[... output truncated: {size} bytes in all]"
    return text, size


def own_processes() -> int:
    """Processes and threads of this user, the base an ``RLIMIT_NPROC`` for non-root must add to."""
    uid, count = os.getuid(), 0
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                count += len(list((entry / "task").iterdir()))
        except OSError:
            continue
    return count or 256
