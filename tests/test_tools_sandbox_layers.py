"""The sandbox's kernel layers one by one, what the probe finds, and the python tool switched off.

Landlock and the seccomp filter are each applied alone to a plain child process and
attacked there. The probe and the planner run for real; a machine that cannot confine
files is stood in for by a :class:`Confinement` (no such kernel runs here), which is all
the python tool's "off" path reads.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from agents.contract import TurnOptions
from tools import REGISTRY, ToolEnv, ToolError, sandbox_boot, sandbox_kernel
from tools.sandbox import Confinement, Limits, Sandbox, probe

LIMITS = Limits(wall_s=8, cpu_s=2, memory_mb=256, processes=16, file_mb=1, disk_mb=4, output_chars=2000)
FOUND = probe()
NOWHERE = Confinement("none", 0, True, {"namespaces": "unshare failed", "landlock": "this kernel has no Landlock"})
"""A machine that cannot confine a snippet's files (seccomp alone does not)."""
OFF = ("off: this machine cannot keep a snippet out of your files (namespaces: unshare failed; landlock: this "
       "kernel has no Landlock); PODIUM_SANDBOX_UNCONFINED=1 runs snippets anyway, at your own risk")
needs_landlock = pytest.mark.skipif(FOUND.landlock_abi < 1, reason="this kernel has no Landlock")
needs_seccomp = pytest.mark.skipif(not FOUND.seccomp, reason="this kernel does not filter syscalls")


def alone(tmp_path: Path, setup: str, attacks: str) -> dict[str, str]:
    """Apply one kernel layer to a fresh Python process, run ``attacks``, return ``{attempt: errno name or ok}``."""
    script = textwrap.dedent(f"""
        import errno, json, os, socket, sys, threading
        sys.path.insert(0, {str(Path(sandbox_kernel.__file__).parent)!r})
        import sandbox_kernel
        report = {{}}
        def attempt(name, action):
            try:
                action()
                report[name] = "ok"
            except OSError as exc:
                report[name] = errno.errorcode[exc.errno]
        {setup}
        """) + textwrap.dedent(attacks) + "\nprint(json.dumps(report))"
    done = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@needs_seccomp
def test_seccomp_alone_refuses_exec_sockets_namespaces_and_ptrace_but_not_threads_or_fork(tmp_path):
    report = alone(tmp_path, "sandbox_kernel.seccomp()", """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        def call(name, *args):
            if getattr(libc, name)(*args) < 0:
                raise OSError(ctypes.get_errno(), name)
        attempt("exec", lambda: os.execv("/bin/true", ["true"]))
        attempt("tcp socket", lambda: socket.socket())
        attempt("unix socket", lambda: socket.socket(socket.AF_UNIX))
        attempt("socketpair", lambda: socket.socketpair())
        attempt("user namespace", lambda: call("unshare", 0x10000000))
        attempt("ptrace", lambda: call("ptrace", 0, 0, None, None))  # PTRACE_TRACEME: allowed to anyone else
        attempt("setsid", os.setsid)
        def thread():
            worker = threading.Thread(target=lambda: None)
            worker.start(), worker.join()
        attempt("thread", thread)  # glibc's clone3 gets ENOSYS and falls back to clone
        def fork():
            pid = os.fork()
            if pid == 0:
                os._exit(7)
            assert os.waitpid(pid, 0)[1] >> 8 == 7
        attempt("fork", fork)
        """)
    assert report == {"exec": "EPERM", "tcp socket": "EPERM", "unix socket": "EPERM", "socketpair": "ok",
                      "user namespace": "EPERM", "ptrace": "EPERM", "setsid": "EPERM", "thread": "ok", "fork": "ok"}


