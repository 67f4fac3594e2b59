"""The zdk output callback (plugins/callback/zdk.py) on real ansible-playbook runs: a line
per phase, the live rollout line, the report, and the reason as the last line. The same
callback on real deploys: tests/e2e/test_deploy.py (line budget, failure reason line)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from .conftest import RunAnsible

# A module that answers like zdk_rollout: one more new pod ready per call.
FAKE_ROLLOUT = textwrap.dedent(
    """\
    #!/usr/bin/python
    from ansible.module_utils.basic import AnsibleModule
    import pathlib
    m = AnsibleModule(argument_spec={"counter": {"type": "path", "required": True}})
    path = pathlib.Path(m.params["counter"])
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(n))
    m.exit_json(changed=False, done=n >= 3,
                rollout={"replicas": 3, "new_ready": n, "old_ready": 3 - n, "not_ready": 0})
    """
)


def playbook(tmp_path: Path, fail_in: str = "") -> Path:
    (tmp_path / "library").mkdir(exist_ok=True)
    (tmp_path / "library" / "fake_rollout.py").write_text(FAKE_ROLLOUT)
    failing = (
        f"""
        - name: Break in {fail_in}
          ansible.builtin.fail:
            msg: "the {fail_in} broke"
          vars:
            zdk_phase: {fail_in}
        """
        if fail_in
        else ""
    )
    text = f"""\
    - name: Deploy demo 1.2.3
      hosts: localhost
      connection: local
      gather_facts: false
      vars:
        zdk_phases: [preflight, image, migrations, release, verify, rollback, report]
      tasks:
        - name: Check
          ansible.builtin.command: "true"
          changed_when: false
          vars:
            zdk_phase: preflight
        - name: Never run
          ansible.builtin.command: "false"
          changed_when: false
          when: false
        - name: Say what the image is
          ansible.builtin.debug:
            msg: "image demo:1.2.3 built"
          vars:
            zdk_phase: image
        {failing}
        - name: Release and watch
          block:
            - name: Wait for the rollout
              fake_rollout:
                counter: "{tmp_path}/counter"
              register: r
              until: r.done
              retries: 5
              delay: 1
            - name: Back-reference stays in release
              ansible.builtin.command: "true"
              changed_when: false
              vars:
                zdk_phase: preflight
          vars:
            zdk_phase: release
        - name: Verify
          ansible.builtin.debug:
            msg: "verified: 3 pods"
          vars:
            zdk_phase: verify
        - name: Report
          ansible.builtin.debug:
            msg: ["demo 1.2.2 -> 1.2.3 verified", "probe: not run"]
          vars:
            zdk_phase: report
    """
    path = tmp_path / "demo.yml"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_successful_run_prints_a_line_per_phase(run_playbook: RunAnsible, tmp_path: Path) -> None:
    phases = tmp_path / "phases.json"
    result = run_playbook(
        str(playbook(tmp_path)),
        ANSIBLE_LIBRARY=str(tmp_path / "library"),
        ZDK_PHASES_JSON=str(phases),
        ZDK_PROGRESS_SECONDS="1",
        ZDK_OUTPUT="",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert lines[0] == "Deploy demo 1.2.3"
    text = "\n".join(lines)
    assert "TASK [" not in text
    assert "RETRYING" not in text
    assert "PLAY RECAP" not in text
    assert any(ln.startswith(" ✓ preflight") for ln in lines)
    assert any(ln.startswith(" ✓ image") and "image demo:1.2.3 built" in ln for ln in lines)
    assert any(ln.startswith(" - migrations") and "skipped" in ln for ln in lines)
    release = next(ln for ln in lines if ln.startswith(" ✓ release"))
    assert "rollout: new 3/3 ready, old 0 ready" in release
    # Not a terminal: the rollout's progress as periodic lines, not one per retry.
    assert any("rollout: new 1/3 ready" in ln or "rollout: new 2/3" in ln for ln in lines)
    assert sum(ln.startswith(" ✓ preflight") for ln in lines) == 1
    assert any(ln.startswith(" - rollback") for ln in lines)
    assert "   demo 1.2.2 -> 1.2.3 verified" in lines
    assert lines[-1].startswith("done in ")
    assert len(lines) <= 16, text
    report = json.loads(phases.read_text())
    assert report["status"] == "ok"
    assert [p["name"] for p in report["phases"]] == [
        "preflight", "image", "migrations", "release", "verify", "rollback",
    ]  # fmt: skip
    assert report["phases"][3]["seconds"] >= 2  # two retries of 1 s
    # Where the time went, by kind of task: 3 commands/modules (the rollout's retries are
    # one task), 3 debug messages on the controller, 1 skipped.
    kinds = report["task_time"]
    assert {k: v["count"] for k, v in kinds.items()} == {
        "module": 3, "controller": 3, "skipped": 1,
    }  # fmt: skip
    assert kinds["module"]["seconds"] >= 2
    assert 0 < kinds["controller"]["seconds"] < kinds["module"]["seconds"]


def test_a_failed_run_ends_with_the_reason(run_playbook: RunAnsible, tmp_path: Path) -> None:
    result = run_playbook(str(playbook(tmp_path, fail_in="migrations")), ZDK_OUTPUT="")
    assert result.returncode != 0
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert lines[-1].startswith("FAILED: the migrations broke [see docs/runbooks/migrations.md")
    assert any(ln.startswith(" ✗ migrations") for ln in lines)
    assert not any(ln.startswith(" - release") for ln in lines)  # not reached: unsaid
    assert lines[-2].startswith("failed after ")


def test_verbose_and_full_output_are_ansibles_own(run_playbook: RunAnsible, tmp_path: Path) -> None:
    path = str(playbook(tmp_path))
    for extra, env in ((["-v"], {"ZDK_OUTPUT": ""}), ([], {"ZDK_OUTPUT": "full"})):
        (tmp_path / "counter").unlink(missing_ok=True)
        result = run_playbook(*extra, path, ANSIBLE_LIBRARY=str(tmp_path / "library"), **env)
        assert result.returncode == 0, result.stdout
        assert "TASK [Wait for the rollout]" in result.stdout
        assert "FAILED - RETRYING" in result.stdout
        assert "PLAY RECAP" in result.stdout
