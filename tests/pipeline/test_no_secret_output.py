"""No secret in `ps`, in `--diff` or in `-v`...`-vvv` output: a static check of every task
in playbooks/ and roles/.

Treated as secret: chart values (users put env values there), whatever is rendered from
them (manifests, the Deployment, Job and pod specs that carry the env), whatever is read
from a Secret (the database URL and its password) and kubeconfig tokens. SENSITIVE names
the variables that hold them; SAFE_USES are the references that only pick a harmless part
(an object's name, the release's version, the workload names `zdk_workload` extracts).

What Ansible prints, and the rule that keeps each secret out of it:

1. Results at -v (set_fact's facts, command stdout, the object k8s applied or k8s_info
   read, copy/template content with --diff): a set_fact, command, shell, k8s, k8s_info,
   copy or template task that references a SENSITIVE name (in its arguments, vars or loop;
   conditions print no values) has `no_log: true`. ansible-core censors such a result, its
   diff included.
2. `--diff`: a k8s task that applies (any state but absent) something sensitive or a
   Secret has `no_log: true` and `diff: false` (the diff is never computed).
3. Reads of objects that carry chart values: k8s_info of a Secret (anywhere), or of a Pod,
   Job, Deployment or ReplicaSet (outside roles/local_cluster, whose only such reads are the
   platform's own coredns and Traefik), and `kubectl get` of those kinds as JSON/YAML, have
   `no_log: true`.
4. Deletes answer with the deleted object: a k8s delete of a Pod, Job, Deployment or
   ReplicaSet hides `spec` (hidden_fields) and of a Secret or ConfigMap hides `data`, or
   has `no_log: true` (always when the kind is templated).
5. `ps` shows every process's argv: no command/shell puts a SENSITIVE name in its argv or
   script (the script is bash's argv; pass secrets on stdin or in `environment`), and no
   script passes a password on a command line (`psql -c "... PASSWORD ..."`,
   `--password`, `--token`, `--from-literal`).
6. Files written from a template that holds a key, token or password (a role's
   templates/*.j2 containing client-key-data, token:, password or a SENSITIVE name) print
   the whole file with `--diff`: such a template task has `diff: false` or `no_log: true`.
7. Messages are printed at every verbosity: a debug, fail or assert message (msg, var,
   fail_msg, success_msg) uses a SENSITIVE variable only through a harmless part (SAFE_USES,
   a failed command's stderr/stderr_lines/rc, a module's msg) or as the subject of a
   `{% for %}` loop whose body picks such parts.

The database password's lookup (`lookup('password', ...)`) counts as a SENSITIVE name.

A task that gets no_log keeps its failure readable through a later `fail` task with a
safe message (e.g. playbooks/deploy.yml "Render the chart with the inventory values").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO, TASK_FILES, all_tasks

# Variables that hold chart values, rendered manifests, objects carrying chart values (pod
# templates with env), Secret contents or kubeconfig tokens.
SENSITIVE = {
    # chart values
    "zdk_values",
    "zdk_base_values",
    "zdk_extra_values",
    "zdk_chart_values",
    "zdk_release_values",
    "zdk_effective_values",
    "release_values",
    "migrate_values",
    # rendered manifests (helm template / dry run / status: values and manifest)
    "zdk_template",
    "zdk_new_objects",
    "release_current",
    "release_manifest",
    "__release_status",
    "__release_dry_run",
    "__release_new",
    "__release_old",
    "__migrate_render",
    "__migrate_docs",
    # live or rendered objects whose pod templates carry the env
    "zdk_serving",
    "migrate_n1_serving",
    "__migrate_n1_container",
    "__migrate_n1_pod_spec",
    "__migrate_existing",
    "__migrate_old",
    "__migrate_job",
    "__migrate_pods",
    "verify_check_pod",
    "verify_check_preview",
    "verify_check_objects",
    "__verify_check_pod",
    "__verify_check_pod_state",
    "__verify_pod",
    "zdk_preview_pod",
    # (not here: __verify_objects, zdk_objects, zdk_pods: zdk_rollout's reduced objects)
    # Secret contents, passwords, kubeconfigs
    "zdk_db_secret",
    "zdk_kubeconfig_raw",
    "__migrate_n1_db_secret",
    "__migrate_n1_source",
    "__deployer_access_token",
    "__deployer_access_admin_raw",
    "__deployer_access_admin",
    "__local_cluster_db_password",
}

# References that pick only a harmless part of a sensitive variable.
SAFE_USES = [
    r"\b\w+\.metadata\.name\b",
    r"\bitem\.kind\b",
    r"\bverify_check_pod\.spec\.serviceAccountName\b",
    r"\brelease_current\.(?:installed|revision|status|updated|version|digest|smoke_checks)\b",
    r"\brelease_current\.manifest\s*\|\s*zdk_workload\b",
]

MODULES = {
    "set_fact": "set_fact",
    "command": "command",
    "shell": "shell",
    "k8s": "k8s",
    "k8s_info": "k8s_info",
    "copy": "copy",
    "template": "template",
}
CONDITIONS = ("name", "when", "changed_when", "failed_when", "until")
POD_KINDS = {"Pod", "Job", "Deployment", "ReplicaSet"}
DATA_KINDS = {"Secret", "ConfigMap"}
ARGV_PASSWORD = re.compile(
    r"""-c\s+["'][^"'\n]*\bPASSWORD\b|--password\b|--token\b|--from-literal\b""", re.IGNORECASE
)
# ['"]+: yaml.safe_dump doubles a quote inside a quoted scalar.
PASSWORD_LOOKUP = re.compile(r"""lookup\(\s*['"]+(?:ansible\.builtin\.)?password['"]""")
TEMPLATE_SECRET = re.compile(r"client-key-data|\btoken:|password", re.IGNORECASE)
MESSAGE_MODULES = ("debug", "fail", "assert")
MESSAGE_KEYS = ("msg", "var", "fail_msg", "success_msg")
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)


