"""The python sandbox's behaviour: output, errors, limits, secrets, and the guard's explanations.

Each misuse must fail and end within its limit with a clear message. Attacks that go
around the guard, and the kernel layer that stops each, are in test_tools_sandbox_attacks.py;
the layers one by one in test_tools_sandbox_layers.py.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from tools import REGISTRY, ToolEnv, ToolError
from tools.sandbox import BOOT, Limits, Sandbox, namespace_mode

LIMITS = Limits(wall_s=4, cpu_s=1, memory_mb=128, processes=12, file_mb=1, disk_mb=4, output_chars=500)
OS_LAYERS = namespace_mode() != "none"
needs_os_layers = pytest.mark.skipif(not OS_LAYERS, reason="no namespaces on this machine")


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(LIMITS)


@pytest.fixture(scope="module")
def bare() -> Sandbox:
    """OS layers only: no audit-hook guard."""
    return Sandbox(LIMITS, guard=False)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "private" / "api_key.txt"
    path.parent.mkdir()
    path.write_text("sk-live-SECRETVALUE")
    path.chmod(0o600)
    return path


def test_a_snippet_runs_and_prints(sandbox):
    result = sandbox.run("import math, json\nprint(sum(range(10)))\nprint(json.dumps({'tau': round(math.tau, 3)}))")
    assert result.ok and result.stdout == '45\n{"tau": 6.283}\n' and result.exit_code == 0
    assert {"rlimits", "clean-env", "guard"} <= set(result.isolation)


def test_the_standard_library_works_inside(sandbox):
    code = """import datetime, decimal, hashlib, sqlite3, tempfile, zoneinfo
paris = datetime.datetime(2025, 7, 1, 12, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
print(paris.utcoffset(), decimal.Decimal(1) / 8, hashlib.sha256(b"x").hexdigest()[:8])
print(sqlite3.connect(":memory:").execute("select 6 * 7").fetchone()[0])
with tempfile.NamedTemporaryFile("w") as handle:
    print(handle.write("scratch"))"""
    result = sandbox.run(code)
    assert result.ok, result.stderr
    assert result.stdout == "2:00:00 0.125 2d711642\n42\n7\n"


def test_errors_show_the_snippets_own_traceback(sandbox):
    result = sandbox.run("x = 1\ny = x / 0")
    assert result.status == "error" and result.exit_code == 1
    assert result.message == "exited with status 1: ZeroDivisionError: division by zero"
    assert 'File "<snippet>", line 2' in result.stderr and "sandbox_boot" not in result.stderr
    assert sandbox.run("import sys; sys.exit(3)").message == "exited with status 3"
    assert sandbox.run("print(1").message == "exited with status 1: SyntaxError: '(' was never closed"


SCAN_ENVIRONS = """import os
found = False
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            found |= b'LEAKED' in open(f'/proc/{pid}/environ', 'rb').read()
        except OSError:
            pass
print('found', found)"""


def test_no_secrets_in_the_environment(sandbox, bare, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-LEAKED123")
    monkeypatch.setenv("PODIUM_SECRET_TOKEN", "tok-LEAKED456")
    result = sandbox.run("import os; print(sorted(os.environ)); print(os.environ.get('OPENAI_API_KEY'))")
    assert result.stdout == "['HOME', 'LANG', 'LC_ALL', 'PATH', 'TMPDIR']\nNone\n"
    assert "not allowed" in sandbox.run(SCAN_ENVIRONS).message  # /proc is outside the sandbox folder
    if OS_LAYERS:  # without the guard: a private /proc shows no other process's environment
        assert bare.run(SCAN_ENVIRONS).stdout == "found False\n"


@pytest.mark.parametrize("code", [
    "print(open({path!r}).read())",
    "import pathlib; print(pathlib.Path({path!r}).read_text())",
    "import os; print(os.listdir(os.path.dirname({path!r})))",
    "import os; os.symlink({path!r}, 'link'); print(open('link').read())",
])
def test_files_outside_the_sandbox_cannot_be_read(sandbox, bare, secret_file, code):
    for box in (sandbox, bare):
        result = box.run(code.format(path=str(secret_file)))
        assert result.status == "error" and "SECRETVALUE" not in result.stdout + result.stderr


@pytest.mark.parametrize(("code", "message"), [
    ("print(open('/etc/passwd').read())", "PermissionError: sandbox: '/etc/passwd' is outside the sandbox folder"),
    ("import os; print(os.listdir('/usr'))", "PermissionError: sandbox: os.listdir outside the sandbox folder is not "
                                             "allowed"),
    ("open('/usr/lib/podium-was-here', 'w')", "PermissionError: sandbox: '/usr/lib/podium-was-here' is outside the "
                                              "sandbox folder"),
])
def test_the_guard_explains_refusals_in_one_line(sandbox, code, message):
    assert sandbox.run(code).message == f"exited with status 1: {message}"


@pytest.fixture
def listener():
    """A real TCP server on 127.0.0.1 that records every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[object] = []

    def accept() -> None:
        try:
            while True:
                accepted.append(server.accept())
        except OSError:
            return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    server.close()


def test_the_network_is_unreachable(sandbox, bare, listener):
    port, accepted = listener
    result = sandbox.run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)")
    assert result.status == "error" and "network access is not allowed" in result.message
    for box in (sandbox, bare):
        assert box.run("import urllib.request\nurllib.request.urlopen('http://1.1.1.1', timeout=2)").status == "error"
        assert box.run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)").status == "error"
    assert accepted == []


