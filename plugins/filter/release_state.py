"""What a release is and what the kit must do about it, from `helm history -o json` and
the kit's ledger of verdicts (ConfigMap <release>-deploy-ledger, written by verify).

A revision is *verified* only when verify passed on it; `failed` when verify failed;
otherwise `unverified`. Helm's own status (deployed, superseded, failed, pending-*) says
what helm did, not whether the version works: the two together decide the repair that
deploy.yml, rollback.yml and status.yml run first."""

from __future__ import annotations

import re
from typing import Any

PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
# Descriptions helm and the kit write on revisions; they name the version when the
# ledger does not (a revision that never reached verify).
_DEPLOY_DESCRIPTION = re.compile(r"^fastapi-zdk deploy (\S+)")
_ROLLBACK_DESCRIPTION = re.compile(r"^Rollback to ([0-9]+)")


def _ledger_entry(ledger: dict[str, Any], revision: dict[str, Any]) -> dict[str, Any]:
    """The ledger's entry for this revision, if it is about this very revision (a
    reinstalled release reuses revision numbers; `updated` tells them apart)."""
    entry = ledger.get(str(revision["revision"])) or {}
    if entry.get("updated") and revision.get("updated") and entry["updated"] != revision["updated"]:
        return {}
    return dict(entry)


def _version_of(
    number: int, by_number: dict[int, dict[str, Any]], ledger: dict[str, Any], depth: int = 0
) -> str:
    revision = by_number.get(number)
    if revision is None or depth > 20:
        return "?"
    entry = _ledger_entry(ledger, revision)
    if entry.get("version"):
        return str(entry["version"])
    description = str(revision.get("description") or "")
    deployed = _DEPLOY_DESCRIPTION.match(description)
    if deployed:
        return deployed.group(1)
    rolled_back = _ROLLBACK_DESCRIPTION.match(description)
    if rolled_back:
        return _version_of(int(rolled_back.group(1)), by_number, ledger, depth + 1)
    return "?"


def release_state(
    history: list[dict[str, Any]] | None,
    ledger: dict[str, Any] | None = None,
    current_version: str = "",
) -> dict[str, Any]:
    """{"installed", "current": {revision, status, version, verdict}, "revisions": [...],
    "last_verified": newest verified revision number or 0, "repair": "none" | "reverify"
    | "rollback" | "uninstall", "repair_target": revision or 0, "problem": one line}"""
    ledger = ledger or {}
    revisions = sorted(history or [], key=lambda r: int(r["revision"]))
    by_number = {int(r["revision"]): r for r in revisions}
    described = []
    for revision in revisions:
        number = int(revision["revision"])
        entry = _ledger_entry(ledger, revision)
        described.append(
            {
                "revision": number,
                "status": revision.get("status", "unknown"),
                "updated": revision.get("updated", ""),
                "description": revision.get("description", ""),
                "version": _version_of(number, by_number, ledger),
                "verdict": entry.get("verdict", "unverified"),
                "reason": entry.get("reason", ""),
            }
        )
    state: dict[str, Any] = {
        "installed": False,
        "current": {},
        "revisions": described,
        "last_verified": 0,
        "repair": "none",
        "repair_target": 0,
        "problem": "",
    }
    if not described or described[-1]["status"] in ("uninstalled", "uninstalling"):
        return state
    current = described[-1]
    if current_version:
        current["version"] = current_version
    state["installed"] = True
    state["current"] = current
    verified = [r for r in described if r["verdict"] == "verified"]
    state["last_verified"] = verified[-1]["revision"] if verified else 0
    earlier_verified = [r for r in verified if r["revision"] < current["revision"]]
    # Without any verified revision (a release from before the ledger, or from plain
    # helm), helm's last successful revision is the best known-good one.
    earlier_deployed = [
        r
        for r in described
        if r["revision"] < current["revision"] and r["status"] in ("deployed", "superseded")
    ]
    fallback = (earlier_verified or earlier_deployed or [{}])[-1]
    at = f"revision {current['revision']} ({current['version']})"

    def roll_back(problem: str) -> None:
        if fallback:
            state.update(repair="rollback", repair_target=fallback["revision"])
            how = "verified" if fallback in earlier_verified else "last deployed, never verified"
            problem += (
                f"; rolling back to revision {fallback['revision']} ({fallback['version']}, {how})"
            )
        elif current["status"] == "pending-install":
            state["repair"] = "uninstall"
            problem += "; no earlier revision: uninstalling it"
        else:
            problem += "; no earlier revision to roll back to"
        state["problem"] = problem

    if current["status"] in PENDING:
        roll_back(
            f"{at} is {current['status']} with no deploy holding the lock (an interrupted helm)"
        )
    elif current["status"] == "failed":
        roll_back(f"{at} failed in helm")
    elif current["verdict"] == "failed":
        roll_back(f"{at} failed verification but is still deployed")
    elif current["verdict"] != "verified":
        state.update(
            repair="reverify",
            repair_target=fallback.get("revision", 0),
            problem=f"{at} was never verified (an interrupted deploy, or a release made "
            "outside the kit): verifying it now",
        )
    return state


def rollback_target(
    state: dict[str, Any], revision: Any = 0, force: bool = False
) -> dict[str, Any]:
    """The revision rollback.yml goes to: the explicit one (which must have passed verify
    unless `force`), else the newest verified revision that runs another version than
    the one serving now. {"revision": n, "version": v} or {"error": one line}."""
    if not state.get("installed"):
        return {"error": "release not installed: nothing to roll back"}
    current = state["current"]
    kept = ",".join(str(r["revision"]) for r in state["revisions"])
    wanted = int(revision or 0)
    if wanted:
        chosen = [r for r in state["revisions"] if r["revision"] == wanted]
        if not chosen:
            return {"error": f"revision {wanted} is not in the history (kept revisions {kept})"}
        target = chosen[0]
        if wanted == current["revision"]:
            return {"error": f"revision {wanted} ({target['version']}) is the one running now"}
        if target["verdict"] != "verified" and not force:
            return {
                "error": f"revision {wanted} ({target['version']}) never passed verify "
                f"({target['verdict']}): add -e force=true to roll back to it anyway"
            }
        return {"revision": wanted, "version": target["version"]}
    candidates = [
        r
        for r in state["revisions"]
        if r["verdict"] == "verified"
        and r["revision"] < current["revision"]
        and r["version"] != current["version"]
    ]
    if not candidates:
        return {
            "error": f"no verified revision of a version other than {current['version']} "
            f"to roll back to (kept revisions {kept}); name one with -e revision=N"
        }
    return {"revision": candidates[-1]["revision"], "version": candidates[-1]["version"]}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"zdk_release_state": release_state, "zdk_rollback_target": rollback_target}
