"""Ansible's `linear` strategy, run by Mitogen when it is installed (requirements-dev.txt).

Why: a deploy is ~60 module calls on one host. Stock Ansible starts a new Python for each
one and loads the kubernetes client again every time (0.2 s for `command`, 0.6 s for a
`kubernetes.core` read); Mitogen runs them in one warm interpreter (0.05 s and 0.1 s), which
took a deploy from 45 s to 31 s. Task semantics are Ansible's own: the same tasks, the same
order, the same results.

Without the `mitogen` package this is plain `linear`; `ANSIBLE_STRATEGY=linear` chooses it
explicitly (docs/runbooks/deploy.md).
"""

from __future__ import annotations

DOCUMENTATION = """
name: zdk_linear
short_description: linear, with Mitogen's module runner when installed
description:
  - Ansible's linear strategy; module calls run in a warm Mitogen interpreter when the
    mitogen package is importable, else exactly stock linear.
author: fastapi-zdk
"""


def _strategy() -> type:
    try:
        import ansible_mitogen.loaders  # type: ignore[import-untyped]
        import ansible_mitogen.strategy  # type: ignore[import-untyped]
    except ImportError:
        from ansible.plugins.strategy.linear import StrategyModule as Linear

        return Linear  # type: ignore[no-any-return]
    linear = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)
    return type("StrategyModule", (ansible_mitogen.strategy.StrategyMixin, linear), {})


StrategyModule = _strategy()