def test_starting_processes_is_refused(sandbox):
    for code in ("import os\nwhile True: os.fork()", "import subprocess; subprocess.run(['id'])",
                 "import os; os.system('id')", "import ctypes"):
        result = sandbox.run(code)
        assert result.status == "error" and "is not allowed" in result.message, code


@needs_os_layers
def test_without_the_guard_a_fork_bomb_hits_the_process_limit_and_dies_with_the_sandbox(bare):
    result = bare.run("import os\nn = 0\nwhile True:\n    try:\n        os.fork(); n += 1\n"
                      "    except OSError as exc:\n        print(exc.strerror); break")
    assert "Resource temporarily unavailable" in result.stdout  # RLIMIT_NPROC refused the forks
    bomb = bare.run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass")
    assert bomb.status in ("timeout", "cpu_limit", "killed")
    assert bomb.duration_s < LIMITS.wall_s + 3
    leftover = bare.run("import os\nif os.fork() == 0:\n    while True: pass\nprint('parent done')")  # a spinner
    assert leftover.ok and leftover.stdout == "parent done\n" and leftover.duration_s < LIMITS.wall_s
    deadline = time.monotonic() + 10  # a killed process may take a moment to be reaped on a busy machine
    for pid in _orphans():
        _wait_exit(int(pid), deadline)
    assert _orphans() == [], "every forked process must die with the sandbox"


