#!/usr/bin/python
"""The deploy lock: a coordination.k8s.io/v1 Lease that one run at a time holds."""

from __future__ import annotations

DOCUMENTATION = r"""
module: zdk_lease
short_description: Take, keep, check and give back the deploy lock (a Lease)
description:
  - C(acquired) takes the Lease for a new holder identity, unique per run
    (C(user@host:<random>)). A Lease held by someone else is judged the way Kubernetes
    leader election does, by watching it rather than by comparing clocks; if its
    resourceVersion changes within its leaseDurationSeconds, its holder is alive and
    the call fails with the holder's name, otherwise it is taken over with a
    compare-and-swap replace. Losing a create or replace race also fails.
  - C(renewing) is the background renewer (run it with C(async), C(poll 0)). It renews
    renewTime every I(renew_every) seconds while the ansible-playbook run that took the
    lock lives. When that run ends without giving the lock back (SIGINT, SIGTERM,
    SIGKILL), it stops what the run left running and deletes the Lease, so the lock
    is free within seconds; if the renewer dies too, the Lease expires after
    I(duration) seconds. It stops when the Lease is no longer ours.
  - C(fenced) fails unless the Lease is still ours (uid and holder) and was renewed
    recently by our renewer (same clock); run it right before every helm change.
  - C(released) deletes the Lease only if its uid and holder are ours, and stops the
    renewer (waiting up to 3 s for it to acknowledge).
options:
  state: {type: str, required: true, choices: [acquired, renewing, fenced, released]}
  namespace: {type: str, required: true}
  name: {type: str, required: true}
  holder: {type: str, default: ""}
  uid: {type: str, default: ""}
  purpose: {type: str, default: ""}
  duration: {type: int, default: 60}
  renew_every: {type: float, default: 5}
  wait: {type: bool, default: true}
  run_pid: {type: int, default: 0}
  run_start: {type: str, default: ""}
  kubeconfig: {type: path}
  context: {type: str}
author: fastapi-zdk
"""

import getpass
import os
import secrets
import socket
import tempfile
import time
from typing import Any, cast

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.zdk_kube import (
    KUBE_ARGS,
    api_client,
    api_reason,
    api_status,
    now_micro,
    parse_time,
)
from ansible.module_utils.zdk_process import (
    Proc,
    cmdline,
    descendants,
    end_processes,
    forks_of,
    private_fds,
    run_process,
)

PURPOSE = "fastapi-zdk.io/purpose"
RUN = "fastapi-zdk.io/run"


def stop_file(uid: str) -> str:
    """Where `released` tells this run's renewer to stop (same host, same uid)."""
    return os.path.join(tempfile.gettempdir(), f"zdk-lease-{uid}.stop")


def stop_renewer(uid: str, wait: float = 3) -> str:
    """Tell this run's renewer to end and wait until it has read the word (it removes
    the stop file); a renewer that ended before never reads it, so remove it then."""
    path = stop_file(uid)
    with open(path, "w", encoding="ascii"):
        pass
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not os.path.exists(path):
            return "stopped"
        time.sleep(0.1)
    try:
        os.unlink(path)
    except FileNotFoundError:  # the renewer read it in the last instant
        return "stopped"
    return "had already ended"


class Refused(Exception):
    """The lock is someone else's."""


