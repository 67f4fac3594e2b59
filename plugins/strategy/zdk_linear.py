"""Ansible's `linear` strategy, run by Mitogen when it is installed (requirements-dev.txt).

Why: a deploy is ~60 module calls on one host. Stock Ansible starts a new Python for each
one and loads the kubernetes client again every time (0.2 s for `command`, 0.6 s for a
`kubernetes.core` read); Mitogen runs them in one warm interpreter (0.05 s and 0.1 s), which
took a deploy from 45 s to 31 s. Task semantics are Ansible's own: the same tasks, the same
order, the same results. The kit's own modules run there too (see
_run_kit_modules_in_process).

Tasks that never leave the controller (set_fact, assert, fail, debug, includes, argument
checks) run in the controller itself, not in a forked worker (InProcessMixin).

Without the `mitogen` package this is plain `linear` with those two mixins;
`ANSIBLE_STRATEGY=linear` chooses stock `linear` explicitly (docs/runbooks/deploy.md).
"""

from __future__ import annotations

import functools
import gc
import os
from pathlib import Path
from typing import Any

from ansible.utils.fqcn import add_internal_fqcns

DOCUMENTATION = """
name: zdk_linear
short_description: linear, with Mitogen's module runner when installed
description:
  - Ansible's linear strategy; module calls run in a warm Mitogen interpreter when the
    mitogen package is importable, else exactly stock linear.
author: fastapi-zdk
"""


# The kit's own modules (zdk_lease, zdk_ledger, zdk_rollout, zdk_checks).
KIT_MODULES = Path(__file__).resolve().parent.parent / "modules"


def _run_kit_modules_in_process(planner: Any) -> None:
    """Mitogen forks a fresh child for every module that imports module_utils from a
    custom path, as the kit's do (zdk_kube); the child starts from a clean interpreter
    and imports the kubernetes client again: 0.5 s per call, ~5 s per deploy. The kit's
    modules keep no state between calls (the module_utils are re-imported per call), so
    they run in the warm interpreter like kubernetes.core's. Async tasks (the lock's
    renewer) and `mitogen_task_isolation=fork` still fork."""
    should_fork = planner.NewStylePlanner.should_fork

    def kit_modules_in_process(self: Any) -> bool:
        invocation = self._inv
        if (
            not invocation.wrap_async
            and invocation.task_vars.get("mitogen_task_isolation") != "fork"
            and Path(invocation.module_path).resolve().parent == KIT_MODULES
        ):
            return False
        return bool(should_fork(self))

    planner.NewStylePlanner.should_fork = kit_modules_in_process


# Actions whose whole work is templating in the controller: the worker would only send back
# what it templated. Not `pause` (it reads the terminal) nor anything that runs a module.
IN_PROCESS_ACTIONS = frozenset(
    add_internal_fqcns(
        (
            "set_fact", "assert", "fail", "debug", "include_tasks", "include_role",
            "include_vars", "validate_argument_spec", "set_stats",
        )
    )
)  # fmt: skip


def _in_process_runner() -> Any:
    """The task context, executor and plugin loaders of ansible-core 2.21 (the pinned
    current line), or None: other versions shape the worker differently, and there every
    task forks."""
    if os.environ.get("ZDK_IN_PROCESS", "1") == "0":
        return None
    try:
        from ansible._internal import _task
        from ansible.executor.task_executor import TaskExecutor
        from ansible.plugins.loader import get_plugin_loader_namespace
    except ImportError:
        return None
    if not hasattr(_task, "UnifiedTaskResult") or not hasattr(_task.TaskContext, "create"):
        return None
    return _task.TaskContext, TaskExecutor, get_plugin_loader_namespace


# Decided once per run, at the first task (ZDK_IN_PROCESS is read then).
_run_in_process = functools.cache(_in_process_runner)


