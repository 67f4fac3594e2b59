"""Helpers for the chart tests: run helm, render the chart, pick objects."""

from __future__ import annotations

import copy
import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "fastapi-app"
CI_VALUES = sorted((CHART / "ci").glob("*-values.yaml"))
CACHE = Path(os.environ.get("ZDK_CACHE", Path.home() / ".cache" / "fastapi-zdk"))
RELEASE = "fastapi-app"
NAMESPACE = "fastapi-app"

Manifest = dict[str, Any]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(what: str) -> None:
    """A missing prerequisite fails under CI=true and skips elsewhere."""
    if in_ci():
        pytest.fail(f"{what} (CI=true: prerequisites must be present)")
    pytest.skip(what)


def find_helm() -> str | None:
    for candidate in (os.environ.get("HELM"), str(CACHE / "tools" / "bin" / "helm")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("helm")


def helm(*args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    binary = find_helm()
    if binary is None:
        missing("helm not found (run scripts/install-tools.sh)")
        raise AssertionError("unreachable")
    return subprocess.run([binary, *args], capture_output=True, text=True, check=check, timeout=120)


def _template_args(
    values: Mapping[str, Any] | None, files: Iterable[Path], extra: Iterable[str]
) -> tuple[list[str], str | None]:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    for f in files:
        args += ["-f", str(f)]
    tmp = None
    if values:
        fd, tmp = tempfile.mkstemp(suffix=".yaml", prefix="chart-values-")
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(dict(values), handle)
        args += ["-f", tmp]
    return [*args, *extra], tmp


def render_raw(
    values: Mapping[str, Any] | None = None,
    files: Iterable[Path] = (),
    extra: Iterable[str] = (),
) -> subprocess.CompletedProcess[str]:
    args, tmp = _template_args(values, files, extra)
    try:
        return helm(*args)
    finally:
        if tmp:
            os.unlink(tmp)


def render(
    values: Mapping[str, Any] | None = None,
    files: Iterable[Path] = (),
    extra: Iterable[str] = (),
) -> list[Manifest]:
    """Rendered objects (cached per arguments: helm is the slow part of these tests)."""
    key = json.dumps(values or {}, sort_keys=True)
    return copy.deepcopy(_render_cached(key, tuple(map(str, files)), tuple(extra)))


@functools.cache
def _render_cached(
    values_json: str, files: tuple[str, ...], extra: tuple[str, ...]
) -> list[Manifest]:
    values = json.loads(values_json)
    result = render_raw(values, [Path(f) for f in files], extra)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_error(values: Mapping[str, Any], extra: Iterable[str] = ()) -> str:
    result = render_raw(values, extra=extra)
    assert result.returncode != 0, f"expected the render to fail for {values}"
    return result.stderr


def objects(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str) -> Manifest:
    found = objects(manifests, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def container(deployment: Manifest) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env(container_spec: Mapping[str, Any]) -> dict[str, Any]:
    """Environment as name -> value, or name -> valueFrom for references."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container_spec.get("env", [])}


def load_plugin(relative: str) -> ModuleType:
    """One of the kit's plugin files (plugins/...), imported by path as Ansible finds it."""
    path = REPO / "plugins" / relative
    spec = importlib.util.spec_from_file_location(f"zdk_chart_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
