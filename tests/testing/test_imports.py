"""What each entry point imports: the core stays light, the simulators need no pytest.

Each check runs in a fresh interpreter, where modules can be made unimportable
(``sys.modules[name] = None``) without disturbing this test run.
"""

from __future__ import annotations

import subprocess
import sys

import pytest


def _imports_without(blocked: tuple[str, ...], *modules: str) -> subprocess.CompletedProcess[str]:
    script = "import sys\n"
    script += "".join(f"sys.modules[{name!r}] = None\n" for name in blocked)
    script += "".join(f"import {module}\n" for module in modules)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "module",
    [
        "supporthub.testing.sim",
        "supporthub_banana.simulator",
        "supporthub_strawberry.simulator",
        "supporthub.cli",
    ],
)
def test_the_demo_path_imports_without_pytest(module: str) -> None:
    # `supporthub demo` runs in the README's venv, which has no pytest.
    result = _imports_without(("pytest", "_pytest"), module)
    assert result.returncode == 0, result.stderr


def test_the_contract_suite_still_loads_on_first_use() -> None:
    from supporthub.testing import CONTRACT_RULES, AdapterContract

    assert AdapterContract.__module__ == "supporthub.testing._contract"
    assert len(CONTRACT_RULES) >= 10


def test_an_unknown_name_is_an_attribute_error() -> None:
    import supporthub.testing

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = supporthub.testing.Nope


def test_the_core_imports_without_the_web_stack() -> None:
    result = _imports_without(("starlette", "uvicorn", "httpx2"), "supporthub")
    assert result.returncode == 0, result.stderr
