"""Every wait the operator bounds with a timeout ends at that time, not after a number of
polls: a poll costs an API read on top of its delay, so `retries = timeout / poll` alone
stretched verify's 600 s to ~720 s under Mitogen and ~22 min on stock linear. The e2e
test `test_a_release_that_never_becomes_ready_is_stopped_at_its_timeout` measures it;
this check keeps a new wait from counting polls again."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO, TASK_FILES, all_tasks

# A retry count derived from an operator's timeout: `<role>_timeout_seconds | int / ...`.
TIMED_RETRIES = re.compile(r"\w*timeout_seconds\b")
# The deadline clause: the wait ends when the clock passes a deadline or a start + timeout.
CLOCK = "now(utc=True).timestamp()"


def timed_waits(path: Path) -> list[tuple[str, str]]:
    """(task name, its until) of every task whose retries derive from a timeout."""
    return [
        (str(task.get("name", "?")), str(task["until"]))
        for task in all_tasks(path)
        if "until" in task and TIMED_RETRIES.search(str(task.get("retries", "")))
    ]


def problems(waits: list[tuple[str, str]]) -> list[str]:
    return [
        f"{name}: retries count polls of a timeout, but `until` never checks the clock"
        for name, until in waits
        if CLOCK not in until
    ]


def test_the_timed_waits_are_found() -> None:
    # The rollout, the check pod, the migration Job and the N-1 scratch schema.
    found = [name for path in TASK_FILES for name, _ in timed_waits(path)]
    assert len(found) >= 4, found


@pytest.mark.parametrize(
    "path", [p for p in TASK_FILES if timed_waits(p)], ids=lambda p: str(p.relative_to(REPO))
)
def test_every_timed_wait_ends_at_its_deadline(path: Path) -> None:
    assert problems(timed_waits(path)) == []


def test_the_check_catches_a_wait_that_counts_polls() -> None:
    task: dict[str, Any] = {
        "name": "Wait for the pod",
        "until": "__pod.ready",
        "retries": "{{ (verify_timeout_seconds | int / verify_poll_seconds | float) | int }}",
    }
    assert problems([(task["name"], task["until"])]) != []
