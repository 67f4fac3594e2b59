"""The play strategy (plugins/strategy/zdk_linear.py): Mitogen's module runner when the
package is installed, stock `linear` without it, and no deprecation beyond its own."""

from __future__ import annotations

import gc
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .conftest import REPO, RunAnsible, load_plugin

STRATEGY = REPO / "plugins" / "strategy" / "zdk_linear.py"


def _strategy_class(hide_mitogen: bool) -> str:
    """The class zdk_linear.py defines, imported in a fresh interpreter."""
    code = (
        ("import sys; sys.modules['ansible_mitogen'] = None\n" if hide_mitogen else "")
        + "import importlib.util\n"
        + f"spec = importlib.util.spec_from_file_location('zdk_linear', {str(STRATEGY)!r})\n"
        + "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        + "print(*[c.__module__ for c in module.StrategyModule.__mro__])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_mitogen_runs_the_modules_when_installed() -> None:
    assert "ansible_mitogen.strategy" in _strategy_class(hide_mitogen=False)


def test_without_mitogen_it_is_stock_linear() -> None:
    classes = _strategy_class(hide_mitogen=True).split()
    assert "ansible.plugins.strategy.linear" in classes
    assert not any(c.startswith("ansible_mitogen") for c in classes)


def test_in_process_runs_only_where_the_executor_is_known(monkeypatch: pytest.MonkeyPatch) -> None:
    """ansible-core 2.21's executor and task context (Python >= 3.12); the 2.19 line of the
    Python 3.11 venv shapes its worker differently and forks every task."""
    from ansible.release import __version__ as ansible_core

    strategy = load_plugin("strategy/zdk_linear.py")
    assert strategy.InProcessMixin in strategy.StrategyModule.__mro__
    current = tuple(int(part) for part in ansible_core.split(".")[:2]) >= (2, 21)
    assert (strategy._in_process_runner() is not None) == current
    monkeypatch.setenv("ZDK_IN_PROCESS", "0")
    assert strategy._in_process_runner() is None


def test_the_controller_heap_is_frozen_before_each_worker_fork() -> None:
    """A worker's full collections then skip what it inherited (PreForkMixin)."""
    strategy = load_plugin("strategy/zdk_linear.py")

    class Linear:
        def _queue_task(self, *args: object) -> int:
            return gc.get_freeze_count()

    pre_fork: type = strategy.PreForkMixin
    Strategy = type("Strategy", (pre_fork, Linear), {})

    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        assert Strategy()._queue_task("host", "task", {}, None) > 0
    finally:
        gc.unfreeze()
    assert strategy.PreForkMixin in strategy.StrategyModule.__mro__


# Two hosts run each task from the same task object, each with its own variables.
TWO_HOSTS = "one ansible_connection=local\ntwo ansible_connection=local\n"
WHO_TEMPLATES = """
- name: Template in the controller or in workers
  hosts: all
  gather_facts: false
  tasks:
    - name: Note the host and who templates
      ansible.builtin.set_fact:
        mine: "{{ inventory_hostname }}"
        by: "{{ lookup('ansible.builtin.pipe', 'echo $PPID') }}"
    - name: Note who templates the next task
      ansible.builtin.set_fact:
        again: "{{ lookup('ansible.builtin.pipe', 'echo $PPID') }}"
    - name: Say what each host holds
      ansible.builtin.debug:
        msg: "{{ inventory_hostname }} mine={{ mine }} by={{ by }} again={{ again }}"
"""


def _who_templates(
    run_playbook: RunAnsible, tmp_path: Path, **env: str
) -> dict[str, tuple[str, str, str]]:
    (tmp_path / "hosts.ini").write_text(TWO_HOSTS)
    (tmp_path / "who.yml").write_text(WHO_TEMPLATES)
    result = run_playbook(
        "-i", str(tmp_path / "hosts.ini"), str(tmp_path / "who.yml"), ZDK_OUTPUT="full", **env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found = re.findall(r"msg: (\w+) mine=(\w+) by=(\d+) again=(\d+)", result.stdout)
    return {host: (mine, by, again) for host, mine, by, again in found}


def test_controller_only_tasks_run_in_the_controller_each_on_its_own_copy(
    run_playbook: RunAnsible, tmp_path: Path
) -> None:
    """InProcessMixin: set_fact and debug are templated by the controller itself (the same
    process for every task), and the task object both hosts share is not templated in
    place: each host keeps its own value."""
    seen = _who_templates(run_playbook, tmp_path)
    assert {host: mine for host, (mine, _, _) in seen.items()} == {"one": "one", "two": "two"}
    assert len({pid for _, by, again in seen.values() for pid in (by, again)}) == 1, seen


def test_with_in_process_off_every_task_forks_a_worker(
    run_playbook: RunAnsible, tmp_path: Path
) -> None:
    """The control: ZDK_IN_PROCESS=0 (docs/runbooks/deploy.md) gives each task a worker."""
    seen = _who_templates(run_playbook, tmp_path, ZDK_IN_PROCESS="0")
    assert {host: mine for host, (mine, _, _) in seen.items()} == {"one": "one", "two": "two"}
    assert len({pid for _, by, again in seen.values() for pid in (by, again)}) == 4, seen


def test_a_task_run_in_the_controller_costs_the_same_in_a_long_play(
    run_playbook: RunAnsible, tmp_path: Path
) -> None:
    """Its copy leaves out the tasks of its blocks: a copy of the whole block made each
    task cost more the longer the play (these 800 tasks took 39 s that way, 3 s now)."""
    facts = "".join(
        f"    - name: Set fact {n}\n      ansible.builtin.set_fact:\n        x{n % 10}: {n}\n"
        for n in range(800)
    )
    (tmp_path / "long.yml").write_text(
        f"- name: A long play\n  hosts: localhost\n  gather_facts: false\n  tasks:\n{facts}"
    )
    started = time.monotonic()
    result = run_playbook(str(tmp_path / "long.yml"), ZDK_OUTPUT="", timeout=180)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert took < 20, f"800 set_fact tasks took {took:.1f}s"


def test_failures_of_controller_only_tasks_are_ansibles_own(
    run_playbook: RunAnsible, tmp_path: Path
) -> None:
    """A failed assert or fail is rescued, an undefined variable fails the task with
    Ansible's message, and a no_log result stays hidden, as in a worker."""
    (tmp_path / "fails.yml").write_text(
        textwrap.dedent(
            """
            - name: Fail in the controller
              hosts: localhost
              gather_facts: false
              tasks:
                - name: Fail and rescue
                  block:
                    - name: Assert something false
                      ansible.builtin.assert:
                        that: [1 == 2]
                        fail_msg: the assertion failed
                  rescue:
                    - name: Keep the reason
                      ansible.builtin.set_fact:
                        reason: "{{ ansible_failed_result.msg }}"
                - name: Hide a secret
                  ansible.builtin.set_fact:
                    secret: s3cr3t-value
                  no_log: true
                - name: Say the reason
                  ansible.builtin.debug:
                    msg: "rescued: {{ reason }}"
                - name: Use an undefined variable
                  ansible.builtin.set_fact:
                    broken: "{{ no_such_variable }}"
            """
        )
    )
    result = run_playbook(str(tmp_path / "fails.yml"), ZDK_OUTPUT="full")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "rescued: the assertion failed" in result.stdout
    assert "no_such_variable" in result.stdout + result.stderr
    assert "s3cr3t-value" not in result.stdout + result.stderr


def test_the_filter_and_test_plugins_are_loaded_before_the_first_worker_fork() -> None:
    """Each worker then inherits them instead of loading every plugin file again."""
    strategy = load_plugin("strategy/zdk_linear.py")
    from ansible.plugins.loader import filter_loader, test_loader

    for loader in (filter_loader, test_loader):
        loader._cached_non_collection_wrappers.clear()
    loaded_in_parent = []

    class Linear:
        def _queue_task(self, *args: object) -> None:
            loaded_in_parent.append(
                bool(filter_loader._cached_non_collection_wrappers)
                and bool(test_loader._cached_non_collection_wrappers)
            )

    Strategy = type("Strategy", (strategy.PreForkMixin, Linear), {})
    try:
        Strategy()._queue_task("host", "task", {}, None)
    finally:
        gc.unfreeze()
    assert loaded_in_parent == [True]


def test_no_deprecation_but_the_strategys(run_playbook: RunAnsible) -> None:
    result = run_playbook(
        "deploy.yml", "-e", "version=v1.2.3", ANSIBLE_DEPRECATION_WARNINGS="true", ZDK_OUTPUT=""
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr
    deprecations = re.findall(r"\[DEPRECATION WARNING\]: (.*)", output)
    assert all("strategy plugins" in line for line in deprecations), deprecations
    # Off by default (ansible.cfg): the operator's screen holds no warning at all.
    quiet = run_playbook("deploy.yml", "-e", "version=v1.2.3", ZDK_OUTPUT="")
    assert "WARNING" not in quiet.stdout + quiet.stderr, quiet.stderr


def test_the_stock_strategy_still_deploys_the_same_playbooks(run_playbook: RunAnsible) -> None:
    """ANSIBLE_STRATEGY=linear (docs/runbooks/deploy.md) gives the same refusal."""
    result = run_playbook(
        "deploy.yml", "-e", "version=v1.2.3", ANSIBLE_STRATEGY="linear", ZDK_OUTPUT=""
    )
    assert result.returncode != 0
    last = result.stdout.splitlines()[-1]
    assert last.startswith('FAILED: invalid version "v1.2.3"'), result.stdout


def _forks(module_path: str, wrap_async: bool = False, isolation: str = "") -> bool:
    """Whether Mitogen (as zdk_linear.py sets it up) forks a child for one module call."""
    code = (
        "import importlib.util, types\n"
        + f"spec = importlib.util.spec_from_file_location('zdk_linear', {str(STRATEGY)!r})\n"
        + "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        + "import ansible_mitogen.planner as planner\n"
        + "plan = planner.NewStylePlanner.__new__(planner.NewStylePlanner)\n"
        + f"task_vars = {{'mitogen_task_isolation': {isolation!r}}} if {isolation!r} else {{}}\n"
        + "plan._inv = types.SimpleNamespace(\n"
        + f"    module_path={module_path!r}, module_name='m', wrap_async={wrap_async!r},\n"
        + "    task_vars=task_vars)\n"
        + "plan.get_module_map = lambda: {'custom': ['ansible.module_utils.zdk_kube']}\n"
        + "print(plan.should_fork())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


def test_the_kits_modules_run_in_the_warm_interpreter() -> None:
    """Mitogen forks a clean child for every module with custom module_utils (the kit's
    all import zdk_kube), which imports the kubernetes client again: 0.5 s a call."""
    kit_module = str(REPO / "plugins" / "modules" / "zdk_ledger.py")
    assert not _forks(kit_module)
    # The lock's renewer is an async task: it must outlive the call, so it still forks.
    assert _forks(kit_module, wrap_async=True)
    assert _forks(kit_module, isolation="fork")
    # Anyone else's module with custom module_utils keeps Mitogen's own rule.
    assert _forks("/elsewhere/library/their_module.py")
