"""The python sandbox attacked as an attacker would, around its interpreter-level guard.

Each attack aims at the host: read a world-readable canary outside the sandbox, write
into the host's ``/tmp``, ``/dev/shm`` or the canary's folder, or connect to a server on
127.0.0.1 (TCP, and an abstract Unix socket). Each runs under four configurations: the
default sandbox, the same with the guard switched off (the kernel layers on their own),
namespaces alone (no guard, Landlock or seccomp), and Landlock with seccomp alone (no
namespaces). Every attack must fail, and the error it meets names the layer that stopped
it: ``guard`` (the audit hook's message), ``seccomp`` (EPERM from a refused syscall),
``mount-namespace`` (ENOENT: the host's files are not in the snippet's root),
``landlock`` (EACCES, or EXDEV for a link), ``network-namespace`` (no route, nobody
listening) or ``nobody`` (EPERM towards a root process).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.sandbox import Limits, Sandbox, probe

LIMITS = Limits(wall_s=8, cpu_s=2, memory_mb=256, processes=16, file_mb=1, disk_mb=4, output_chars=4000)
FOUND = probe()
CONFIGS = {
    "guarded": {},
    "kernel": {"guard": False},
    "namespaces": {"guard": False, "landlock": False, "seccomp": False},
    "landlock+seccomp": {"guard": False, "namespaces": False},
}
"""Which layers each configuration switches off (the rest apply where the machine offers them)."""
NEEDS = {"guarded": (), "kernel": ("namespaces", "landlock", "seccomp"), "namespaces": ("namespaces",),
         "landlock+seccomp": ("landlock", "seccomp")}
AVAILABLE = {"namespaces": FOUND.namespaces != "none", "landlock": FOUND.landlock_abi > 0, "seccomp": FOUND.seccomp}


@dataclass
class Host:
    """What the attacks aim at."""

    canary: Path
    secret: str
    probe: str
    tcp: socket.socket
    abstract: socket.socket
    abstract_name: str

    def untouched(self) -> None:
        """Nothing was written outside, and no connection reached a listener."""
        assert not Path("/tmp", self.probe).exists() and not Path("/dev/shm", self.probe).exists()
        assert sorted(p.name for p in self.canary.parent.iterdir()) == [self.canary.name]
        for listener in (self.tcp, self.abstract):
            with pytest.raises(BlockingIOError):  # nothing waits in the accept queue
                listener.accept()


@pytest.fixture(scope="module")
def host():
    if not os.path.isdir("/var/tmp"):
        pytest.skip("no /var/tmp for the canary")
    # Not under /tmp: a snippet's own folder is /tmp in its root, and the guard rightly lets it look there.
    folder = Path(tempfile.mkdtemp(prefix="podium-canary-", dir="/var/tmp"))
    folder.chmod(0o755)  # world-readable on purpose: only the sandbox may stand between a snippet and it
    secret = f"CANARY-{uuid.uuid4().hex}"
    canary = folder / "canary.txt"
    canary.write_text(secret)
    canary.chmod(0o644)
    tcp = socket.create_server(("127.0.0.1", 0))
    abstract_name = f"\0podium-attack-{uuid.uuid4().hex}"
    abstract = socket.socket(socket.AF_UNIX)
    abstract.bind(abstract_name)
    abstract.listen()
    for listener in (tcp, abstract):
        listener.setblocking(False)
    yield Host(canary, secret, f"podium-probe-{uuid.uuid4().hex}", tcp, abstract, abstract_name)
    tcp.close()
    abstract.close()
    shutil.rmtree(folder)


PRELUDE = """import errno, json, os
def drain(fd):  # until the writer closes it: a failing child writes its error in pieces
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    return data
report = {}
def attempt(name, action):
    try:
        report[name] = ["ok", repr(action())[:300]]
    except OSError as exc:
        report[name] = [errno.errorcode.get(exc.errno, "guard") if exc.errno else "guard", str(exc)[:300]]
    except Exception as exc:
        report[name] = [type(exc).__name__, str(exc)[:300]]
"""
CTYPES = """def call(name, *args):
    import ctypes
    result = getattr(ctypes.CDLL(None, use_errno=True), name)(*args)
    if result < 0:
        raise OSError(ctypes.get_errno(), name)
    return result
