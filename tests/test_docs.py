"""The documentation keeps up with the code: variables, hooks, HTTP operations, pages."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest
from supporthub_banana import BananaAdapter
from supporthub_strawberry.adapter import StrawberryAdapter

from supporthub import ENVIRONMENT_VARIABLES, hookspecs

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
VARIABLE = re.compile(r"\bSUPPORTHUB_[A-Z0-9]+(?:_[A-Z0-9]+)*\b")


def _variables_in_code() -> set[str]:
    """Every ``SUPPORTHUB_*`` name written out in the shipped code (not the tests)."""
    names: set[str] = set()
    folders = [ROOT / "src", *(ROOT / "plugins").glob("*/src")]
    for folder in folders:
        for path in folder.rglob("*"):
            if path.suffix in {".py", ".tmpl"} and path.is_file():
                names.update(VARIABLE.findall(path.read_text(encoding="utf-8")))
    return names


def _adapter_variables() -> set[str]:
    return {
        setting.variable(adapter.name)
        for adapter in (BananaAdapter, StrawberryAdapter)
        for setting in adapter.settings
    }


def test_every_environment_variable_the_code_reads_is_documented() -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    registry = {variable.name for variable in ENVIRONMENT_VARIABLES}
    wanted = _variables_in_code() | registry | _adapter_variables()
    # The template's placeholders and name patterns are not variables.
    wanted = {name for name in wanted if "NAME" not in name}
    assert registry <= wanted and "SUPPORTHUB_TEST_MARIADB_URL" in wanted
    documented = set(re.findall(r"`(SUPPORTHUB_[A-Z0-9_]+)`", page))
    assert sorted(wanted - documented) == []


def test_every_documented_variable_exists() -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`(SUPPORTHUB_[A-Z0-9_]+)`", page))
    known = _variables_in_code() | {v.name for v in ENVIRONMENT_VARIABLES} | _adapter_variables()
    assert sorted(documented - known) == []


@pytest.mark.parametrize("variable", ENVIRONMENT_VARIABLES, ids=lambda v: v.name)
def test_the_configuration_page_gives_each_default(variable) -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    row = next(line for line in page.splitlines() if line.startswith(f"| `{variable.name}` |"))
    assert (f"`{variable.default}`" if variable.default is not None else "unset") in row


def _hooks() -> list[tuple[str, inspect.Signature]]:
    return [
        (name, inspect.signature(function))
        for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(function, "supporthub_spec")
    ]


def test_there_are_hooks_to_document() -> None:
    assert {name for name, _ in _hooks()} >= {"register_adapters", "refresh_finished"}


@pytest.mark.parametrize(("name", "signature"), _hooks(), ids=str)
def test_every_hookspec_is_documented_in_the_adapter_guide(name, signature) -> None:
    page = (DOCS / "adapters.md").read_text(encoding="utf-8")
    heading = f"### `{name}({', '.join(signature.parameters)})`"
    assert heading in page.splitlines(), f"adapters.md needs the heading {heading}"


def _docs_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_http_api_page_renders_every_operation() -> None:
    from supporthub.service._openapi import openapi_document

    document = openapi_document()
    rendered = _docs_hooks().render_endpoints(document)
    for path, item in document["paths"].items():
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                assert f"### `{method.upper()} {path}`" in rendered
    assert _docs_hooks().MARKER in (DOCS / "http-api.md").read_text(encoding="utf-8")


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = set(re.findall(r"^  - [^:]+: (\S+\.md)$", config, flags=re.MULTILINE))
    pages = {path.name for path in DOCS.glob("*.md")}
    assert nav == pages
    for required in ("performance.md", "reliability.md", "adapters.md", "configuration.md"):
        assert required in nav


def _modules_of_the_core() -> list[str]:
    package = ROOT / "src" / "supporthub"
    return sorted(
        path.relative_to(package.parent).as_posix()
        for path in package.rglob("*.py")
        if "migrations" not in path.parts
    )


def test_the_architecture_page_places_every_module() -> None:
    page = (DOCS / "architecture.md").read_text(encoding="utf-8")
    missing = [module for module in _modules_of_the_core() if f"`{module}`" not in page]
    assert not missing, f"docs/architecture.md does not place: {missing}"


def test_the_architecture_page_lists_no_module_that_is_gone() -> None:
    page = (DOCS / "architecture.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"`(supporthub/[\w/]+\.py)`", page))
    gone = sorted(listed - set(_modules_of_the_core()))
    assert not gone, f"docs/architecture.md names modules that do not exist: {gone}"


def test_the_architecture_page_shows_the_layers_the_contract_checks() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c.get("containers") == ["supporthub"])["layers"]
    page = (DOCS / "architecture.md").read_text(encoding="utf-8")
    for row in layers:
        for folder in row.split("|"):
            assert f"`supporthub.{folder.strip()}`" in page, folder
