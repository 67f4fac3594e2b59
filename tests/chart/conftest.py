"""Shared fixtures of the chart tests."""

from __future__ import annotations

import pytest

from ._chart import Manifest, find_helm, missing, render


@pytest.fixture(scope="session", autouse=True)
def _helm_present() -> None:
    if find_helm() is None:
        missing("helm not found (run scripts/install-tools.sh)")


@pytest.fixture(scope="session")
def default_render() -> list[Manifest]:
    return render()
