"""The wheel: builds with `pip wheel --no-deps`, holds the package only (py.typed too)
and declares no runtime dependency."""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import fastapi_zdk
from zdk_support import PACKAGE_DIR


def test_wheel_holds_the_package_only_and_no_dependencies(tmp_path: Path) -> None:
    # Built from a clean copy: setuptools leaves build/ and *.egg-info in the tree it
    # builds, and a stale build/lib would leak into the wheel.
    source = tmp_path / "fastapi-zdk"
    shutil.copytree(
        PACKAGE_DIR, source,
        ignore=shutil.ignore_patterns("tests", "build", "dist", "*.egg-info", "__pycache__"),
    )  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
         "--disable-pip-version-check", "-w", str(tmp_path / "out"), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    [wheel] = (tmp_path / "out").glob("*.whl")
    assert wheel.name == f"fastapi_zdk-{fastapi_zdk.__version__}-py3-none-any.whl"
    print(f"wheel {wheel.name}: {wheel.stat().st_size} bytes")

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = f"fastapi_zdk-{fastapi_zdk.__version__}.dist-info"
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
    modules = sorted(n.removeprefix("fastapi_zdk/") for n in names if not n.startswith(info))
    assert modules == sorted(
        p.relative_to(PACKAGE_DIR / "src/fastapi_zdk").as_posix()
        for p in (PACKAGE_DIR / "src/fastapi_zdk").iterdir()
        if p.is_file() and p.suffix in (".py", ".typed")
    )
    assert "py.typed" in modules
    assert all(n.startswith(("fastapi_zdk/", f"{info}/")) for n in names)

    assert metadata["Name"] == "fastapi-zdk"
    assert metadata["Version"] == "0.1.0"
    assert metadata["Requires-Python"] == ">=3.11"
    requires = metadata.get_all("Requires-Dist") or []
    # Runtime dependencies: none. The gunicorn extra is optional.
    assert [r for r in requires if "extra ==" not in r] == []
    assert sorted(r.split(";")[0].split(">")[0].strip() for r in requires) == [
        "gunicorn",
        "uvicorn-worker",
    ]
