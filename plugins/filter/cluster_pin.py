"""The wrong-cluster guard. An inventory may pin the cluster it belongs to by the SHA-256
fingerprint of the API server's CA (what `kubectl` trusts, so a kubeconfig or context that
points elsewhere cannot pass) and the namespace it deploys to:

    zdk_cluster_pin:
      ca_sha256: "5f:0e:…"      # openssl x509 -noout -fingerprint -sha256 (colons optional)
      namespace: fastapi-app

`zdk_cluster_pin_problem(kubeconfig_text, pin, context, namespace, kubeconfig_dir)` is "" when
the context's cluster matches the pin (or nothing is pinned), else the reason in one line."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from pathlib import Path
from typing import Any

import yaml

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
PIN_KEYS = ("ca_sha256", "namespace")


def normalize_fingerprint(text: str) -> str:
    """`SHA256 Fingerprint=AB:CD:…`, `sha256:abcd…` or bare hex, as 64 lower-case hex digits."""
    value = str(text).strip().lower()
    value = value.split("=", 1)[-1]
    value = value.removeprefix("sha256:")
    return value.replace(":", "").strip()


def pem_fingerprints(pem: str) -> list[str]:
    """SHA-256 of each certificate's DER bytes in a PEM bundle."""
    found = []
    for body in _PEM.findall(pem):
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except binascii.Error:
            continue
        found.append(hashlib.sha256(der).hexdigest())
    return found


def _short(fingerprint: str) -> str:
    return "sha256:" + ":".join(fingerprint[i : i + 2] for i in range(0, 16, 2)) + ":…"


def _cluster_of(config: dict[str, Any], context: str) -> tuple[dict[str, Any] | None, str]:
    name = context or config.get("current-context") or ""
    contexts = {c.get("name"): c.get("context") or {} for c in config.get("contexts") or []}
    if name not in contexts:
        return None, f"context {name or '(none)'} is not in the kubeconfig"
    clusters = {c.get("name"): c.get("cluster") or {} for c in config.get("clusters") or []}
    cluster = clusters.get(contexts[name].get("cluster"))
    if cluster is None:
        return None, f"context {name} names a cluster the kubeconfig does not have"
    return cluster, ""


def cluster_pin_problem(
    kubeconfig: str,
    pin: dict[str, Any] | None,
    context: str = "",
    namespace: str = "",
    kubeconfig_dir: str = ".",
) -> str:
    """Why this kubeconfig context and namespace are not the pinned ones, or ""."""
    pin = {k: v for k, v in (pin or {}).items() if v not in (None, "")}
    unknown = sorted(set(pin) - set(PIN_KEYS))
    if unknown:
        return f"zdk_cluster_pin: unknown key {', '.join(unknown)} (known: {', '.join(PIN_KEYS)})"
    if "namespace" in pin and str(pin["namespace"]) != namespace:
        return (
            f"wrong namespace: {namespace} is not {pin['namespace']}, the one this inventory is "
            "pinned to (zdk_cluster_pin.namespace)"
        )
    if "ca_sha256" not in pin:
        return ""
    wanted = normalize_fingerprint(pin["ca_sha256"])
    if not _HEX64.match(wanted):
        return (
            f'zdk_cluster_pin.ca_sha256 "{pin["ca_sha256"]}" is not a SHA-256 fingerprint '
            "(openssl x509 -noout -fingerprint -sha256 -in ca.crt)"
        )
    try:
        config = yaml.safe_load(kubeconfig) or {}
    except yaml.YAMLError:
        return "the kubeconfig is not valid YAML: cannot check the cluster pin"
    cluster, problem = _cluster_of(config, context)
    if cluster is None:
        return problem
    if cluster.get("insecure-skip-tls-verify"):
        return (
            "the kubeconfig skips TLS verification: a pinned cluster must be reached through its CA"
        )
    if cluster.get("certificate-authority-data"):
        try:
            pem = base64.b64decode(cluster["certificate-authority-data"]).decode("ascii", "replace")
        except (binascii.Error, ValueError):
            return "the kubeconfig's certificate-authority-data is not base64"
    elif cluster.get("certificate-authority"):
        path = Path(kubeconfig_dir, str(cluster["certificate-authority"])).expanduser()
        try:
            pem = path.read_text(errors="replace")
        except OSError as error:
            return f"cannot read the cluster CA {path}: {error.strerror}"
    else:
        return "the kubeconfig names no CA for the cluster (system roots): cannot check the pin"
    found = pem_fingerprints(pem)
    if not found:
        return "the kubeconfig's CA holds no certificate: cannot check the pin"
    if wanted in found:
        return ""
    server = cluster.get("server", "the server")
    where = f"{server} (context {context or config.get('current-context')})"
    return (
        f"wrong cluster: {where} "
        f"is served under CA {_short(found[0])}, this inventory is pinned to {_short(wanted)}"
    )


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"zdk_cluster_pin_problem": cluster_pin_problem}