def _ours() -> dict[str, str]:
    """Processes started by this checkout's sandbox, with their parents' pids (other checkouts' test runs may
    have their own)."""
    mine = str(BOOT.parent).encode()
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and mine in (proc / "cmdline").read_bytes():
                status = (proc / "status").read_text()
                found[proc.name] = status.split("PPid:", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
    return found


def _wait_exit(pid: int, deadline: float) -> None:
    """Wait until process ``pid`` exits or the deadline passes (its pidfd turns readable when it exits)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(max(0.0, deadline - time.monotonic()) * 1000)
    finally:
        os.close(fd)


def _orphans() -> list[str]:
    """Sandbox processes no live run owns: their chain of sandbox parents ends at init, not at a test process.
    (Another xdist worker's snippet running at the same moment hangs below that worker and is not counted.)"""
    ours = _ours()

    def orphaned(pid: str) -> bool:
        seen = set()
        while pid in ours and pid not in seen:
            seen.add(pid)
            pid = ours[pid]
        return pid in ("0", "1")

    return sorted(p for p in ours if orphaned(p))


def test_a_memory_bomb_stops_at_the_memory_limit(sandbox):
    for code in ("x = bytearray(10**9)", "x = [0] * 10**9", "s = 'x'\nwhile True: s += s"):
        result = sandbox.run(code)
        assert result.status == "memory_limit", (code, result.message, result.stderr[-300:])
        assert result.message == "stopped: ran out of its 128 MB of memory"


def test_an_endless_loop_stops_at_the_cpu_limit_and_a_sleeper_at_the_wall_clock(sandbox):
    roomy = Sandbox(Limits(wall_s=30, cpu_s=1))  # a busy machine must not turn the CPU limit into a wall-clock one
    busy = roomy.run("while True: pass")
    assert busy.status == "cpu_limit" and busy.message == "stopped: used its 1 s of CPU time"
    asleep = sandbox.run("print('before', flush=True)\nimport threading\nthreading.Event().wait()")  # idles
    assert asleep.status == "timeout" and asleep.message == "stopped: still running after the 4 s wall-clock limit"
    assert asleep.stdout == "before\n" and asleep.duration_s < LIMITS.wall_s + 2


def test_output_floods_and_disk_fills_are_capped(sandbox):
    flood = sandbox.run("while True: print('x' * 1000)")
    assert flood.status == "output_limit" and flood.truncated
    assert len(flood.stdout) < 700 and "[... output truncated" in flood.stdout
    disk = sandbox.run("open('big', 'wb').write(b'0' * (5 * 2**20))")
    assert disk.status in ("output_limit", "error") and "File too large" in disk.stderr + disk.message


def test_the_python_tool_reports_output_and_failures(tmp_path):
    env = ToolEnv(workspace=tmp_path, sandbox=Sandbox(LIMITS))
    python = REGISTRY["python"]
    assert python.func(code="print(6 * 7)", env=env) == "42"
    assert python.func(code="pass", env=env) == "(the code printed nothing)"
    with pytest.raises(ToolError, match=r"exited with status 1: NameError: name 'nope' is not defined"):
        python.func(code="print('partial')\nnope", env=env)
    with pytest.raises(ToolError, match="no sandbox"):
        python.func(code="print(1)", env=None)


def test_the_working_folder_is_temporary(sandbox):
    name = f"note-{uuid.uuid4().hex}.txt"
    first = sandbox.run(f"import os\nopen({name!r}, 'w').write('hi')\nprint(os.getcwd(), os.environ['HOME'])")
    assert first.ok
    folder, home = first.stdout.split()
    assert home == folder and not Path(folder, name).exists() and not Path("/tmp", name).exists()
    assert sandbox.run(f"print(open({name!r}).read())").status == "error"
    assert os.environ.get("HOME") != folder


def test_limits_come_from_the_settings_and_bad_ones_are_one_line_errors(tmp_path, monkeypatch):
    from podium.errors import ConfigError
    from podium.settings import load_settings

    monkeypatch.setenv("PODIUM_SANDBOX_WALL_S", "2")
    monkeypatch.setenv("PODIUM_SANDBOX_MEMORY_MB", "64")
    env = ToolEnv.from_settings(load_settings())
    assert (env.sandbox.limits.wall_s, env.sandbox.limits.cpu_s, env.sandbox.limits.memory_mb) == (2, 5, 64)
    asleep = env.sandbox.run("import threading\nthreading.Event().wait()")  # idles until killed
    assert asleep.status == "timeout" and asleep.message == "stopped: still running after the 2 s wall-clock limit"
    assert env.sandbox.allow_unconfined is False
    monkeypatch.setenv("PODIUM_SANDBOX_UNCONFINED", "1")
    assert ToolEnv.from_settings(load_settings()).sandbox.allow_unconfined is True
    monkeypatch.setenv("PODIUM_SANDBOX_CPU_S", "0")
    with pytest.raises(ConfigError, match="PODIUM_SANDBOX_CPU_S must be positive"):
        load_settings()


def test_snippets_run_in_a_process_holding_descriptors_past_1024(sandbox):
    """A long-lived server holds many files and sockets; waiting on a snippet must not use select(), which
    refuses descriptor numbers of 1024 and more (the tool then failed with 'filedescriptor out of range')."""
    held = []
    try:
        while not held or held[-1] < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        result = sandbox.run("print(6 * 8)")
    finally:
        for fd in held:
            os.close(fd)
    assert result.ok, result.message
    assert result.stdout.strip() == "48"
