"""The process tree of one ansible-playbook run, as the lock's renewer needs it: which
process is the run, is it still alive (pid *and* start time, so a reused pid does not
count), and which processes it started (its Ansible workers and their helm/kubectl
children run in sessions of their own, so a signal to the run does not reach them
when the run itself is SIGKILLed)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass

PROC = "/proc"


@dataclass(frozen=True)
class Proc:
    pid: int
    start: str  # start time in clock ticks since boot (Linux), or ps' lstart

    def alive(self) -> bool:
        info = _stat(self.pid)
        return info is not None and info[1] == self.start


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of `pid`, None when it does not exist."""
    if os.path.isdir(PROC):
        try:
            with open(f"{PROC}/{pid}/stat", encoding="ascii", errors="replace") as handle:
                raw = handle.read()
        except OSError:
            return None
        # The command name is in parentheses and may itself hold spaces or ")".
        fields = raw[raw.rindex(")") + 2 :].split()
        if fields[0] == "Z":  # a zombie has ended; only its parent has not reaped it
            return None
        return int(fields[1]), fields[19]
    try:
        # Without /proc (macOS): ps, with fixed arguments.
        out = subprocess.run(  # noqa: S603
            ["ps", "-o", "ppid=,lstart=", "-p", str(pid)],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not out:
        return None
    ppid, _, start = out.partition(" ")
    return int(ppid), start.strip()


def cmdline(pid: int) -> list[str]:
    return _cmdline(pid)


def _cmdline(pid: int) -> list[str]:
    if os.path.isdir(PROC):
        try:
            with open(f"{PROC}/{pid}/cmdline", "rb") as handle:
                return [a.decode(errors="replace") for a in handle.read().split(b"\0") if a]
        except OSError:
            return []
    out = subprocess.run(  # noqa: S603
        ["ps", "-o", "command=", "-p", str(pid)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return out.split()


def proc(pid: int) -> Proc | None:
    info = _stat(pid)
    return Proc(pid, info[1]) if info else None


def _is_playbook(pid: int) -> bool:
    return any(os.path.basename(arg) == "ansible-playbook" for arg in _cmdline(pid)[:3])


def run_process(start_pid: int | None = None) -> Proc | None:
    """The ansible-playbook process this module runs under. Ansible's workers are
    forks of it with the same command line, so it is the outermost of the chain of
    ancestors that run ansible-playbook."""
    pid = start_pid or os.getpid()
    found: int | None = None
    seen = 0
    while pid > 1 and seen < 64:
        seen += 1
        if _is_playbook(pid):
            found = pid
        elif found is not None:
            break
        info = _stat(pid)
        if info is None:
            break
        pid = info[0]
    return proc(found) if found else None


def _children_map() -> dict[int, list[Proc]]:
    children: dict[int, list[Proc]] = {}
    if not os.path.isdir(PROC):
        return children
    for entry in os.listdir(PROC):
        if not entry.isdigit():
            continue
        info = _stat(int(entry))
        if info is not None:
            children.setdefault(info[0], []).append(Proc(int(entry), info[1]))
    return children


def descendants(roots: list[Proc]) -> set[Proc]:
    """Every living process below `roots` (not the roots themselves)."""
    children = _children_map()
    found: set[Proc] = set()
    todo = [r.pid for r in roots]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found and child.pid != os.getpid():
                found.add(child)
                todo.append(child.pid)
    return found


def private_fds(pid: int) -> set[str]:
    """Pipes, sockets and deleted files `pid` holds beyond stdin/stdout/stderr and
    beyond what its parent holds too (a make jobserver pipe, say): the queues and lock
    file an ansible-playbook run creates itself, which only its forks inherit."""
    found = _fd_targets(pid)
    info = _stat(pid)
    return found - _fd_targets(info[0]) if info else found


def _fd_targets(pid: int) -> set[str]:
    found: set[str] = set()
    try:
        fds = os.listdir(f"{PROC}/{pid}/fd")
    except OSError:
        return found
    for fd in fds:
        if fd in ("0", "1", "2"):
            continue
        try:
            target = os.readlink(f"{PROC}/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(("pipe:", "socket:")) or target.endswith("(deleted)"):
            found.add(target)
    return found


def forks_of(cmdline: list[str], fds: set[str]) -> set[Proc]:
    """Living processes with this command line that hold one of these private fds: the
    Ansible workers of a run whose main process is gone (they were forked from it, so
    they share its command line and its queues; another run shares neither)."""
    found: set[Proc] = set()
    if not fds or not os.path.isdir(PROC):
        return found
    for entry in os.listdir(PROC):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        if _cmdline(pid) != cmdline:
            continue
        if _fd_targets(pid) & fds:
            p = proc(pid)
            if p is not None:
                found.add(p)
    return found


def end_processes(procs: set[Proc], grace: float = 5.0) -> int:
    """SIGTERM these processes (an Ansible worker passes it on to its process group:
    helm marks its release failed instead of leaving it pending), then SIGKILL what
    is left after `grace` seconds, including anything they started meanwhile.
    Returns how many processes were signalled."""
    living = {p for p in procs if p.alive()}
    for p in living:
        _signal(p, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not any(p.alive() for p in living):
            return len(living)
        time.sleep(0.2)
    left = {p for p in living if p.alive()}
    left |= descendants(list(left))
    for p in left:
        _signal(p, signal.SIGKILL)
    return len(living | left)


def _signal(p: Proc, signum: int) -> None:
    if p.alive():
        with contextlib.suppress(OSError):
            os.kill(p.pid, signum)