@needs_landlock
def test_landlock_alone_confines_files_tcp_signals_and_abstract_sockets(tmp_path):
    outside = Path("/var/tmp", f"podium-landlock-{uuid.uuid4().hex}")
    outside.write_text("secret")
    listener = socket.create_server(("127.0.0.1", 0))
    abstract = f"\0podium-landlock-{uuid.uuid4().hex}"
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(abstract)
    unix.listen()
    (tmp_path / "work").mkdir()
    setup = (f"sandbox_kernel.landlock([sys.base_prefix, '/usr/lib'], [{str(tmp_path / 'work')!r}], ['/dev/null'], "
             "sandbox_kernel.landlock_abi())")
    try:
        report = alone(tmp_path, setup, f"""
            attempt("read outside", lambda: open({str(outside)!r}).read())
            attempt("write outside", lambda: open("/var/tmp/podium-landlock-written", "w"))
            attempt("write inside", lambda: open("work/note.txt", "w").write("hi"))
            attempt("hard link out", lambda: os.link({str(outside)!r}, "work/hard"))
            attempt("dev null", lambda: open("/dev/null", "w").write("x"))
            attempt("exec", lambda: os.execv(sys.executable, ["python", "-c", "pass"]))
            attempt("tcp", lambda: socket.create_connection(("127.0.0.1", {listener.getsockname()[1]}), timeout=2))
            def abstract():
                client = socket.socket(socket.AF_UNIX)
                client.connect({abstract!r})
            attempt("abstract socket", abstract)
            attempt("signal parent", lambda: os.kill(os.getppid(), 0))
            """)
    finally:
        outside.unlink()
        listener.close()
        unix.close()
    abi = FOUND.landlock_abi
    assert report == {"read outside": "EACCES", "write outside": "EACCES", "write inside": "ok",
                      "hard link out": "EXDEV", "dev null": "ok", "exec": "EACCES",
                      "tcp": "EACCES" if abi >= 4 else "ok", "abstract socket": "EPERM" if abi >= 6 else "ok",
                      "signal parent": "EPERM" if abi >= 6 else "ok"}
    assert not Path("/var/tmp/podium-landlock-written").exists()


def test_the_seccomp_filter_checks_the_architecture_before_anything_else():
    if sandbox_kernel.AUDIT_ARCH is None:
        pytest.skip("no syscall table for this architecture")
    program = sandbox_kernel.seccomp_program()
    assert program[:3] == [(0x20, 0, 0, 4), (0x15, 1, 0, sandbox_kernel.AUDIT_ARCH), (0x06, 0, 0, 0x80000000)]
    assert program[-1] == (0x06, 0, 0, 0x7FFF0000) and len(program) < 200


def test_the_probe_finds_what_the_default_sandbox_applies():
    result = Sandbox(LIMITS).run("print(1)")
    layers = set(result.isolation)
    assert result.ok and {"rlimits", "clean-env", "guard"} <= layers
    assert ("mount-namespace" in layers) == (FOUND.namespaces != "none") == ("tmpfs" in layers)
    assert ("landlock" in layers) == (FOUND.landlock_abi > 0) and ("seccomp" in layers) == FOUND.seccomp
    if os.geteuid() == 0 and FOUND.namespaces == "root":
        assert "nobody" in layers


def test_the_snippets_root_holds_only_what_python_needs_and_is_read_only():
    if FOUND.namespaces == "none":
        pytest.skip("no namespaces on this machine")
    code = """import errno, json, os, sys
writes = {}
for path in ('/new', '/usr/lib/new', '/dev/new', sys.prefix + '/new'):
    try:
        open(path, 'w')
    except OSError as exc:
        writes[path] = errno.errorcode[exc.errno]
print(json.dumps({"top": sorted(os.listdir('/')), "dev": sorted(os.listdir('/dev')), "writes": writes,
                  "pids": [p for p in os.listdir('/proc') if p.isdigit()], "me": str(os.getpid())}))"""
    result = Sandbox(LIMITS, guard=False, landlock=False, seccomp=False).run(code)
    seen = json.loads(result.stdout)
    runtime = {Path(sys.base_prefix).parts[1], "usr", "lib", "lib64", "lib32", "libx32", "etc"}
    assert "tmp" in seen["top"] and set(seen["top"]) <= {"dev", "proc", "tmp", *runtime}
    assert seen["dev"] == ["null", "random", "urandom", "zero"] and seen["pids"] == [seen["me"]]
    assert seen["writes"] == {"/new": "EROFS", "/usr/lib/new": "EROFS", "/dev/new": "EROFS",
                              f"{sys.base_prefix}/new": "EROFS"}


def test_without_unshare_the_probe_falls_back_to_landlock(monkeypatch):
    if FOUND.landlock_abi < 1:
        pytest.skip("this kernel has no Landlock")
    monkeypatch.setattr("tools.sandbox.shutil.which", lambda name: None)  # a machine without util-linux's unshare
    found = probe.__wrapped__()
    assert found.namespaces == "none" and found.missing["namespaces"] == "unshare (util-linux) is not installed"
    assert found.landlock_abi == FOUND.landlock_abi
    result = Sandbox(LIMITS, confinement=found).run("import os\nprint(os.getcwd().endswith('/work'))")
    assert result.ok and result.stdout == "True\n" and {"tmpdir", "landlock"} <= set(result.isolation)


