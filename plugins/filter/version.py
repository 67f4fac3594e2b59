"""The one version rule of the kit: SemVer 2.0 that also fits an image tag, a label
value and a Job name. `zdk_version_problem(version)` is "" for a valid version, else the
reason in a few words (the playbook prints `invalid version "<v>": <reason>`)."""

from __future__ import annotations

import re
from typing import Any

# Kubernetes label values (app.kubernetes.io/version) are at most 63 characters.
MAX_LENGTH = 63
_CORE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(?:-(.*))?$")
_IDENTIFIER = re.compile(r"^[0-9A-Za-z-]+$")
_NUMERIC = re.compile(r"^[0-9]+$")
_NUMBER_WITH_LEADING_ZERO = re.compile(r"(?<![0-9])0[0-9]")


def version_problem(version: Any) -> str:
    """Why `version` cannot be deployed, or "" when it can."""
    text = "" if version is None else str(version)
    if not text:
        return "empty"
    if text != text.strip():
        return "surrounded by white space"
    if "+" in text:
        return "build metadata (+...) cannot be part of an image tag or label; drop it"
    if len(text) > MAX_LENGTH:
        return f"{len(text)} characters; at most {MAX_LENGTH} fit a Kubernetes label"
    match = _CORE.match(text)
    if not match:
        core = text.split("-", 1)[0]
        if re.match(r"^[0-9]+\.[0-9]+\.[0-9]+$", core) and _NUMBER_WITH_LEADING_ZERO.search(core):
            return "leading zero in a numeric part"
        return "expected MAJOR.MINOR.PATCH[-PRERELEASE] (SemVer 2.0), e.g. 0.0.2 or 1.4.0-rc.1"
    prerelease = match.group(4)
    if prerelease is None:
        return ""
    for identifier in prerelease.split("."):
        if not identifier:
            return "empty pre-release identifier"
        if not _IDENTIFIER.match(identifier):
            return f'pre-release identifier "{identifier}" may only hold [0-9A-Za-z-]'
        if _NUMERIC.match(identifier) and len(identifier) > 1 and identifier.startswith("0"):
            return f'numeric pre-release identifier "{identifier}" has a leading zero'
    if not text[-1].isalnum():
        return "must end with a letter or digit (Kubernetes label values)"
    return ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"zdk_version_problem": version_problem}