"""
SHELL = "cat {canary}; echo x > /tmp/{probe}; echo x > /dev/shm/{probe}; echo x > {folder}/written"
ATTACKS = {
    "fork_exec": """import _posixsubprocess
def shell():
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = _posixsubprocess.fork_exec([b"/bin/sh", b"-c", {shell!r}.encode()], [b"/bin/sh"], True, (err_w,), None,
                                     None, -1, -1, -1, out_w, -1, out_w, err_r, err_w, True, False, -1, None, None,
                                     None, -1, None, False)
    os.close(out_w), os.close(err_w)
    failure = drain(err_r)
    os.waitpid(pid, 0)
    if failure:  # the child's exec failed: "OSError:<errno in hex>:..."
        raise OSError(int(failure.split(b":")[1], 16), failure.decode())
    return drain(out_r)
attempt("goal", shell)""",
    "posix_spawn": """def spawn():
    pid = os.posix_spawn("/bin/sh", ["sh", "-c", {shell!r}], {{}})
    return os.waitpid(pid, 0)
attempt("goal", spawn)""",
    "ctypes": CTYPES + """attempt("unshare", lambda: call("unshare", 0x10000000 | 0x20000))  # new user and mount ns
def read():
    import ctypes
    fd = call("open", {canary!r}.encode(), os.O_RDONLY)
    buffer = ctypes.create_string_buffer(200)
    return buffer.raw[:call("read", fd, buffer, 200)]
attempt("goal", read)""",
    "proc_self_root": """attempt("goal", lambda: open("/proc/self/root" + {canary!r}).read())
attempt("pid1", lambda: open("/proc/1/root" + {canary!r}).read())""",
    "symlink": """def follow():
    os.symlink({canary!r}, "link")
    return open("link").read()
attempt("goal", follow)
def write_through():
    os.symlink({folder!r}, "folder")
    return open("folder/written", "w").write("x")
attempt("write", write_through)""",
    "hard_link": """def link():
    os.link({canary!r}, "hard")
    return open("hard").read()
attempt("goal", link)""",
    "dev_shm": """attempt("goal", lambda: open("/dev/shm/{probe}", "w").write("x"))
def shared_memory():
    from multiprocessing import shared_memory
    return shared_memory.SharedMemory(name={probe!r}, create=True, size=64)
attempt("shm_open", shared_memory)""",
    "abstract_socket": """import socket
def connect():
    client = socket.socket(socket.AF_UNIX)
    client.connect({abstract!r})
    return client.send(b"hello")
attempt("goal", connect)""",
    "ptrace_parent": CTYPES + """attempt("goal", lambda: call("ptrace", 16, os.getppid(), None, None))  # PTRACE_ATTACH
attempt("mem", lambda: open(f"/proc/{{os.getppid()}}/mem", "rb").read(1))""",
    "tcp_localhost": """import socket