def module_of(task: dict[str, Any]) -> tuple[str, Any] | None:
    for key, args in task.items():
        short = key.rsplit(".", 1)[-1]
        if short in MODULES and (
            key == short or key.startswith(("ansible.builtin.", "kubernetes.core."))
        ):
            return MODULES[short], args
    return None


def dump(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10**6)


def sensitive_in(text: str) -> list[str]:
    for safe in SAFE_USES:
        text = re.sub(safe, " ", text)
    found = {name for name in SENSITIVE if re.search(rf"(?<![\w.]){re.escape(name)}\b", text)}
    if PASSWORD_LOOKUP.search(text):
        found.add("lookup('password')")
    return sorted(found)


def message_problems(task: dict[str, Any]) -> list[str]:
    """Rule 7: what a debug, fail or assert task would print of a SENSITIVE variable."""
    modules = {name: name for name in MESSAGE_MODULES}
    modules |= {f"ansible.builtin.{name}": name for name in MESSAGE_MODULES}
    args = next((v for k, v in task.items() if k in modules), None)
    if not isinstance(args, dict) or is_true(task.get("no_log")):
        return []
    text = dump({k: v for k, v in args.items() if k in MESSAGE_KEYS})
    names = "|".join(re.escape(name) for name in SENSITIVE)
    # Harmless parts: a failed command's error, a module's own message (and nothing of
    # the value), and a loop's subject (its body is checked like any other text).
    text = re.sub(rf"(?<![\w.])(?:{names})\s*\.\s*(?:stderr_lines|stderr|rc|msg)\b", " ", text)
    text = re.sub(rf"(\{{%-?\s*for\s+\w+\s+in\s+)(?:{names})\b", r"\1 ", text)
    secrets = sensitive_in(text)
    return [f"prints {', '.join(secrets)} in a message without no_log: true"] if secrets else []


def template_holds_secret(path: Path | None, src: Any) -> bool:
    """Rule 6: whether a role's template src (a name, or names from a loop) holds secrets."""
    if path is None or not isinstance(src, str) or "roles" not in path.parts:
        return False
    file = path.parents[1] / "templates" / src
    if not file.is_file():
        return False
    text = file.read_text()
    return bool(TEMPLATE_SECRET.search(text) or sensitive_in(text))


def is_true(value: Any) -> bool:
    return value is True


