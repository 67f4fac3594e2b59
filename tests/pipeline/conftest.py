"""Helpers for the deploy pipeline tests: run ansible from the project's venv."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

RunAnsible = Callable[..., subprocess.CompletedProcess[str]]

# Every file of tasks the kit runs: the playbooks, their task files and the roles'.
TASK_FILES = sorted(
    [
        *REPO.glob("playbooks/*.yml"),
        *REPO.glob("playbooks/tasks/*.yml"),
        *REPO.glob("roles/*/tasks/*.yml"),
    ]
)
BLOCK_KEYS = ("block", "rescue", "always")
PLAY_KEYS = ("pre_tasks", "tasks", "post_tasks", "handlers")


def tasks_of(items: Any) -> Iterator[dict[str, Any]]:
    """Every task of a task list, the tasks inside blocks included (not the blocks)."""
    for item in items or []:
        if not isinstance(item, dict):
            continue
        if any(key in item for key in BLOCK_KEYS):
            for key in BLOCK_KEYS:
                yield from tasks_of(item.get(key))
        else:
            yield item


def all_tasks(path: Path) -> Iterator[dict[str, Any]]:
    """Every task of a playbook (its plays' task lists) or of a task file."""
    content = yaml.safe_load(path.read_text()) or []
    is_playbook = path.parent.name == "playbooks"
    for item in content:
        if is_playbook and isinstance(item, dict) and "hosts" in item:
            for key in PLAY_KEYS:
                yield from tasks_of(item.get(key))
        else:
            yield from tasks_of([item])


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
