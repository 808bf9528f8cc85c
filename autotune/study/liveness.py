"""Which process runs a trial, and whether that process is gone.

A trial records the process that runs it: its host and pid, where that pid means something (the
machine's boot and its PID namespace: two containers on one host share a hostname, not their
pids) and when the process started (a pid is reused). A process that reads the same boot and
namespace tells at once whether the trial's process is gone; anywhere else only the trial's
heartbeat can (autotune.study.storage).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["is_gone", "process_identity"]


@cache
def _pid_space() -> str | None:
    """This machine's boot and this process's PID namespace, or None where /proc cannot say."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return None


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks after boot), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses; starttime is field 22
    return stat[stat.rindex(")") + 2 :].split()[19]


def process_identity() -> dict[str, Any]:
    """What a trial records of the process that runs it (its user attributes)."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "pid_space": _pid_space(),
        "pid_started": _started(os.getpid()),
    }


def is_gone(attrs: Mapping[str, Any]) -> bool:
    """Whether the process recorded in a running trial's ``attrs`` is certainly gone: it ran in
    this boot and PID namespace, and its pid is free or now another process's. This process's
    own pid counts as gone: the study loop asks it between trials, when it runs none."""
    space, pid = attrs.get("pid_space"), attrs.get("pid")
    if space is None or space != _pid_space() or not isinstance(pid, int):
        return False  # another machine or container, or a trial recorded before pid spaces
    if pid == os.getpid():
        return True
    started = _started(pid)
    return started is None or started != attrs.get("pid_started")