def problems(
    task: dict[str, Any], local_cluster: bool = False, path: Path | None = None
) -> list[str]:
    """What task breaks of the rules in the module docstring (empty: nothing)."""
    found = module_of(task)
    if found is None:
        return message_problems(task)
    module, args = found
    # Conditions are printed as their text at most, never with the values they read.
    text = dump({k: v for k, v in task.items() if k not in CONDITIONS})
    secrets = sensitive_in(text)
    no_log = is_true(task.get("no_log"))
    args = args if isinstance(args, dict) else {"_raw_params": args}
    out = []
    # 1: results printed at -v.
    if secrets and not no_log:
        out.append(f"references {', '.join(secrets)} without no_log: true")
    if module == "k8s":
        state = args.get("state", "present")
        applied = dump(args)
        kind = str(args.get("kind", ""))
        # 2: the diff of an apply.
        carries_secret = re.search(r"\bSecret\b|secret[^/\s'\"]*\.j2", applied)
        if (
            state != "absent"
            and (secrets or carries_secret)
            and not (no_log and task.get("diff") is False)
        ):
            out.append("applies secret data without no_log: true and diff: false")
        # 4: the answer of a delete.
        if state == "absent" and not no_log:
            hidden = set(args.get("hidden_fields") or [])
            if "{{" in kind:
                out.append("deletes a templated kind without no_log: true")
            elif kind in POD_KINDS and "spec" not in hidden:
                out.append(f"deletes a {kind} without hidden_fields [spec] or no_log: true")
            elif kind in DATA_KINDS and "data" not in hidden:
                out.append(f"deletes a {kind} without hidden_fields [data] or no_log: true")
    # 3: reads of objects that carry chart values or Secret data.
    if module == "k8s_info" and not no_log:
        kind = str(args.get("kind", ""))
        if kind == "Secret" or (kind in POD_KINDS and not local_cluster):
            out.append(f"reads {kind} objects without no_log: true")
    # 6: a --diff of a file written from a template that holds a key, token or password.
    if module == "template" and not (no_log or task.get("diff") is False):
        sources = [args.get("src")]
        if "{{" in str(args.get("src")) and isinstance(task.get("loop"), list):
            sources = [i.get("src") for i in task["loop"] if isinstance(i, dict)]
        if any(template_holds_secret(path, src) for src in sources):
            out.append("writes a template holding a key, token or password without diff: false")
    if module in ("command", "shell"):
        line = args.get("argv") or args.get("cmd") or args.get("_raw_params") or ""
        line = " ".join(map(str, line)) if isinstance(line, list) else str(line)
        kinds = r"\b(?:deployments?|replicasets?|pods?|jobs?|secrets?|configmaps?)\b"
        if (
            not no_log
            and re.search(r"\bkubectl\b.*\bget\b", line)
            and re.search(kinds, line.replace(",", " "))
            and re.search(r"\b(?:json|yaml)\b", line)
        ):
            out.append("prints objects read by kubectl get without no_log: true")
        # 5: ps shows argv.
        in_argv = sensitive_in(" ".join(JINJA.findall(line)))
        if in_argv:
            out.append(f"puts {', '.join(in_argv)} in a command line (use stdin or environment)")
        if ARGV_PASSWORD.search(line):
            out.append("passes a password or token on a command line (use stdin)")
    return out


