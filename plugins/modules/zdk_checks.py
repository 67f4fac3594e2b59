#!/usr/bin/python
"""Smoke checks on single pods and the analysis window after a rollout."""

from __future__ import annotations

DOCUMENTATION = r"""
module: zdk_checks
short_description: Prove that pods work, not only that they run
description:
  - C(state=smoked) sends each request of I(checks) to each pod of I(pods) through the API
    server's pod proxy (the pods need not be behind a Service) and fails on the first answer
    that is not the expected status, naming the pod, the request and the status.
  - C(state=versions) asks each pod of I(pods) for the JSON at I(path) and returns
    I(versions), each pod's C(version) field, or why there is none (C(unreachable),
    C(HTTP 404), C(not JSON), C(no version)). A pod is asked again for up to
    I(unreachable_seconds) while it does not answer 200.
  - Pods are asked concurrently, by one client: one task, however many replicas.
  - C(state=analysed) watches the pods of I(pods)' ReplicaSet (same C(pod-template-hash),
    found through I(selector)) for I(seconds) and fails at once on a container restart
    (with its reason, e.g. OOMKilled), a failed pod, a pod that was ready and is not, or a
    share of 5xx answers above I(max_5xx_ratio) in the app's own counters (I(metric) at
    I(metrics_path) of each pod). Pods that appear during the window (an HPA scaling up)
    are smoke-checked once ready and judged like the others; pods being deleted are not
    failures.
options:
  state: {type: str, required: true, choices: [smoked, versions, analysed]}
  namespace: {type: str, required: true}
  port: {type: int, required: true}
  pods: {type: list, elements: str, required: true}
  checks: {type: list, elements: dict, default: []}
  path: {type: str, default: /health}
  selector: {type: str, default: ""}
  seconds: {type: float, default: 30}
  poll_seconds: {type: float, default: 2}
  max_5xx_ratio: {type: float, default: 0.05}
  min_requests: {type: int, default: 20}
  metrics_path: {type: str, default: /metrics}
  metric: {type: str, default: http_requests_total}
  unreachable_seconds: {type: float, default: 10}
  kubeconfig: {type: path}
  context: {type: str}
author: fastapi-zdk
"""

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.zdk_kube import KUBE_ARGS, api_client, api_reason, raw_call
from ansible.module_utils.zdk_smoke import (
    Answer,
    PodWatch,
    Tally,
    check_problem,
    container_restarts,
    describe_check,
    is_leaving,
    is_ready,
    pod_problem,
    proxy_request,
    request_counts,
)

TEMPLATE_HASH = "pod-template-hash"
# Requests in flight at once: the API server proxies each; 20 replicas take two rounds.
MAX_CONCURRENT = 10

T = TypeVar("T")


def each_pod(pods: list[str], ask: Callable[[str], T]) -> list[T]:
    """ask(pod) for every pod, concurrently; the answers in the pods' order."""
    if len(pods) <= 1:
        return [ask(pod) for pod in pods]
    with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT, len(pods))) as pool:
        return list(pool.map(ask, pods))


