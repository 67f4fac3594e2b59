"""zdprobe as a package: the wheel builds with `pip wheel --no-deps`, holds the package only,
declares only the optional matplotlib extra, and installs a working `zdprobe` command."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import zdprobe

from .servers import REPO

PROJECT = REPO / "tools/zdprobe"
SOURCE = PROJECT / "src/zdprobe"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def test_wheel_holds_the_package_only_and_installs_the_command(tmp_path: Path) -> None:
    # Built from a clean copy: setuptools leaves build/ and *.egg-info in the tree it builds,
    # and a stale build/lib would leak into the wheel.
    source = tmp_path / "zdprobe-src"
    shutil.copytree(
        PROJECT, source,
        ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"),
    )  # fmt: skip
    built = subprocess.run(
        [*PIP, "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "out"), str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = (tmp_path / "out").glob("*.whl")
    assert wheel.name == f"zdprobe-{zdprobe.__version__}-py3-none-any.whl"

    info = f"zdprobe-{zdprobe.__version__}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert all(n.startswith(("zdprobe/", f"{info}/")) for n in names), names
    modules = sorted(n.removeprefix("zdprobe/") for n in names if not n.startswith(info))
    assert modules == sorted(
        p.name for p in SOURCE.iterdir() if p.is_file() and p.suffix in (".py", ".typed")
    )
    assert {"py.typed", "client.py", "engine.py", "cli.py", "__main__.py"} <= set(modules)
    assert "[console_scripts]\nzdprobe = zdprobe.cli:main" in entry_points

    assert metadata["Name"] == "zdprobe"
    assert metadata["Version"] == zdprobe.__version__
    assert metadata["Requires-Python"] == ">=3.11"
    # No runtime dependency (the HTTP client is the probe's own); matplotlib only for --plot.
    assert metadata.get_all("Requires-Dist") == ['matplotlib>=3.8; extra == "plot"']
    assert metadata.get_all("Provides-Extra") == ["plot"]

    # Installed from the wheel alone, outside the repository, the command runs.
    site = tmp_path / "site"
    installed = subprocess.run(
        [*PIP, "install", "--quiet", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    env = _clean_env() | {"PYTHONPATH": str(site)}
    helped = subprocess.run(
        [str(site / "bin/zdprobe"), "--help"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: zdprobe ")
    assert "--host HOST" in helped.stdout
    where = subprocess.run(
        [sys.executable, "-c", "import zdprobe; print(zdprobe.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert where.stdout.strip() == str(site / "zdprobe/__init__.py")


def test_the_installed_command_runs() -> None:
    """`zdprobe` next to this Python: the dev venv's (make deps installs it, editable)."""
    command = Path(sys.executable).parent / "zdprobe"
    assert command.is_file(), f"{command} missing: pip install -e tools/zdprobe (make deps)"
    done = subprocess.run(
        [str(command), "--help"],
        cwd="/", env=_clean_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: zdprobe ")
    for flag in ("--rate", "--mode", "--host HOST", "--until-file", "--report", "--plot"):
        assert flag in done.stdout
    # and the package it imports is this repository's source
    assert Path(zdprobe.__file__).resolve() == (SOURCE / "__init__.py").resolve()
