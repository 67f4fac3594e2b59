"""Helpers for the deploy pipeline tests: run ansible from the project's venv."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

RunAnsible = Callable[..., subprocess.CompletedProcess[str]]


def load_plugin(relative: str) -> ModuleType:
    """Import one of the kit's plugin files (plugins/...) the way Ansible finds it: by path."""
    path = REPO / "plugins" / relative
    spec = importlib.util.spec_from_file_location(f"zdk_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def ansible_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        # Ansible's task log: these tests read single tasks' messages and the recap. The
        # operator's one-screen output has tests of its own (ZDK_OUTPUT="").
        ZDK_OUTPUT="full",
    )
    env.update(extra)
    return env


@pytest.fixture
def run_playbook() -> RunAnsible:
    """Run ansible-playbook from the repo root; returns the completed process."""

    def run(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "ansible-playbook"), *args],
            cwd=REPO,
            env=ansible_env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            # Never a terminal: a prompt (the production confirmation) must not wait.
            stdin=subprocess.DEVNULL,
        )

    return run