class InProcessMixin:
    """A worker is a fork of the controller: for a task that only templates (set_fact,
    assert, debug, an include), forking and reaping it costs more than the task. Such a
    task took 36 ms in a worker and takes 14 ms here (87 of a deploy's 129 tasks,
    docs/benchmarks.md).

    It runs here, the way WorkerProcess._run runs it, on its own copy of the task
    (the executor templates a task in place, and a worker's copy is thrown away with the
    worker): the same executor, the same result queue, the same result handling and
    callbacks. Loops and async tasks still fork, as does every module call.
    ZDK_IN_PROCESS=0 forks every task (docs/runbooks/deploy.md)."""

    def _queue_task(
        self, host: Any, task: Any, task_vars: dict[str, Any], play_context: Any
    ) -> Any:
        runner = _run_in_process()
        if (
            runner is None
            or task.action not in IN_PROCESS_ACTIONS
            or task.loop_with
            or task.loop
            or task.async_val
        ):
            return super()._queue_task(host, task, task_vars, play_context)  # type: ignore[misc]
        task_context, task_executor, plugin_loaders = runner
        # Its blocks' attributes, not their task lists: a copy of the whole block made each
        # task cost more the longer the play (1,000 set_facts: 62.6 s instead of 5.0 s).
        own_task = task.copy(exclude_tasks=True)
        self._queued_task_cache[(host.name, task._uuid)] = {  # type: ignore[attr-defined]
            "host": host,
            "task": task,
            "task_vars": task_vars,
            "play_context": play_context,
        }
        self._tqm.send_callback("v2_runner_on_start", host, task)  # type: ignore[attr-defined]
        with task_context.create(task=own_task, task_vars=task_vars, host_name=host.name):
            own_task.squash()
            result = task_executor(
                host,
                play_context,
                self._loader,  # type: ignore[attr-defined]
                plugin_loaders(),
                self._final_q,  # type: ignore[attr-defined]
                self._variable_manager,  # type: ignore[attr-defined]
            ).run()
            result.finalize_registered_values()
        # As WorkerProcess._run: the callbacks read these from the queued task.
        task.ignore_errors = result.ignore_errors
        task.ignore_unreachable = result.ignore_unreachable
        self._final_q.send_task_result(host, own_task, result)  # type: ignore[attr-defined]
        self._pending_results += 1  # type: ignore[attr-defined]
        return None


class PreForkMixin:
    """Every task runs in a worker forked from the controller, which inherits its whole
    heap, and what a worker loads or collects is lost with it.

    - Each full garbage collection in a worker walks the inherited heap again (~70 ms,
      about a dozen per deploy). Frozen before the fork, the inherited objects are left
      out of the workers' collections (gc.freeze, as CPython's docs advise for pre-fork
      servers).
    - The first filter or test a worker's templates use makes it load every filter and
      test plugin file (~9 ms per task, about 1.4 s per deploy). Loaded once here, before the
      first fork, every worker inherits them."""

    _zdk_plugins_loaded = False

    def _queue_task(self, *args: Any, **kwargs: Any) -> Any:
        if not self._zdk_plugins_loaded:
            from ansible.plugins.loader import filter_loader, test_loader

            for loader in (filter_loader, test_loader):
                list(loader.all())
            type(self)._zdk_plugins_loaded = True
        gc.freeze()
        return super()._queue_task(*args, **kwargs)  # type: ignore[misc]


def _strategy() -> type:
    try:
        import ansible_mitogen.loaders  # type: ignore[import-untyped]
        import ansible_mitogen.planner  # type: ignore[import-untyped]
        import ansible_mitogen.strategy  # type: ignore[import-untyped]
    except ImportError:
        from ansible.plugins.strategy.linear import StrategyModule as Linear

        return type("StrategyModule", (InProcessMixin, PreForkMixin, Linear), {})
    _run_kit_modules_in_process(ansible_mitogen.planner)
    linear = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)
    return type(
        "StrategyModule",
        (InProcessMixin, PreForkMixin, ansible_mitogen.strategy.StrategyMixin, linear),
        {},
    )


StrategyModule = _strategy()
