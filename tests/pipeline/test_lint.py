"""The pipeline's YAML and Ansible pass yamllint --strict and ansible-lint (production)."""

from __future__ import annotations

import subprocess

from .conftest import BIN, REPO, ansible_env

PATHS = [
    "deploy.yml",
    "playbooks/deploy.yml",
    "playbooks/rollback.yml",
    "playbooks/status.yml",
    "inventory",
    "roles/deploy_lock",
    "roles/image",
    "roles/migrate",
    "roles/release",
    "roles/verify",
]


def test_yamllint_strict() -> None:
    result = subprocess.run(
        [str(BIN / "yamllint"), "--strict", *PATHS],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_production_profile() -> None:
    result = subprocess.run(
        [str(BIN / "ansible-lint"), "--profile", "production", "--nocolor", *PATHS],
        cwd=REPO,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
