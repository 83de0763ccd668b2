"""Declared dependencies against what is installed: every requirement of the core and of the
extras the tests need ([sim], [test]) is installed at a version its declared minimum admits,
and the other extras' requirements are, where installed. The minima themselves are the oldest
releases the code works with (.ci/minimum-versions runs the suite on exactly them); the ones
that the code's features set are checked here too.
"""
from __future__ import annotations

import datetime as dt
import tomllib
from importlib import metadata
from pathlib import Path

import holidays
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

PROJECT = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml")
                        .read_text(encoding="utf-8"))["project"]
NEEDED_BY_TESTS = ("sim", "test")


def _requirements(group: str) -> list[Requirement]:
    """The requirements of ``group`` ("core" or an extra) that apply to this interpreter,
    without the project's own extras (``exchange[sim]``)."""
    texts = PROJECT["dependencies"] if group == "core" else \
        PROJECT["optional-dependencies"][group]
    found = [Requirement(t) for t in texts]
    return [r for r in found if r.name != PROJECT["name"]
            and (r.marker is None or r.marker.evaluate())]


def _installed(name: str) -> Version | None:
    try:
        return Version(metadata.version(name))
    except metadata.PackageNotFoundError:
        return None


REQUIRED = [(group, r) for group in ("core", *NEEDED_BY_TESTS) for r in _requirements(group)]


@pytest.mark.parametrize("group, requirement", REQUIRED,
                         ids=[f"{g}:{r.name}" for g, r in REQUIRED])
def test_required_packages_are_installed_at_a_declared_version(group, requirement):
    version = _installed(requirement.name)
    assert version is not None, f"{requirement} ({group}) is not installed"
    assert requirement.specifier.contains(version, prereleases=True), \
        f"{requirement.name} {version} is installed; {group} declares {requirement}"


def test_other_extras_are_at_a_declared_version_where_installed():
    others = [g for g in PROJECT["optional-dependencies"] if g not in NEEDED_BY_TESTS]
    assert others  # lint, bench
    for group in others:
        for requirement in _requirements(group):
            version = _installed(requirement.name)
            if version is not None:
                assert requirement.specifier.contains(version, prereleases=True), \
                    f"{requirement.name} {version} is installed; {group} declares {requirement}"


def test_every_requirement_names_a_minimum():
    for group in ("core", *PROJECT["optional-dependencies"]):
        for requirement in _requirements(group):
            operators = {spec.operator for spec in requirement.specifier}
            assert operators & {">=", "=="}, f"{requirement} ({group}) has no minimum"


def test_the_holidays_minimum_has_the_calendars_the_code_uses():
    (declared,) = [r for r in _requirements("core") if r.name == "holidays"]
    assert declared.specifier.contains("0.109") and not declared.specifier.contains("0.108")
    # 0.109 added the Federal Reserve calendar, which USD settlement follows
    fed = holidays.financial_holidays("FED", years=2026)
    assert dt.date(2026, 10, 12) in fed  # Columbus Day: the Fed closes, stock markets do not
    assert dt.date(2026, 7, 3) not in fed  # the Fed does not move a Saturday holiday
    # before 0.104 the KZ tables still closed Monday 31 August 2026 (Constitution Day)
    assert dt.date(2026, 8, 31) not in holidays.country_holidays("KZ", years=2026)
