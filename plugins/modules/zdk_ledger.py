#!/usr/bin/python
"""The ledger of verify verdicts per Helm revision (ConfigMap <release>-deploy-ledger)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: zdk_ledger
short_description: Read or write which Helm revisions of a release passed verify
description:
  - One ConfigMap per release, one key per Helm revision, each a JSON object
    C({verdict, version, digest, updated, at, by, reason}). C(verdict) is C(verified)
    only after verify passed on that revision, C(failed) when it failed.
  - C(updated) is Helm's own timestamp of the revision, so that a reinstalled release
    (revision numbers start again) does not inherit the old verdicts.
  - Writing is a JSON merge patch of one key (atomic on the API server); revisions older
    than I(keep) below the newest are dropped.
options:
  state: {type: str, default: read, choices: [read, marked]}
  namespace: {type: str, required: true}
  name: {type: str, required: true}
  release: {type: str, required: true}
  revision: {type: int, default: 0}
  verdict: {type: str, choices: [verified, failed], default: verified}
  version: {type: str, default: ""}
  digest: {type: str, default: ""}
  updated: {type: str, default: ""}
  reason: {type: str, default: ""}
  by: {type: str, default: ""}
  keep: {type: int, default: 50}
  kubeconfig: {type: path}
  context: {type: str}
author: fastapi-zdk
"""

import json
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.zdk_kube import (
    KUBE_ARGS,
    ApiAnswerError,
    api_client,
    api_reason,
    now_micro,
    raw_call,
)


def entries_of(config_map: dict[str, Any] | None) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for key, value in ((config_map or {}).get("data") or {}).items():
        try:
            entries[key] = json.loads(value)
        except ValueError:
            continue
    return entries


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "default": "read", "choices": ["read", "marked"]},
            "namespace": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "release": {"type": "str", "required": True},
            "revision": {"type": "int", "default": 0},
            "verdict": {"type": "str", "default": "verified", "choices": ["verified", "failed"]},
            "version": {"type": "str", "default": ""},
            "digest": {"type": "str", "default": ""},
            "updated": {"type": "str", "default": ""},
            "reason": {"type": "str", "default": ""},
            "by": {"type": "str", "default": ""},
            "keep": {"type": "int", "default": 50},
            **KUBE_ARGS,
        },
        supports_check_mode=True,
    )
    p = module.params
    api = api_client(p["kubeconfig"], p["context"])
    resource = f"/api/v1/namespaces/{p['namespace']}/configmaps"
    try:
        status, answer = raw_call(api, "GET", f"{resource}/{p['name']}")
        if status not in (200, 404):
            raise ApiAnswerError(status, answer)
        current = json.loads(answer) if status == 200 else None
        entries = entries_of(current)
        if p["state"] == "read" or module.check_mode:
            module.exit_json(changed=False, entries=entries)
        if p["revision"] < 1:
            module.fail_json(msg="zdk_ledger: state=marked needs a revision")
        entry = {
            "verdict": p["verdict"],
            "version": p["version"],
            "digest": p["digest"],
            "updated": p["updated"],
            "at": now_micro(),
            "by": p["by"],
            "reason": p["reason"][:300],
        }
        data: dict[str, Any] = {str(p["revision"]): json.dumps(entry, sort_keys=True)}
        newest = max([p["revision"], *(int(k) for k in entries if k.isdigit())])
        for key in entries:
            if not key.isdigit() or int(key) <= newest - p["keep"]:
                data[key] = None
        if current is None:
            body = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": p["name"],
                    "namespace": p["namespace"],
                    "labels": {
                        "app.kubernetes.io/managed-by": "fastapi-zdk",
                        "app.kubernetes.io/instance": p["release"],
                    },
                },
                "data": {k: v for k, v in data.items() if v is not None},
            }
            status, answer = raw_call(api, "POST", resource, body=body)
            if status == 409:
                status, answer = patch(api, f"{resource}/{p['name']}", data)
        else:
            status, answer = patch(api, f"{resource}/{p['name']}", data)
        if status not in (200, 201):
            raise ApiAnswerError(status, answer)
        entries.update({str(p["revision"]): entry})
        module.exit_json(
            changed=True, entries={k: v for k, v in entries.items() if data.get(k, "") is not None}
        )
    except Exception as error:
        module.fail_json(msg=f"ledger {p['namespace']}/{p['name']}: {api_reason(error)}")


def patch(api: Any, resource: str, data: dict[str, Any]) -> tuple[int, bytes]:
    """A JSON merge patch of the ledger's keys (None deletes one)."""
    status, answer = raw_call(
        api, "PATCH", resource, body={"data": data}, content_type="application/merge-patch+json"
    )
    return int(status), bytes(answer)


if __name__ == "__main__":
    main()
