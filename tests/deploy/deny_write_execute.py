"""Run Python code under the rule of systemd's ``MemoryDenyWriteExecute=yes`` (x86_64 Linux).

Usage: ``python deny_write_execute.py -c CODE`` or ``python deny_write_execute.py -m MODULE
ARGS...``. Installs the seccomp filter systemd (252) installs for that setting, checks that
it bites, then runs the code; child processes inherit the filter.

The rule (systemd's ``seccomp_memory_deny_write_execute``): ``mmap`` with both PROT_WRITE
and PROT_EXEC, ``mprotect``/``pkey_mprotect`` with PROT_EXEC, and ``shmat`` with SHM_EXEC
fail with EPERM. Newer systemd may use the kernel's PR_SET_MDWE instead, which refuses less
(it allows mprotect(PROT_EXEC) on a mapping that was executable already): code that runs
here runs there.
"""

from __future__ import annotations

import ctypes
import runpy
import struct
import sys

_LD_W_ABS, _JEQ_K, _AND_K, _RET_K = 0x20, 0x15, 0x54, 0x06
_ALLOW, _EPERM = 0x7FFF0000, 0x00050000 | 1
_AUDIT_ARCH_X86_64 = 0xC000003E
_MMAP, _MPROTECT, _SHMAT, _PKEY_MPROTECT = 9, 10, 30, 329
_PROT_WRITE, _PROT_EXEC, _SHM_EXEC = 2, 4, 0o100000
_NR, _ARCH, _ARG2 = 0, 4, 32  # offsets in struct seccomp_data (args[2], low 32 bits)


def _program() -> list[tuple[int, int, int, int]]:
    """The BPF program; jumps are relative (target = index + 1 + offset)."""
    deny, allow = 17, 18

    def jump(at: int, value: int, yes: int, no: int) -> tuple[int, int, int, int]:
        return (_JEQ_K, yes - at - 1, no - at - 1, value)

    return [
        (_LD_W_ABS, 0, 0, _ARCH),                                  # 0
        jump(1, _AUDIT_ARCH_X86_64, 2, allow),                     # 1
        (_LD_W_ABS, 0, 0, _NR),                                    # 2
        jump(3, _MMAP, 8, 4),                                      # 3
        jump(4, _MPROTECT, 11, 5),                                 # 4
        jump(5, _PKEY_MPROTECT, 11, 6),                            # 5
        jump(6, _SHMAT, 14, 7),                                    # 6
        (_RET_K, 0, 0, _ALLOW),                                    # 7
        (_LD_W_ABS, 0, 0, _ARG2),                                  # 8  mmap: W and X
        (_AND_K, 0, 0, _PROT_WRITE | _PROT_EXEC),                  # 9
        jump(10, _PROT_WRITE | _PROT_EXEC, deny, allow),           # 10
        (_LD_W_ABS, 0, 0, _ARG2),                                  # 11 mprotect: X
        (_AND_K, 0, 0, _PROT_EXEC),                                # 12
        jump(13, _PROT_EXEC, deny, allow),                         # 13
        (_LD_W_ABS, 0, 0, _ARG2),                                  # 14 shmat: SHM_EXEC
        (_AND_K, 0, 0, _SHM_EXEC),                                 # 15
        jump(16, _SHM_EXEC, deny, allow),                          # 16
        (_RET_K, 0, 0, _EPERM),                                    # 17 deny
        (_RET_K, 0, 0, _ALLOW),                                    # 18 allow
    ]


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install() -> None:
    program = _program()
    code = b"".join(struct.pack("HBBI", *op) for op in program)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = _Fprog(len(program), ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, FILTER
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")
    # it bites: a writable and executable mapping is refused, a writable one is not
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    failed = ctypes.c_void_p(-1).value
    private_anonymous = 0x22
    if libc.mmap(None, 4096, 1 | _PROT_WRITE | _PROT_EXEC, private_anonymous, -1, 0) != failed:
        raise RuntimeError("the filter did not refuse a writable and executable mapping")
    if libc.mmap(None, 4096, 1 | _PROT_WRITE, private_anonymous, -1, 0) == failed:
        raise RuntimeError("the filter refused a plain writable mapping")
    print("deny-write-execute: active", file=sys.stderr)


def main(argv: list[str]) -> None:
    install()
    if argv[:1] == ["-c"]:
        sys.argv = ["-c", *argv[2:]]
        exec(compile(argv[1], "<deny-write-execute>", "exec"), {"__name__": "__main__"})
    elif argv[:1] == ["-m"]:
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        raise SystemExit("usage: deny_write_execute.py -c CODE | -m MODULE [ARGS...]")


if __name__ == "__main__":
    main(sys.argv[1:])
