"""One shutdown timeline: docs/contracts.md's table, the sample's Dockerfile, the chart's
values.yaml and the fastapi_zdk library (and its gunicorn configuration) name the same
defaults for the same variables."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import yaml

from ._chart import CHART, REPO, container, env, one, render

CONTRACTS = REPO / "docs/contracts.md"
DOCKERFILE = REPO / "app/Dockerfile"


def contract_rows() -> dict[str, tuple[str, str]]:
    """variable -> (chart value path or '(none)', default) from the contracts table."""
    section = CONTRACTS.read_text().split("## Container command and the shutdown timeline", 1)[1]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[A-Z_]+", cells[0]):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def dockerfile_env() -> dict[str, str]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            found.update(re.findall(r"([A-Z_]+)=(\S+)", line))
    return found


def value_at(values: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        values = values[key]
    return values


def library_defaults() -> dict[str, Any]:
    """What fastapi_zdk and its gunicorn configuration use with an empty environment."""
    script = (
        "import json; from fastapi_zdk import LifecycleSettings;"
        "import fastapi_zdk.gunicorn_conf as g; s = LifecycleSettings.from_env();"
        "print(json.dumps({'drain': s.drain_seconds, 'bind': g.bind, 'keepalive': g.keepalive,"
        " 'graceful_timeout': g.graceful_timeout}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env={}, capture_output=True, text=True, check=True
    )
    return dict(json.loads(result.stdout))


def test_the_table_names_the_timeline() -> None:
    assert set(contract_rows()) == {
        "APP_DRAIN_SECONDS",
        "UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN",
        "UVICORN_TIMEOUT_KEEP_ALIVE",
        "UVICORN_PORT",
        "UVICORN_HOST",
    }


def test_dockerfile_chart_and_library_agree_with_the_table() -> None:
    rows = contract_rows()
    image = dockerfile_env()
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    rendered = env(container(one(render({}), "Deployment")))
    for variable, (chart_value, default) in rows.items():
        assert image.get(variable) == default, f"Dockerfile ENV {variable}"
        assert rendered[variable] == default, f"chart renders {variable}"
        if chart_value != "(none)":
            assert str(value_at(values, chart_value)) == default, f"values.yaml {chart_value}"
    # The sample's image must not repeat the timings as flags (they would win).
    cmd = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD")]
    assert cmd == ['CMD ["uvicorn", "fastapi_app.main:app"]']

    library = library_defaults()
    drain = int(rows["APP_DRAIN_SECONDS"][1])
    graceful = int(rows["UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN"][1])
    assert library["drain"] == drain
    assert library["keepalive"] == int(rows["UVICORN_TIMEOUT_KEEP_ALIVE"][1])
    assert library["graceful_timeout"] == drain + graceful
    assert library["bind"] in (
        f"0.0.0.0:{rows['UVICORN_PORT'][1]}",
        [f"0.0.0.0:{rows['UVICORN_PORT'][1]}"],
    )
