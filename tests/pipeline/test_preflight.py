"""Preflight of deploy.yml: bad input fails fast, with one clear line, changing nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import RunAnsible

RECAP = re.compile(r"ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)")


def failure_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.strip().startswith("msg:")]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("bad", 'invalid version "bad"'),
        ("1.2", 'invalid version "1.2"'),
        ("v1.2.3", 'invalid version "v1.2.3"'),
        ("1.2.3;rm -rf /", "invalid version"),
        ("", "version is required"),
    ],
)
def test_bad_version_fails_with_one_line_and_changes_nothing(
    run_playbook: RunAnsible, version: str, expected: str
) -> None:
    result = run_playbook("deploy.yml", "-e", f"version={version}")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    messages = failure_lines(output)
    assert len(messages) == 1, output
    assert expected in messages[0]
    recap = RECAP.search(output)
    assert recap is not None, output
    assert recap.group(1) == "0", "a failed preflight must change nothing"
    # Failing on the version must come before any contact with the cluster or builder.
    assert "Reach the cluster" not in output
    assert "Build" not in output


def test_the_default_output_of_a_refused_deploy_is_its_reason(run_playbook: RunAnsible) -> None:
    result = run_playbook("deploy.yml", "-e", "version=v1.2.3", ZDK_OUTPUT="")
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert result.returncode != 0
    assert lines[0] == "Deploy fastapi-app", result.stdout
    assert re.match(r" ✗ preflight +[0-9.]+s", lines[1]), result.stdout
    assert re.match(r"failed after [0-9.]+s \(\d+ tasks, 0 changed\)", lines[-2]), result.stdout
    assert lines[-1].startswith('FAILED: invalid version "v1.2.3": expected MAJOR.MINOR.PATCH')
    assert "nothing was changed" in lines[-1]
    assert len(lines) == 4, result.stdout


def test_missing_version_argument(run_playbook: RunAnsible) -> None:
    result = run_playbook("deploy.yml")
    assert result.returncode != 0
    assert "version is required" in result.stdout


def test_missing_kubeconfig_points_to_cluster_up(run_playbook: RunAnsible) -> None:
    result = run_playbook(
        "deploy.yml", "-e", "version=0.0.1", "-e", "zdk_kubeconfig=/nonexistent/kubeconfig"
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    messages = failure_lines(output)
    assert len(messages) == 1, output
    assert "/nonexistent/kubeconfig not found: run make cluster-up" in messages[0]
    recap = RECAP.search(output)
    assert recap is not None
    assert recap.group(1) == "0"


def test_rollback_rejects_a_bad_revision(run_playbook: RunAnsible) -> None:
    result = run_playbook("playbooks/rollback.yml", "-e", "revision=latest")
    assert result.returncode != 0
    assert 'invalid revision "latest"' in result.stdout


def test_syntax_check_of_every_playbook(run_playbook: RunAnsible) -> None:
    for playbook in ("deploy.yml", "playbooks/rollback.yml", "playbooks/status.yml"):
        result = run_playbook("--syntax-check", playbook)
        assert result.returncode == 0, result.stdout + result.stderr


UNREACHABLE_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: closed
  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
contexts:
- name: fastapi-zdk-deployer@fastapi-zdk-local
  context: {cluster: closed, user: nobody}
current-context: fastapi-zdk-deployer@fastapi-zdk-local
users:
- name: nobody
  user: {token: none}
"""


def test_unreachable_cluster_fails_with_one_line(run_playbook: RunAnsible, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(UNREACHABLE_KUBECONFIG)
    result = run_playbook("deploy.yml", "-e", "version=0.0.1", "-e", f"zdk_kubeconfig={kubeconfig}")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    messages = failure_lines(output)
    assert len(messages) == 1, output
    context = "fastapi-zdk-deployer@fastapi-zdk-local"
    expected = f"cluster unreachable: context {context} in KUBECONFIG {kubeconfig}"
    assert expected in " ".join(output.split())
    recap = RECAP.search(output)
    assert recap is not None
    assert recap.group(1) == "0"