class Checker:
    def __init__(self, module: AnsibleModule) -> None:
        self.params = module.params
        self.api = api_client(self.params["kubeconfig"], self.params["context"])
        self.namespace: str = self.params["namespace"]
        self.port: int = self.params["port"]

    def smoke(self, pod: str) -> tuple[str, list[dict[str, Any]]]:
        """('' or the failure, what each check answered) for one pod. A pod the proxy
        cannot reach yet is asked again for up to unreachable_seconds."""
        answers = []
        for check in self.params["checks"]:
            method = str(check.get("method", "GET")).upper()
            expected = int(check.get("status", 200))
            answer = self.ask(
                pod, method, check["path"], check.get("body"), until=lambda a: a.reached
            )
            answers.append({"pod": pod, "request": describe_check(check), "status": answer.status})
            failed = f"smoke check failed on pod {pod}: {describe_check(check)}"
            if not answer.reached:
                return f"{failed} did not reach the pod ({answer.short_body()})", answers
            if answer.status != expected:
                why = f"answered {answer.status}, expected {expected} ({answer.short_body()})"
                return f"{failed} {why}", answers
        return "", answers

    def ask(
        self,
        pod: str,
        method: str,
        path: str,
        body: Any = None,
        *,
        until: Callable[[Answer], bool],
        timeout: float = 10,
    ) -> Answer:
        """One request to the pod, sent again every second for up to unreachable_seconds
        while its answer does not satisfy `until` (a pod the proxy cannot reach yet)."""
        deadline = time.monotonic() + self.params["unreachable_seconds"]
        while True:
            answer = proxy_request(
                self.api, self.namespace, pod, self.port, method, path, body, timeout=timeout
            )
            if until(answer) or time.monotonic() >= deadline:
                return answer
            time.sleep(1)

    def version(self, pod: str) -> str:
        """The version the pod reports at `path`, or why it reports none."""
        answer = self.ask(
            pod, "GET", self.params["path"], until=lambda a: a.status == 200, timeout=5
        )
        if not answer.reached:
            return "unreachable"
        if answer.status != 200:
            return f"HTTP {answer.status}"
        try:
            version = json.loads(answer.body).get("version")
        except (ValueError, AttributeError):
            return "not JSON"
        return "no version" if version is None else str(version)

    def pod_objects(self, selector: str) -> list[dict[str, Any]]:
        status, data = raw_call(
            self.api, "GET", f"/api/v1/namespaces/{self.namespace}/pods",
            [("labelSelector", selector)],
        )  # fmt: skip
        if status != 200:
            raise RuntimeError(f"listing pods {selector}: HTTP {status}: {data[:200]!r}")
        return list(json.loads(data).get("items") or [])

    def counts(self, pod: str) -> tuple[float, float] | None:
        path = self.params["metrics_path"]
        if not path:
            return None
        answer = proxy_request(self.api, self.namespace, pod, self.port, "GET", path, timeout=5)
        if answer.status != 200:
            return None
        total, errors = request_counts(answer.body, self.params["metric"])
        return float(total), float(errors)

    def analyse(self) -> dict[str, Any]:
        params = self.params
        pods = self.pod_objects(params["selector"])
        hashes = {
            (p["metadata"].get("labels") or {}).get(TEMPLATE_HASH)
            for p in pods
            if p["metadata"]["name"] in params["pods"]
        } - {None}
        if len(hashes) != 1:
            return {
                "failure": f"analysis: cannot tell the new pods' ReplicaSet from {params['pods']}"
            }
        selector = f"{params['selector']},{TEMPLATE_HASH}={hashes.pop()}"
        tally = Tally()
        started = time.monotonic()
        failure = ""
        added: list[str] = []
        metrics_seen = False
        while not failure:
            for pod in self.pod_objects(selector):
                name = pod["metadata"]["name"]
                watch = tally.pods.get(name)
                if watch is None:
                    watch = tally.pods[name] = PodWatch(
                        name, container_restarts(pod), is_ready(pod), smoked=name in params["pods"]
                    )
                    if name not in params["pods"]:
                        added.append(name)
                failure = pod_problem(watch, pod)
                if failure:
                    break
                if is_leaving(pod) or not is_ready(pod):
                    continue
                watch.was_ready = True
                if not watch.smoked:
                    failure, _ = self.smoke(name)
                    watch.smoked = True
                    if failure:
                        break
                counts = self.counts(name)
                if counts is not None:
                    metrics_seen = True
                    if watch.first_counts is None:
                        watch.first_counts = counts
                    watch.last_counts = counts
            failure = failure or tally.error_problem(
                params["max_5xx_ratio"], params["min_requests"]
            )
            if failure or time.monotonic() - started >= params["seconds"]:
                break
            time.sleep(
                min(
                    params["poll_seconds"],
                    max(0.0, params["seconds"] - (time.monotonic() - started)),
                )
            )
        requests, errors = tally.totals()
        restarts = sum(
            max(0, n - w.restarts.get(c, 0))
            for w in tally.pods.values()
            for c, n in w.restarts.items()
        )
        return {
            "failure": failure,
            "seconds": round(time.monotonic() - started, 1),
            "pods": sorted(tally.pods),
            "added_pods": added,
            "requests": requests if metrics_seen else None,
            "errors_5xx": errors if metrics_seen else None,
            "restarts": restarts,
        }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "state": {
                "type": "str",
                "required": True,
                "choices": ["smoked", "versions", "analysed"],
            },
            "namespace": {"type": "str", "required": True},
            "port": {"type": "int", "required": True},
            "pods": {"type": "list", "elements": "str", "required": True},
            "checks": {"type": "list", "elements": "dict", "default": []},
            "path": {"type": "str", "default": "/health"},
            "selector": {"type": "str", "default": ""},
            "seconds": {"type": "float", "default": 30},
            "poll_seconds": {"type": "float", "default": 2},
            "max_5xx_ratio": {"type": "float", "default": 0.05},
            "min_requests": {"type": "int", "default": 20},
            "metrics_path": {"type": "str", "default": "/metrics"},
            "metric": {"type": "str", "default": "http_requests_total"},
            "unreachable_seconds": {"type": "float", "default": 10},
            **KUBE_ARGS,
        },
        supports_check_mode=False,
    )
    for check in module.params["checks"]:
        problem = check_problem(check)
        if problem:
            module.fail_json(msg=f"invalid smoke check: {problem}")
    try:
        checker = Checker(module)
        pods: list[str] = module.params["pods"]
        if module.params["state"] == "versions":
            versions = dict(zip(pods, each_pod(pods, checker.version), strict=True))
            module.exit_json(changed=False, versions=versions)
        if module.params["state"] == "smoked":
            results: list[dict[str, Any]] = []
            # The first failure in the pods' order is the one reported.
            for failure, answers in each_pod(pods, checker.smoke):
                results.extend(answers)
                if failure:
                    module.fail_json(msg=failure, answers=results)
            module.exit_json(changed=False, answers=results, checked=len(results))
        if not module.params["selector"]:
            module.fail_json(msg="analysis needs the release's pod selector")
        outcome = checker.analyse()
    except Exception as error:
        module.fail_json(msg=f"checks: {api_reason(error)}")
    if outcome["failure"]:
        module.fail_json(msg=outcome.pop("failure"), **outcome)
    outcome.pop("failure")
    module.exit_json(changed=False, **outcome)


if __name__ == "__main__":
    main()