def label(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_the_task_files_are_found() -> None:
    names = {label(p) for p in TASK_FILES}
    assert {"playbooks/deploy.yml", "roles/release/tasks/main.yml"} <= names
    assert sum(1 for p in TASK_FILES for _ in all_tasks(p)) > 200


@pytest.mark.parametrize("path", TASK_FILES, ids=label)
def test_no_task_prints_or_passes_a_secret(path: Path) -> None:
    local_cluster = "roles/local_cluster/" in label(path)
    found = [
        f"{task.get('name', '?')}: {problem}"
        for task in all_tasks(path)
        for problem in problems(task, local_cluster, path)
    ]
    assert found == [], f"{label(path)}:\n  " + "\n  ".join(found)


# The check can fail: each of these breaks one rule.
BAD_TASKS: dict[str, dict[str, Any]] = {
    "set_fact of chart values": {
        "ansible.builtin.set_fact": {"x": "{{ zdk_values | combine(zdk_extra_values) }}"}
    },
    "helm template output printed": {
        "ansible.builtin.command": {
            "argv": ["helm", "template", "r", "c"],
            "stdin": "{{ zdk_values }}",
        },
        "register": "zdk_template",
    },
    "rendered manifest read": {
        "ansible.builtin.set_fact": {"m": "{{ release_current.manifest }}"},
    },
    "values on a command line": {
        "ansible.builtin.command": {
            "argv": ["helm", "upgrade", "--set-json", "{{ release_values | to_json }}"]
        },
        "no_log": True,
    },
    "password in psql -c": {
        "ansible.builtin.shell": {"cmd": "psql -c \"ALTER ROLE app PASSWORD '${PW}'\""},
        "environment": {"PW": "{{ __local_cluster_db_password }}"},
        "no_log": True,
    },
    "Secret applied with a diff": {
        "kubernetes.core.k8s": {"definition": {"kind": "Secret", "stringData": {"a": "b"}}},
        "no_log": True,
    },
    "token Secret template without no_log": {
        "kubernetes.core.k8s": {"definition": "{{ lookup('template', 'token-secret.yaml.j2') }}"},
        "diff": False,
    },
    "Secret read": {"kubernetes.core.k8s_info": {"kind": "Secret", "name": "db"}},
    "Job read": {"kubernetes.core.k8s_info": {"kind": "Job", "name": "{{ migrate_job_name }}"}},
    "pods listed as JSON": {
        "ansible.builtin.command": {"argv": ["kubectl", "get", "deployment,pod", "-o", "json"]}
    },
    "chart values in a debug message": {
        "ansible.builtin.debug": {"msg": "values: {{ zdk_values | to_nice_yaml }}"}
    },
    "Secret read shown by fail": {
        "ansible.builtin.fail": {"msg": "{{ zdk_db_secret.resources }}"},
    },
    "password lookup in a set_fact": {
        "ansible.builtin.set_fact": {"pw": "{{ lookup('ansible.builtin.password', '/x/pw') }}"}
    },
    "pod deleted with its spec answered": {
        "kubernetes.core.k8s": {"kind": "Pod", "name": "p", "state": "absent"}
    },
}
GOOD_TASKS: dict[str, dict[str, Any]] = {
    "names only": {
        "kubernetes.core.k8s": {
            "kind": "Pod",
            "name": "{{ verify_check_pod.metadata.name }}",
            "state": "absent",
            "hidden_fields": ["spec"],
        }
    },
    "release version": {
        "ansible.builtin.set_fact": {
            "v": "{{ release_current.version }} {{ release_current.revision }}"
        }
    },
    "workload names": {
        "ansible.builtin.set_fact": {"w": "{{ release_current.manifest | zdk_workload }}"}
    },
    "values on stdin": {
        "ansible.builtin.command": {"argv": ["helm", "template", "--values", "/dev/stdin"]},
        "stdin": "{{ zdk_values | to_nice_yaml }}",
        "no_log": True,
    },
    "password on stdin": {
        "ansible.builtin.shell": {"cmd": 'printf "ALTER ROLE a PASSWORD \'%s\';" "$pw" | psql'},
        "environment": {"PW": "{{ __local_cluster_db_password }}"},
        "no_log": True,
    },
    "Secret applied quietly": {
        "kubernetes.core.k8s": {"definition": {"kind": "Secret"}},
        "no_log": True,
        "diff": False,
    },
    "a failed render's error": {
        "ansible.builtin.fail": {
            "msg": "helm failed: {{ zdk_template.stderr_lines | last }} ({{ zdk_template.rc }})"
        }
    },
    "pod names looped over": {
        "ansible.builtin.debug": {
            "msg": "{% for p in zdk_pods %}{{ p.metadata.name }} {% endfor %}"
        }
    },
    "version read through kubectl": {
        "ansible.builtin.command": {
            "argv": ["kubectl", "get", "--raw", "/api/v1/namespaces/n/pods/p:80/proxy/health"]
        }
    },
}


@pytest.mark.parametrize("name", BAD_TASKS)
def test_the_check_catches(name: str) -> None:
    assert problems({"name": name, **BAD_TASKS[name]}) != []


@pytest.mark.parametrize("name", GOOD_TASKS)
def test_the_check_passes(name: str) -> None:
    assert problems({"name": name, **GOOD_TASKS[name]}) == []


def test_the_check_catches_a_kubeconfig_template_with_a_diff() -> None:
    """Rule 6 reads the role's template: kubeconfig.j2 of local_cluster holds a client key."""
    path = REPO / "roles/local_cluster/tasks/config.yml"
    task = {"ansible.builtin.template": {"src": "kubeconfig.j2", "dest": "/x"}}
    assert problems(task, True, path) != []
    assert problems({**task, "diff": False}, True, path) == []
    harmless = {"ansible.builtin.template": {"src": "kubelet.yaml.j2", "dest": "/x"}}
    assert problems(harmless, True, path) == []