attempt("goal", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=2))""",
}
EXPECTED = {  # attack: {configuration: (the layer that stops it, the error the attack meets)}
    "fork_exec": {"guarded": ("seccomp", "EPERM"), "kernel": ("seccomp", "EPERM"),
                  "namespaces": ("mount-namespace", "ENOENT"), "landlock+seccomp": ("seccomp", "EPERM")},
    "posix_spawn": {"guarded": ("guard", "guard"), "kernel": ("seccomp", "EPERM"),
                    "namespaces": ("mount-namespace", "ENOENT"), "landlock+seccomp": ("seccomp", "EPERM")},
    "ctypes": {"guarded": ("guard", "guard"), "kernel": ("mount-namespace", "ENOENT"),
               "namespaces": ("mount-namespace", "ENOENT"), "landlock+seccomp": ("landlock", "EACCES")},
    "proc_self_root": {"guarded": ("guard", "guard"), "kernel": ("mount-namespace", "ENOENT"),
                       "namespaces": ("mount-namespace", "ENOENT"), "landlock+seccomp": ("landlock", "EACCES")},
    "symlink": {"guarded": ("guard", "guard"), "kernel": ("mount-namespace", "ENOENT"),
                "namespaces": ("mount-namespace", "ENOENT"), "landlock+seccomp": ("landlock", "EACCES")},
    "hard_link": {"guarded": ("guard", "guard"), "kernel": ("mount-namespace", "ENOENT"),
                  "namespaces": ("mount-namespace", "ENOENT"), "landlock+seccomp": ("landlock", "EXDEV")},
    "dev_shm": {"guarded": ("guard", "guard"), "kernel": ("mount-namespace", "ENOENT"),
                "namespaces": ("mount-namespace", "ENOENT"), "landlock+seccomp": ("landlock", "EACCES")},
    "abstract_socket": {"guarded": ("guard", "guard"), "kernel": ("seccomp", "EPERM"),
                        "namespaces": ("network-namespace", "ECONNREFUSED"), "landlock+seccomp": ("seccomp", "EPERM")},
    "ptrace_parent": {"guarded": ("guard", "guard"), "kernel": ("seccomp", "EPERM"),
                      "namespaces": ("nobody", "EPERM"), "landlock+seccomp": ("seccomp", "EPERM")},
    "tcp_localhost": {"guarded": ("guard", "guard"), "kernel": ("seccomp", "EPERM"),
                      "namespaces": ("network-namespace", "ENETUNREACH"), "landlock+seccomp": ("seccomp", "EPERM")},
}


def snippet(attack: str, host: Host) -> str:
    """The attack's code, aimed at this host's canary, probe files and listeners."""
    values = {"canary": str(host.canary), "folder": str(host.canary.parent), "probe": host.probe,
              "abstract": host.abstract_name, "port": host.tcp.getsockname()[1]}
    values["shell"] = SHELL.format(**values)
    return PRELUDE + ATTACKS[attack].format(**values) + "\nprint(json.dumps(report))"


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_the_attack_fails_and_the_expected_layer_stops_it(host, attack, config):
    missing = [layer for layer in NEEDS[config] if not AVAILABLE[layer]]
    if missing:
        pytest.skip(f"this machine lacks {', '.join(missing)}")
    result = Sandbox(LIMITS, **CONFIGS[config]).run(snippet(attack, host))
    assert host.secret not in result.stdout + result.stderr, f"{attack} read the canary under {config}"
    host.untouched()
    layer, error = EXPECTED[attack][config]
    assert result.ok, (result.message, result.stderr)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["goal"][0] == error, f"{attack} under {config}: expected {layer} ({error}), got {report}"
    assert layer == "guard" or layer in result.isolation
    for step, (outcome, detail) in report.items():  # side steps fail too, or lead nowhere (checked above)
        assert outcome != "ok" or (attack, step, config) == ("ctypes", "unshare", "namespaces"), (step, detail)


def test_the_issue_reproduction_prints_nothing_from_the_host_and_leaves_nothing(host):
    probe_name = f"podium-probe-{uuid.uuid4().hex}"
    code = f"""import _posixsubprocess, os
out_r, out_w = os.pipe()
err_r, err_w = os.pipe()
args = [b"/bin/sh", b"-c", b"id; ls /; echo x > /tmp/{probe_name}; echo x > /dev/shm/{probe_name}"]
pid = _posixsubprocess.fork_exec(args, [b"/bin/sh"], True, (err_w,), None, None, -1, -1, -1, out_w, -1, out_w,
                                 err_r, err_w, True, False, -1, None, None, None, -1, None, False)
os.close(out_w), os.close(err_w)
error = b""
while chunk := os.read(err_r, 1000):  # until the child closes it: a failing child writes its error in pieces
    error += chunk
print(error)
os.waitpid(pid, 0)
print(os.read(out_r, 100000).decode())"""
    if not all(AVAILABLE.values()):
        pytest.skip("this machine lacks a kernel layer")
    result = Sandbox().run(code)
    assert result.ok and result.stdout.startswith("b'OSError:1:")  # execve: EPERM from the seccomp filter
    assert "uid=" not in result.stdout and "boot" not in result.stdout and "home" not in result.stdout
    assert not Path("/tmp", probe_name).exists() and not Path("/dev/shm", probe_name).exists()
    assert {"mount-namespace", "seccomp", "landlock"} <= set(result.isolation)