def test_a_user_namespace_confines_like_root_does():
    if FOUND.namespaces == "none":
        pytest.skip("no namespaces on this machine")
    user = Sandbox(LIMITS, guard=False, confinement=replace(FOUND, namespaces="user"))
    result = user.run("import os\nstatus = open('/proc/self/status').read()\n"
                      "print(os.listdir('/tmp'), status.split('CapEff:')[1].split()[0])")
    assert result.ok, result.message
    assert result.stdout == "[] 0000000000000000\n"  # its own empty folder, and no capability left
    assert {"user-namespace", "mount-namespace"} <= set(result.isolation)


def test_a_layer_that_cannot_be_applied_stops_the_run_before_the_snippet(monkeypatch):
    if FOUND.namespaces == "none":
        pytest.skip("no namespaces on this machine")
    monkeypatch.setattr("tools.sandbox.runtime_paths", lambda: (["/nonexistent-podium-runtime"], {}))
    result = Sandbox(LIMITS).run("print('ran')")
    assert result.status == "error" and result.stdout == ""
    assert result.message == "sandbox set-up failed: mount /nonexistent-podium-runtime: No such file or directory"


def test_a_child_layer_that_fails_fails_closed_unless_probing():
    class Kernel:
        def drop_capabilities(self) -> None:
            pass

        def no_new_privileges(self) -> None:
            pass

        def seccomp(self) -> None:
            raise OSError(22, "prctl(PR_SET_SECCOMP): Invalid argument")

    cfg = {"rlimits": {}, "work": os.getcwd(), "seccomp": True}
    with pytest.raises(OSError, match="PR_SET_SECCOMP"):
        sandbox_boot._confine(cfg, Kernel(), probing=False)
    assert sandbox_boot._confine(cfg, Kernel(), probing=True) == {
        "seccomp": "OSError: [Errno 22] prctl(PR_SET_SECCOMP): Invalid argument"}


def test_where_files_cannot_be_confined_the_python_tool_is_off_unless_the_user_accepts_the_risk(tmp_path):
    off = Sandbox(LIMITS, confinement=NOWHERE)
    assert off.off_reason() == OFF
    result = off.run("print(1)")
    assert (result.status, result.stdout, result.message) == ("off", "", f"the python tool is {OFF}")
    python = REGISTRY["python"]
    env = ToolEnv(workspace=tmp_path, sandbox=off)
    assert python.off_reason(env) == OFF and python.describe(env)["off"] == OFF
    with pytest.raises(ToolError, match="the python tool is off: this machine cannot keep"):
        python.func(code="print(1)", env=env)
    risky = Sandbox(LIMITS, confinement=NOWHERE, allow_unconfined=True)
    assert risky.off_reason() is None and python.off_reason(ToolEnv(workspace=tmp_path, sandbox=risky)) is None
    ran = risky.run("print(6 * 7)")
    assert ran.ok and ran.stdout == "42\n"
    assert "mount-namespace" not in ran.isolation and "landlock" not in ran.isolation
    assert {"tmpdir", "guard", "rlimits"} <= set(ran.isolation)
    assert Sandbox(LIMITS, namespaces=False, landlock=False).off_reason().startswith(
        "off: this machine cannot keep a snippet out of your files (namespaces: ")


def test_podium_tools_shows_why_python_is_off_and_the_setting_turns_it_on(capsys, monkeypatch, tmp_path):
    from tests.conftest import cli_here

    monkeypatch.setenv("PODIUM_HOME", str(tmp_path))
    monkeypatch.setattr("tools.sandbox.probe", lambda: NOWHERE)
    code, out, _ = cli_here(capsys, "tools", "--json")
    rows = {row["name"]: row for row in json.loads(out)["tools"]}
    assert code == 0 and rows["python"]["off"] == OFF and rows["calculator"]["off"] is None
    code, out, _ = cli_here(capsys, "tools")
    assert code == 0 and "off: this machine cannot keep a snippet out of your files" in " ".join(out.split())
    monkeypatch.setenv("PODIUM_SANDBOX_UNCONFINED", "1")
    code, out, _ = cli_here(capsys, "tools", "--json")
    assert {row["name"]: row["off"] for row in json.loads(out)["tools"]}["python"] is None


def test_an_off_python_call_fails_at_once_in_a_turn_without_asking_for_approval(app, monkeypatch):
    from models.scripted import register_script

    monkeypatch.setattr("tools.sandbox.probe", lambda: NOWHERE)
    model = register_script("python-off", [json.dumps([{"tool": "python", "args": {"code": "print(1)"}}])])
    result = list(app.stream_turn("Run this python code: print(1)", None, TurnOptions(model=model)))[-1].data["result"]
    assert result.pending == [] and result.paused_before == []
    assert result.answer == f"python could not do that: the python tool is {OFF}"
    (call,) = result.tool_calls
    assert call["error"] == f"the python tool is {OFF}" and call["result"] is None