class Lock:
    def __init__(self, module: AnsibleModule) -> None:
        from kubernetes import client

        self.module = module
        self.params = module.params
        self.api = client.CoordinationV1Api(
            api_client(self.params["kubeconfig"], self.params["context"])
        )
        self.namespace = self.params["namespace"]
        self.name = self.params["name"]
        self.run_desc = ""

    # ------------------------------------------------------------ reading
    def read(self) -> Any:
        try:
            return self.api.read_namespaced_lease(self.name, self.namespace)
        except Exception as error:
            if api_status(error) == 404:
                return None
            raise

    @staticmethod
    def describe(lease: Any) -> str:
        spec = lease.spec
        annotations = lease.metadata.annotations or {}
        since = spec.acquire_time.strftime("%Y-%m-%dT%H:%M:%SZ") if spec.acquire_time else "?"
        purpose = annotations.get(PURPOSE, "")
        return f"{spec.holder_identity}" + (
            f" ({purpose}, since {since})" if purpose else f" (since {since})"
        )

    # ------------------------------------------------------------ acquire
    def body(self, holder: str, previous: Any) -> dict[str, Any]:
        now = now_micro()
        metadata: dict[str, Any] = {
            "name": self.name,
            "namespace": self.namespace,
            "labels": {"app.kubernetes.io/managed-by": "fastapi-zdk"},
            "annotations": {PURPOSE: self.params["purpose"], RUN: self.run_desc},
        }
        transitions = 0
        if previous is not None:
            metadata["resourceVersion"] = previous.metadata.resource_version
            transitions = int(previous.spec.lease_transitions or 0) + 1
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": self.params["duration"],
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": transitions,
            },
        }

    def refused(self, lease: Any) -> Refused:
        """The one refusal line, naming whoever holds the Lease now."""
        holder = self.describe(lease) if lease else "(taken and released meanwhile; try again)"
        return Refused(f"another deploy holds the lock: {holder}")

    def create_or_refuse(self, holder: str) -> Any:
        try:
            return self.api.create_namespaced_lease(
                self.namespace, cast(Any, self.body(holder, None))
            )
        except Exception as error:
            if api_status(error) != 409:  # 409 AlreadyExists: another run was faster
                raise
            raise self.refused(self.read()) from None

    def acquire(self, holder: str) -> dict[str, Any]:
        started = time.monotonic()
        first = self.read()
        if first is None:
            lease = self.create_or_refuse(holder)
            return {"lease": lease, "taken_over_from": ""}
        if first.spec.holder_identity == holder:
            return {"lease": first, "taken_over_from": ""}
        if not self.params["wait"]:
            raise self.refused(first)
        # Leader-election rule: the holder is alive if the record changes within its
        # lease duration, measured on our own monotonic clock from our first read.
        duration = int(first.spec.lease_duration_seconds or self.params["duration"])
        deadline = started + duration + 1
        while time.monotonic() < deadline:
            time.sleep(1)
            seen = self.read()
            if seen is None:
                lease = self.create_or_refuse(holder)
                return {"lease": lease, "taken_over_from": ""}
            if seen.metadata.resource_version != first.metadata.resource_version:
                raise self.refused(seen)
        try:
            lease = self.api.replace_namespaced_lease(
                self.name, self.namespace, cast(Any, self.body(holder, first))
            )
        except Exception as error:
            if api_status(error) not in (404, 409):  # someone else took or freed it first
                raise
            raise self.refused(self.read()) from None
        return {
            "lease": lease,
            "taken_over_from": f"{first.spec.holder_identity} (not renewed for {duration}s)",
        }

    # ------------------------------------------------------------ renew
    def renew(self, holder: str, uid: str) -> None:
        patch = [
            {"op": "test", "path": "/metadata/uid", "value": uid},
            {"op": "test", "path": "/spec/holderIdentity", "value": holder},
            {"op": "replace", "path": "/spec/renewTime", "value": now_micro()},
        ]
        self.api.patch_namespaced_lease(self.name, self.namespace, patch)

    def delete_if_ours(self, holder: str, uid: str) -> bool:
        from kubernetes import client

        for _ in range(5):
            lease = self.read()
            if lease is None or lease.metadata.uid != uid or lease.spec.holder_identity != holder:
                return False
            try:
                self.api.delete_namespaced_lease(
                    self.name,
                    self.namespace,
                    body=client.V1DeleteOptions(
                        preconditions=client.V1Preconditions(
                            uid=uid, resource_version=lease.metadata.resource_version
                        )
                    ),
                )
                return True
            except Exception as error:
                if api_status(error) == 404:
                    return False
                if api_status(error) != 409:
                    raise
        return False

    def keep(self, holder: str, uid: str, run: Proc | None) -> dict[str, Any]:
        """The renewer's loop; returns how it ended."""
        renew_every = float(self.params["renew_every"])
        duration = int(self.params["duration"])
        last_ok = time.monotonic()
        next_renewal = last_ok + renew_every
        family: set[Proc] = set()
        run_cmdline = cmdline(run.pid) if run is not None else []
        run_fds: set[str] = set()
        stop = stop_file(uid)
        next_look = 0.0
        while True:
            if os.path.exists(stop):
                os.unlink(stop)
                return {"ended": "released by the run"}
            if run is not None and not run.alive():
                # What the run left: the processes seen under it, and workers it forked
                # after the last look (found by the queues they share with it).
                left = {p for p in family if p.alive()} | forks_of(run_cmdline, run_fds)
                left |= descendants(list(left))
                ended = end_processes(left) if left else 0
                try:
                    deleted = self.delete_if_ours(holder, uid)
                except Exception as error:  # the Lease then expires after `duration`
                    return {
                        "ended": "run gone",
                        "stopped_processes": ended,
                        "reason": api_reason(error),
                    }
                return {"ended": "run gone", "stopped_processes": ended, "released": deleted}
            if run is not None and time.monotonic() >= next_look:
                # A look at the whole process table once a second; the checks above
                # (stop file, is the run alive) are cheap and run five times as often.
                family = descendants([run]) or family
                run_fds = private_fds(run.pid) or run_fds
                next_look = time.monotonic() + 1
            if time.monotonic() >= next_renewal:
                try:
                    self.renew(holder, uid)
                    last_ok = time.monotonic()
                except Exception as error:
                    status = api_status(error)
                    if status in (404, 409, 422):
                        lease = self.read()
                        return {
                            "ended": "lost",
                            "holder_now": lease.spec.holder_identity if lease else "",
                            "reason": api_reason(error),
                        }
                    if time.monotonic() - last_ok > duration:
                        return {"ended": "expired", "reason": api_reason(error)}
                next_renewal = time.monotonic() + renew_every
            time.sleep(0.2)

    # ------------------------------------------------------------ fence
    def fence(self, holder: str, uid: str) -> str:
        """ "" when the lock is still ours and kept alive, else why not."""
        lease = self.read()
        if lease is None:
            return "deploy lock lost: the Lease was deleted"
        if lease.metadata.uid != uid or lease.spec.holder_identity != holder:
            return "deploy lock lost: now held by " + self.describe(lease)
        renewed = parse_time(lease.spec.renew_time)
        # Our renewer wrote renewTime with this host's clock: comparing is sound here.
        age = time.time() - renewed.timestamp() if renewed else float("inf")
        if age > int(lease.spec.lease_duration_seconds or self.params["duration"]) / 2:
            return f"deploy lock not renewed for {age:.0f}s (its renewer stopped)"
        return ""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {
                "type": "str",
                "required": True,
                "choices": ["acquired", "renewing", "fenced", "released"],
            },
            "namespace": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "holder": {"type": "str", "default": ""},
            "uid": {"type": "str", "default": ""},
            "purpose": {"type": "str", "default": ""},
            "duration": {"type": "int", "default": 60},
            "renew_every": {"type": "float", "default": 5},
            "wait": {"type": "bool", "default": True},
            "run_pid": {"type": "int", "default": 0},
            "run_start": {"type": "str", "default": ""},
            **KUBE_ARGS,
        },
        supports_check_mode=False,
    )
    params = module.params
    state = params["state"]
    try:
        lock = Lock(module)
        if state == "acquired":
            run = run_process()
            holder = params["holder"] or (
                f"{getpass.getuser()}@{socket.gethostname()}:{secrets.token_hex(4)}"
            )
            lock.run_desc = f"pid {run.pid}" if run else ""
            started = time.monotonic()
            got = lock.acquire(holder)
            lease = got["lease"]
            module.exit_json(
                changed=True,
                holder=holder,
                uid=lease.metadata.uid,
                run_pid=run.pid if run else 0,
                run_start=run.start if run else "",
                taken_over_from=got["taken_over_from"],
                waited=round(time.monotonic() - started, 1),
            )
        if not params["holder"] or not params["uid"]:
            module.fail_json(msg=f"zdk_lease state={state} needs holder and uid from acquired")
        if state == "renewing":
            run = Proc(params["run_pid"], params["run_start"]) if params["run_pid"] else None
            module.exit_json(changed=False, **lock.keep(params["holder"], params["uid"], run))
        if state == "fenced":
            problem = lock.fence(params["holder"], params["uid"])
            if problem:
                module.fail_json(msg=problem)
            module.exit_json(changed=False)
        deleted = lock.delete_if_ours(params["holder"], params["uid"])
        module.exit_json(changed=deleted, renewer=stop_renewer(params["uid"]))
    except Refused as refused:
        module.fail_json(msg=str(refused), refused=True)
    except Exception as error:
        module.fail_json(
            msg=f"deploy lock {params['namespace']}/{params['name']}: {api_reason(error)}"
        )


if __name__ == "__main__":
    main()
