"""Release judgement (plugins/filter/release_state.py): which revisions passed verify,
what an interrupted run left and must be repaired, and where rollback.yml goes."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import load_plugin

state_filter = load_plugin("filter/release_state.py")
release_state = state_filter.release_state
rollback_target = state_filter.rollback_target


def rev(number: int, status: str, description: str) -> dict[str, Any]:
    return {
        "revision": number,
        "status": status,
        "updated": f"2026-11-22T00:00:{number:02d}Z",
        "description": description,
    }


def verdict(number: int, what: str, version: str) -> dict[str, Any]:
    return {"verdict": what, "version": version, "updated": f"2026-11-22T00:00:{number:02d}Z"}


# The history: 4 good -> 5 crash (auto-rolled back) -> 6 rollback to 4.
HISTORY = [
    rev(3, "superseded", "fastapi-zdk deploy 0.0.1"),
    rev(4, "superseded", "fastapi-zdk deploy 0.0.2"),
    rev(5, "superseded", "fastapi-zdk deploy 0.0.3"),
    rev(6, "deployed", "Rollback to 4"),
]
LEDGER = {
    "3": verdict(3, "verified", "0.0.1"),
    "4": verdict(4, "verified", "0.0.2"),
    "5": verdict(5, "failed", "0.0.3"),
    "6": verdict(6, "verified", "0.0.2"),
}


def test_rollback_after_an_automatic_rollback_goes_to_the_version_before() -> None:
    state = release_state(HISTORY, LEDGER, "0.0.2")
    assert state["repair"] == "none"
    assert state["current"]["verdict"] == "verified"
    assert rollback_target(state) == {"revision": 3, "version": "0.0.1"}


def test_explicit_revision_that_never_passed_verify_needs_force() -> None:
    state = release_state(HISTORY, LEDGER, "0.0.2")
    refused = rollback_target(state, 5)
    assert "never passed verify (failed)" in refused["error"]
    assert "force=true" in refused["error"]
    assert rollback_target(state, 5, True) == {"revision": 5, "version": "0.0.3"}
    assert rollback_target(state, 4) == {"revision": 4, "version": "0.0.2"}


def test_explicit_revision_must_exist_and_differ_from_the_current_one() -> None:
    state = release_state(HISTORY, LEDGER, "0.0.2")
    assert "not in the history (kept revisions 3,4,5,6)" in rollback_target(state, 1)["error"]
    assert "is the one running now" in rollback_target(state, 6)["error"]


def test_no_other_verified_version_says_so() -> None:
    state = release_state(HISTORY[1:], {k: v for k, v in LEDGER.items() if k != "3"}, "0.0.2")
    assert "no verified revision of a version other than 0.0.2" in rollback_target(state)["error"]


def test_unverified_current_revision_is_verified_again() -> None:
    history = [*HISTORY, rev(7, "deployed", "fastapi-zdk deploy 0.0.4")]
    history[3] = {**history[3], "status": "superseded"}
    state = release_state(history, LEDGER, "0.0.4")
    assert state["repair"] == "reverify"
    assert state["repair_target"] == 6
    assert "revision 7 (0.0.4) was never verified" in state["problem"]


@pytest.mark.parametrize("pending", ["pending-upgrade", "pending-rollback"])
def test_pending_release_rolls_back_to_the_last_verified_revision(pending: str) -> None:
    history = [*HISTORY, rev(7, pending, "Preparing upgrade")]
    state = release_state(history, LEDGER, "0.0.4")
    assert state["repair"] == "rollback"
    assert state["repair_target"] == 6
    assert f"revision 7 (0.0.4) is {pending}" in state["problem"]
    assert "rolling back to revision 6 (0.0.2, verified)" in state["problem"]


def test_pending_first_install_is_uninstalled() -> None:
    state = release_state([rev(1, "pending-install", "Initial install underway")], {}, "0.0.1")
    assert state["repair"] == "uninstall"


def test_failed_helm_release_rolls_back() -> None:
    history = [*HISTORY, rev(7, "failed", 'Upgrade "x" failed: context canceled')]
    state = release_state(history, LEDGER, "0.0.4")
    assert (state["repair"], state["repair_target"]) == ("rollback", 6)


def test_deployed_revision_marked_failed_rolls_back() -> None:
    history = [*HISTORY[:3], rev(6, "deployed", "fastapi-zdk deploy 0.0.3")]
    ledger = {**LEDGER, "6": verdict(6, "failed", "0.0.3")}
    state = release_state(history, ledger, "0.0.3")
    assert (state["repair"], state["repair_target"]) == ("rollback", 4)


def test_without_a_ledger_the_last_deployed_revision_is_the_fallback() -> None:
    history = [rev(1, "superseded", "Install complete"), rev(2, "pending-upgrade", "Preparing")]
    state = release_state(history, {}, "0.0.2")
    assert (state["repair"], state["repair_target"]) == ("rollback", 1)
    assert "last deployed, never verified" in state["problem"]


def test_a_reinstalled_release_does_not_inherit_old_verdicts() -> None:
    reinstalled = [
        {**rev(1, "deployed", "fastapi-zdk deploy 0.0.9"), "updated": "2027-01-01T00:00:00Z"}
    ]
    state = release_state(reinstalled, {"1": verdict(1, "verified", "0.0.1")}, "0.0.9")
    assert state["current"]["verdict"] == "unverified"
    assert state["repair"] == "reverify"


def test_versions_of_rollback_revisions_follow_their_target() -> None:
    state = release_state(HISTORY, {}, "0.0.2")
    assert [r["version"] for r in state["revisions"]] == ["0.0.1", "0.0.2", "0.0.3", "0.0.2"]


def test_not_installed() -> None:
    assert release_state([], {}, "")["installed"] is False
    assert "not installed" in rollback_target(release_state([], {}, ""))["error"]
