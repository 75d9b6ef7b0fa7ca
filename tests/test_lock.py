"""The lock files agree with pyproject.toml: every dependency it names is pinned to one exact
version that its range allows, the product lock and the test lock name the same versions,
and nothing local (an index, a path) is written into them. ``make lock`` regenerates both."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")


def project() -> dict[str, list[str]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {"product": data["dependencies"], "test": data["optional-dependencies"]["test"]}


def pins(name: str) -> dict[str, Version]:
    pinned: dict[str, Version] = {}
    for line in (ROOT / name).read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"{name}: not an exact pin: {line!r}"
        pinned[canonicalize_name(match.group(1))] = Version(match.group(2))
    return pinned


@pytest.mark.parametrize(
    ("lock", "groups"),
    [("requirements.lock", ("product",)), ("requirements-test.lock", ("product", "test"))],
)
def test_every_dependency_is_pinned_within_its_range(lock: str, groups: tuple[str, ...]) -> None:
    pinned = pins(lock)
    wanted = [Requirement(r) for group in groups for r in project()[group]]
    for req in wanted:
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is in pyproject.toml but not in {lock}: run make lock"
        assert req.specifier.contains(pinned[name], prereleases=True), (
            f"{lock} pins {req.name}=={pinned[name]}, outside {req.specifier}: run make lock"
        )


def test_the_locks_name_the_same_versions() -> None:
    product, test = pins("requirements.lock"), pins("requirements-test.lock")
    assert {n: v for n, v in product.items() if test.get(n) != v} == {}


def test_the_product_lock_holds_nothing_only_tests_need() -> None:
    product = pins("requirements.lock")
    only_tests = {canonicalize_name(Requirement(r).name) for r in project()["test"]}
    only_tests -= {canonicalize_name(Requirement(r).name) for r in project()["product"]}
    assert only_tests & set(product) == set()


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-test.lock"])
def test_a_lock_names_no_index_and_no_local_path(lock: str) -> None:
    text = (ROOT / lock).read_text()
    for needle in ("file:", "--index-url", "--extra-index-url", "--find-links", "/opt/", "/work/", "+cpu"):
        assert needle not in text, f"{lock} contains {needle!r}"
