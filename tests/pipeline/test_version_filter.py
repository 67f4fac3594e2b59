"""The one version rule (plugins/filter/version.py): SemVer 2.0 that fits an image tag,
a Kubernetes label and a Job name."""

from __future__ import annotations

import pytest

from .conftest import load_plugin

version = load_plugin("filter/version.py")


@pytest.mark.parametrize(
    "valid",
    [
        "0.0.1",
        "1.2.3",
        "10.20.30",
        "1.0.0-rc.1",
        "1.0.0-alpha-beta",
        "1.0.0-0.3.7",
        "1.4.0-RC1",
        "0.0.90-nopush",
        "1.2.3-" + "a" * 57,
    ],
)
def test_valid_versions(valid: str) -> None:
    assert version.version_problem(valid) == ""


@pytest.mark.parametrize(
    ("invalid", "reason"),
    [
        ("1.2.3-rc.", "empty pre-release identifier"),
        ("1.2.3-rc..1", "empty pre-release identifier"),
        ("1.2.3-", "empty pre-release identifier"),
        ("1.2.3-" + "a" * 94, "100 characters; at most 63"),
        ("01.2.3", "leading zero"),
        ("1.02.3", "leading zero"),
        ("1.2.3-01", 'numeric pre-release identifier "01" has a leading zero'),
        ("1.2", "expected MAJOR.MINOR.PATCH"),
        ("v1.2.3", "expected MAJOR.MINOR.PATCH"),
        ("1.2.3;rm -rf /", "expected MAJOR.MINOR.PATCH"),
        ("1.2.3-rc_1", "may only hold [0-9A-Za-z-]"),
        ("1.2.3+build.5", "build metadata"),
        ("1.2.3-rc-", "must end with a letter or digit"),
        ("", "empty"),
        (" 1.2.3", "white space"),
    ],
)
def test_invalid_versions_name_the_reason(invalid: str, reason: str) -> None:
    assert reason in version.version_problem(invalid)


def test_the_longest_valid_version_fits_a_label() -> None:
    longest = "1.2.3-" + "a" * 57
    assert len(longest) == 63
    assert version.version_problem(longest) == ""
    assert version.version_problem(longest + "a") != ""
