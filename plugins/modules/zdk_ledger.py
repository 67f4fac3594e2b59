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
from typing import Any, cast

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.zdk_kube import KUBE_ARGS, api_client, api_reason, api_status, now_micro


def entries_of(config_map: Any) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    for key, value in ((config_map.data if config_map else None) or {}).items():
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
    from kubernetes import client

    p = module.params
    api = client.CoreV1Api(api_client(p["kubeconfig"], p["context"]))
    try:
        try:
            current = api.read_namespaced_config_map(p["name"], p["namespace"])
        except Exception as error:
            if api_status(error) != 404:
                raise
            current = None
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
            try:
                api.create_namespaced_config_map(p["namespace"], cast(Any, body))
            except Exception as error:
                if api_status(error) != 409:
                    raise
                api.patch_namespaced_config_map(p["name"], p["namespace"], {"data": data})
        else:
            api.patch_namespaced_config_map(p["name"], p["namespace"], {"data": data})
        entries.update({str(p["revision"]): entry})
        module.exit_json(
            changed=True, entries={k: v for k, v in entries.items() if data.get(k, "") is not None}
        )
    except Exception as error:
        module.fail_json(msg=f"ledger {p['namespace']}/{p['name']}: {api_reason(error)}")


if __name__ == "__main__":
    main()
