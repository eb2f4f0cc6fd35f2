"""The sandbox's kernel layers, applied to the calling process (standard library and ctypes only).

- :func:`landlock`: the process may read only the listed folders and files, write only
  in the listed ones, make no TCP connection or bind (ABI 4+), and neither reach
  abstract Unix sockets nor signal processes outside its domain (ABI 6+).
- :func:`seccomp`: a BPF filter refusing ``execve``, ``ptrace``, new sockets (connected
  pairs excepted), new namespaces, mounts, io_uring, BPF, keyrings and the like.
- :func:`no_new_privileges` and :func:`drop_capabilities`.

Every function raises ``OSError`` when the kernel refuses, so the caller can fail closed.
The sandbox's boot script imports this module by file name, before its root is pivoted.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

ARCH = os.uname().machine
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}.get(ARCH)
"""The architecture tag seccomp sees; ``None`` where this module has no syscall table."""
_NR = {  # x86_64, aarch64 (the generic table)
    "capset": (126, 91), "landlock_create_ruleset": (444, 444), "landlock_add_rule": (445, 445),
    "landlock_restrict_self": (446, 446), "execve": (59, 221), "execveat": (322, 281), "ptrace": (101, 117),
    "process_vm_readv": (310, 270), "process_vm_writev": (311, 271), "pidfd_getfd": (438, 438),
    "socket": (41, 198), "socketpair": (53, 199), "clone": (56, 220), "clone3": (435, 435),
    "unshare": (272, 97), "setns": (308, 268), "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41),
    "chroot": (161, 51), "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430),
    "fsconfig": (431, 431), "fsmount": (432, 432), "fspick": (433, 433), "mount_setattr": (442, 442),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282), "keyctl": (250, 219),
    "add_key": (248, 217), "request_key": (249, 218), "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264), "kexec_load": (246, 104), "kexec_file_load": (320, 294),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106), "reboot": (169, 142),
    "swapon": (167, 224), "swapoff": (168, 225), "acct": (163, 89), "quotactl": (179, 60), "syslog": (103, 116),
    "sethostname": (170, 161), "setdomainname": (171, 162), "setsid": (112, 157), "setpgid": (109, 154),
}
DENIED = ("execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "socket",
          "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen",
          "fsconfig", "fsmount", "fspick", "mount_setattr", "io_uring_setup", "io_uring_enter",
          "io_uring_register", "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
          "open_by_handle_at", "name_to_handle_at", "kexec_load", "kexec_file_load", "init_module",
          "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct", "quotactl", "syslog",
          "sethostname", "setdomainname", "setsid", "setpgid")
"""Syscalls the filter answers with EPERM. ``setsid``/``setpgid``: a snippet's processes stay in the
group the supervisor kills; ``socket``: only ``socketpair(AF_UNIX)`` remains (asyncio needs it)."""


def _nr(name: str) -> int:
    return _NR[name][0 if ARCH == "x86_64" else 1]


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, PR_GET_SECCOMP = 38, 22, 21


def no_new_privileges() -> None:
    """No set-uid bit or file capability can raise this process's privileges again (inherited by children)."""
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def drop_capabilities() -> None:
    """Empty the effective, permitted and inheritable capability sets (for root in a user namespace)."""
    header = struct.pack("=Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = ctypes.create_string_buffer(24)  # two all-zero {effective, permitted, inheritable} words
    _check(_libc.syscall(ctypes.c_long(_nr("capset")), ctypes.c_char_p(header), data), "capset")


# Landlock ----------------------------------------------------------------------------------------------------
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_WRITE_DIR = sum(1 << bit for bit in (4, 5, 7, 8, 9, 10, 12))  # remove dir/file, make dir/reg/sock/fifo/sym
FS_MAKE_DEVICES = (1 << 6) | (1 << 11)
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
"""The only rights a rule on a file (not a folder) may carry."""
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, or 0 where Landlock is missing or disabled."""
    if AUDIT_ARCH is None:
        return 0
    version = _libc.syscall(ctypes.c_long(_nr("landlock_create_ruleset")), None, ctypes.c_size_t(0),
                            ctypes.c_uint32(1))  # LANDLOCK_CREATE_RULESET_VERSION
    return max(int(version), 0)


def _fs_rights(abi: int) -> int:
    rights = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_READ_DIR | FS_WRITE_DIR | FS_MAKE_DEVICES
    return rights | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0) | (
        FS_IOCTL_DEV if abi >= 5 else 0)


def landlock(read: list[str], write: list[str], devices: list[str], abi: int) -> None:
    """Restrict this process (and its future children) to reading ``read``, everything but executing in
    ``write``, reading and writing the device files ``devices``; no TCP, no outside signals or
    abstract sockets where the ABI has them. Paths that do not exist are skipped."""
    handled = _fs_rights(abi)
    attr = struct.pack("=QQQ", handled, (NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0,
                       (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = _check(_libc.syscall(ctypes.c_long(_nr("landlock_create_ruleset")), ctypes.c_char_p(attr),
                                   ctypes.c_size_t(size), ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        for paths, rights in ((read, FS_READ_FILE | FS_READ_DIR),
                              (write, handled & ~(FS_EXECUTE | FS_MAKE_DEVICES | FS_IOCTL_DEV)),
                              (devices, FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE | FS_IOCTL_DEV)):
            for path in paths:
                _allow(ruleset, path, rights & handled)
        no_new_privileges()
        _check(_libc.syscall(ctypes.c_long(_nr("landlock_restrict_self")), ctypes.c_int(ruleset),
                             ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(ruleset)


def _allow(ruleset: int, path: str, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        rule = struct.pack("=Qi", rights, fd)  # struct landlock_path_beneath_attr is packed
        _check(_libc.syscall(ctypes.c_long(_nr("landlock_add_rule")), ctypes.c_int(ruleset), ctypes.c_int(1),
                             ctypes.c_char_p(rule), ctypes.c_uint32(0)), f"landlock_add_rule({path})")
    finally:
        os.close(fd)


# seccomp -----------------------------------------------------------------------------------------------------
_LD_W_ABS, _JEQ, _JSET, _JGE, _RET = 0x20, 0x15, 0x45, 0x35, 0x06
RET_ALLOW, RET_KILL_PROCESS, RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
CLONE_NAMESPACES = 0x7E020080  # NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
AF_UNIX = 1


def seccomp_supported() -> bool:
    """Whether this kernel filters syscalls and this module knows the architecture's numbers."""
    return AUDIT_ARCH is not None and _libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0


def _stmt(code: int, k: int) -> tuple[int, int, int, int]:
    return (code, 0, 0, k)


def _jump(code: int, k: int, jt: int, jf: int) -> tuple[int, int, int, int]:
    return (code, jt, jf, k)


def seccomp_program() -> list[tuple[int, int, int, int]]:
    """The filter as classic BPF instructions ``(code, jt, jf, k)``."""
    if AUDIT_ARCH is None:
        raise OSError(errno.ENOSYS, f"seccomp: no syscall table for {ARCH}")
    eperm = RET_ERRNO | errno.EPERM
    program = [_stmt(_LD_W_ABS, 4), _jump(_JEQ, AUDIT_ARCH, 1, 0), _stmt(_RET, RET_KILL_PROCESS),
               _stmt(_LD_W_ABS, 0)]
    if ARCH == "x86_64":  # the x32 ABI reaches the same kernel code under other numbers
        program += [_jump(_JGE, 0x40000000, 0, 1), _stmt(_RET, RET_KILL_PROCESS)]
    for name in DENIED:
        program += [_jump(_JEQ, _nr(name), 0, 1), _stmt(_RET, eperm)]
    # clone3 hides its flags behind a pointer: ENOSYS makes glibc fall back to clone, whose flags are checked.
    program += [_jump(_JEQ, _nr("clone3"), 0, 1), _stmt(_RET, RET_ERRNO | errno.ENOSYS)]
    program += [_jump(_JEQ, _nr("clone"), 0, 4), _stmt(_LD_W_ABS, 16), _jump(_JSET, CLONE_NAMESPACES, 0, 1),
                _stmt(_RET, eperm), _stmt(_RET, RET_ALLOW)]
    program += [_jump(_JEQ, _nr("socketpair"), 0, 4), _stmt(_LD_W_ABS, 16), _jump(_JEQ, AF_UNIX, 1, 0),
                _stmt(_RET, eperm), _stmt(_RET, RET_ALLOW)]
    return [*program, _stmt(_RET, RET_ALLOW)]


def seccomp() -> None:
    """Install :func:`seccomp_program` on this process (and its future children); sets no-new-privileges."""
    program = seccomp_program()
    filters = b"".join(struct.pack("=HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(filters, len(filters))
    fprog = ctypes.create_string_buffer(struct.pack("@HP", len(program), ctypes.addressof(buffer)))  # sock_fprog
    no_new_privileges()
    _check(_libc.prctl(PR_SET_SECCOMP, 2, ctypes.addressof(fprog), 0, 0), "prctl(PR_SET_SECCOMP)")
