"""The deploy lock renewer's view of a run (plugins/module_utils/zdk_process.py), on real
processes: a stand-in `ansible-playbook` forks a worker that calls setsid() (as Ansible's
workers do) and keeps the run's queue pipe open. After the run is SIGKILLed the orphaned
worker must still be found and stopped; a process that only shares a pipe the run
inherited from its parent (a make jobserver) must never be taken for part of the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import load_plugin

processes = load_plugin("module_utils/zdk_process.py")

RUN = textwrap.dedent(
    """
    import os, sys, time
    queue_r, queue_w = os.pipe()  # the run's own queue: only its forks hold it
    if os.fork() == 0:
        os.setsid()  # an Ansible worker: a session of its own
        time.sleep(120)
        os._exit(0)
    print("ready", flush=True)
    time.sleep(120)
    """
)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    script = tmp_path / "ansible-playbook"
    script.write_text(RUN)
    # A pipe the run inherits from its parent (like make's jobserver fds).
    inherited_r, inherited_w = os.pipe()
    started = subprocess.Popen(
        [sys.executable, str(script), "deploy.yml"],
        stdout=subprocess.PIPE,
        text=True,
        pass_fds=(inherited_r, inherited_w),
    )
    assert started.stdout is not None
    assert started.stdout.readline().strip() == "ready"
    try:
        yield started
    finally:
        started.kill()
        started.wait()
        for entry in Path("/proc").iterdir():  # an orphaned worker a failed test left
            if entry.name.isdigit() and processes.cmdline(int(entry.name))[1:2] == [str(script)]:
                os.kill(int(entry.name), signal.SIGKILL)
        os.close(inherited_r)
        os.close(inherited_w)


def workers_of(run: subprocess.Popen[str]) -> set[int]:
    return {p.pid for p in processes.descendants([processes.proc(run.pid)]) if p.pid != run.pid}


def test_the_run_is_the_outermost_ansible_playbook_process(run: subprocess.Popen[str]) -> None:
    (worker,) = workers_of(run)
    found = processes.run_process(worker)
    assert found is not None
    assert found.pid == run.pid
    assert found.alive()


def test_private_fds_leave_out_what_the_parent_holds_too(run: subprocess.Popen[str]) -> None:
    private = processes.private_fds(run.pid)
    assert len(private) == 1, private  # the run's own pipe (both ends are one pipe)
    assert next(iter(private)).startswith("pipe:")
    mine = processes._fd_targets(os.getpid())
    assert not private & mine, "fds shared with the parent are not the run's"


def test_a_killed_runs_orphaned_worker_is_found_and_stopped(run: subprocess.Popen[str]) -> None:
    (worker,) = workers_of(run)
    run_proc = processes.proc(run.pid)
    command = processes.cmdline(run.pid)
    fds = processes.private_fds(run.pid)

    run.kill()
    run.wait()
    assert not run_proc.alive()
    assert worker in {p.pid for p in processes.forks_of(command, fds)}, "orphan not found"
    # The test process shares the inherited pipe with the run but is not part of it.
    assert os.getpid() not in {p.pid for p in processes.forks_of(command, fds)}

    stopped = processes.end_processes(processes.forks_of(command, fds), grace=2)
    assert stopped == 1
    deadline = time.monotonic() + 5
    while processes.proc(worker) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes.proc(worker) is None, "the orphaned worker must be gone"


def test_a_reused_pid_is_not_the_same_process(run: subprocess.Popen[str]) -> None:
    same = processes.proc(run.pid)
    assert same.alive()
    assert not processes.Proc(run.pid, "0").alive(), "another start time is another process"
