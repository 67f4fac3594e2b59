"""Role contracts: argument specs match defaults and reject wrong types; naming rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO, RunAnsible

ROLES = ["deploy_lock", "deployer_access", "image", "migrate", "release", "verify"]


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_cover_every_default(role: str) -> None:
    defaults = load(REPO / "roles" / role / "defaults" / "main.yml") or {}
    options = load(REPO / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"][
        "options"
    ]
    assert set(defaults) <= set(options), "every default needs an argument spec"
    for name, spec in options.items():
        assert name.startswith(f"{role}_"), f"{name} lacks the role prefix"
        assert spec.get("description"), f"{name} has no description"
        if name in defaults and not spec.get("required"):
            assert spec.get("default") == defaults[name], f"{name}: spec default != defaults"


@pytest.mark.parametrize("role", ROLES)
def test_registered_internals_use_the_role_prefix(role: str) -> None:
    for tasks in (REPO / "roles" / role / "tasks").glob("*.yml"):
        for line in tasks.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("register:"):
                assert stripped.split(":", 1)[1].strip().startswith(f"__{role}_"), (
                    f"{tasks}: {stripped}"
                )


BAD_ARGUMENTS = {
    "deploy_lock": {"deploy_lock_duration_seconds": "soon", "deploy_lock_action": "steal"},
    "deployer_access": {"deployer_access_write_kubeconfig": "maybe"},
    "image": {"image_version": "0.0.1", "image_app_dir": "/tmp", "image_force_build": "maybe"},
    "migrate": {"migrate_version": "0.0.1", "migrate_chart_path": "/tmp", "migrate_values": "a"},
    "release": {
        "release_version": "0.0.1",
        "release_chart_path": "/tmp",
        "release_history_max": "x",
    },
    "verify": {"verify_version": "0.0.1", "verify_timeout_seconds": "long"},
}


@pytest.mark.parametrize("role", ROLES)
def test_argument_specs_reject_wrong_types(
    role: str, run_playbook: RunAnsible, tmp_path: Path
) -> None:
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Include the role with wrong arguments",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [
                        {
                            "name": "Include the role",
                            "ansible.builtin.include_role": {"name": role},
                            "vars": BAD_ARGUMENTS[role],
                        }
                    ],
                }
            ]
        )
    )
    result = run_playbook(
        "-i", "localhost,", "-c", "local", str(playbook), ANSIBLE_ROLES_PATH=str(REPO / "roles")
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Validating arguments against arg spec" in output
    assert "changed=0" in output


def required_options(role: str) -> list[str]:
    spec = load(REPO / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]
    return [name for name, option in spec["options"].items() if option.get("required")]


@pytest.mark.parametrize("role", [role for role in ROLES if required_options(role)])
def test_required_arguments_are_enforced(
    role: str, run_playbook: RunAnsible, tmp_path: Path
) -> None:
    required = required_options(role)
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Include the role without arguments",
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [{"name": "Include", "ansible.builtin.include_role": {"name": role}}],
                }
            ]
        )
    )
    result = run_playbook(
        "-i", "localhost,", "-c", "local", str(playbook), ANSIBLE_ROLES_PATH=str(REPO / "roles")
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert any(name in output for name in required), output
