"""The kit hands chart values to helm on stdin as JSON, never as YAML.

Helm reads values as YAML 1.1, where a plain `N`, `y`, `Y` or `n` is a boolean; PyYAML
(Ansible's to_yaml/to_nice_yaml) writes those strings unquoted. A greeting of "N" sent as
YAML reached the chart as `false`. JSON quotes every string, and JSON is YAML."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import yaml

from ._chart import CHART, NAMESPACE, RELEASE, REPO, find_helm, missing

# Strings YAML 1.1 reads as booleans that PyYAML leaves unquoted.
BOOLEAN_LOOKING = ["N", "n", "Y", "y"]


def _tasks(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, list):
        for item in node:
            found += _tasks(item)
    elif isinstance(node, dict):
        if "name" in node:
            found.append(node)
        for key in ("tasks", "block", "rescue", "always"):
            found += _tasks(node.get(key))
    return found


def helm_stdin_tasks() -> list[tuple[str, dict[str, Any]]]:
    """Every task of the kit that runs helm with --values /dev/stdin."""
    found = []
    for path in sorted([*REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("playbooks/*.yml")]):
        for task in _tasks(yaml.safe_load(path.read_text())):
            command = task.get("ansible.builtin.command") or {}
            argv = str(command.get("argv", "")) if isinstance(command, dict) else ""
            if "helm" in argv and "/dev/stdin" in argv:
                found.append((f"{path.relative_to(REPO)}: {task['name']}", command))
    return found


def test_every_helm_call_gets_its_values_as_json() -> None:
    calls = helm_stdin_tasks()
    assert len(calls) >= 4, calls  # preflight render, dry run, upgrade, migration Job
    for where, command in calls:
        assert str(command.get("stdin", "")).replace(" ", "").endswith("|to_json}}"), where


def _greeting(stdin: str) -> subprocess.CompletedProcess[str]:
    binary = find_helm()
    if binary is None:
        missing("helm not found (run scripts/install-tools.sh)")
    argv = [str(binary), "template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    return subprocess.run(
        [*argv, "--values", "/dev/stdin", "--show-only", "templates/deployment.yaml"],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _env(rendered: str) -> dict[str, Any]:
    deployment = yaml.safe_load(rendered)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_boolean_looking_strings_reach_the_chart_as_strings() -> None:
    for greeting in BOOLEAN_LOOKING:
        values = {"app": {"greeting": greeting}}
        as_yaml = _greeting(yaml.safe_dump(values))
        # The hazard is real: the same values as YAML are not the same values to helm.
        assert as_yaml.returncode != 0, f"{greeting!r} as YAML reached helm as a string"
        assert "want string" in as_yaml.stderr, as_yaml.stderr
        as_json = _greeting(json.dumps(values))
        assert as_json.returncode == 0, as_json.stderr
        assert greeting in _env(as_json.stdout).values(), as_json.stdout
