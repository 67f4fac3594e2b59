"""Ansible's `linear` strategy, run by Mitogen when it is installed (requirements-dev.txt).

Why: a deploy is ~60 module calls on one host. Stock Ansible starts a new Python for each
one and loads the kubernetes client again every time (0.2 s for `command`, 0.6 s for a
`kubernetes.core` read); Mitogen runs them in one warm interpreter (0.05 s and 0.1 s), which
took a deploy from 45 s to 31 s. Task semantics are Ansible's own: the same tasks, the same
order, the same results. The kit's own modules run there too (see
_run_kit_modules_in_process).

Without the `mitogen` package this is plain `linear`; `ANSIBLE_STRATEGY=linear` chooses it
explicitly (docs/runbooks/deploy.md).
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

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

        return type("StrategyModule", (PreForkMixin, Linear), {})
    _run_kit_modules_in_process(ansible_mitogen.planner)
    linear = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)
    return type(
        "StrategyModule", (PreForkMixin, ansible_mitogen.strategy.StrategyMixin, linear), {}
    )


StrategyModule = _strategy()
