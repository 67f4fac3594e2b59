"""Helpers for the deploy pipeline tests: run ansible from the project's venv."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

RunAnsible = Callable[..., subprocess.CompletedProcess[str]]


def ansible_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
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
        )

    return run
