"""``supporthub new-adapter``: the generated plug-in installs, registers and passes the suite.

The package is generated into tmp_path, installed (for real, not editable)
into a throw-away virtual environment that sees this environment's packages
(supporthub, pytest, hatchling) but not the new one, then found through its
entry point and tested there in a separate pytest process. No network: pip
runs with ``--no-deps --no-build-isolation --no-index``. The throw-away
environment does not see the interpreter's system site-packages: whatever
pytest plug-ins happen to be installed there (pytest-benchmark broke it once)
must not leak into the generated package's test run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from supporthub import ConfigurationError
from supporthub.cli import main
from supporthub.cli.new_adapter import TEMPLATE_FILES, new_adapter


def _run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    # The outer pytest's settings (PYTEST_XDIST_WORKER, PYTEST_ADDOPTS, ...) are
    # not the inner run's business, nor is this run's hub configuration.
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("SUPPORTHUB_", "PYTEST_"))
    }
    environment.pop("PYTHONPATH", None)
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _throwaway_venv(folder: Path) -> Path:
    """A venv whose own site-packages is empty and which also sees this environment's."""
    result = _run(sys.executable, "-m", "venv", "--without-pip", folder)
    assert result.returncode == 0, result.stderr
    python = folder / "bin" / "python"
    site_packages = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        ).stdout.strip()
    )
    # addsitedir, not a plain path: the editable installs here are .pth files too.
    ours = sysconfig.get_paths()["purelib"]
    (site_packages / "_outer_environment.pth").write_text(
        f"import site; site.addsitedir({ours!r})\n"
    )
    return python


@pytest.mark.slow
def test_generated_adapter_installs_registers_and_passes_the_contract(tmp_path: Path) -> None:
    assert main(["new-adapter", "acme", "--dir", str(tmp_path)]) == 0
    package = tmp_path / "supporthub-acme"
    python = _throwaway_venv(tmp_path / "venv")

    found = _run(
        python, "-c", "import importlib.util; print(importlib.util.find_spec('supporthub_acme'))"
    )
    assert found.stdout.strip() == "None", "the new package must not be importable before install"

    install = _run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        str(package),
    )
    assert install.returncode == 0, install.stdout + install.stderr

    listing = _run(python, "-m", "supporthub.cli", "plugins", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "supporthub-acme" in listing.stdout and "register_adapters" in listing.stdout, (
        listing.stdout
    )

    tests = _run(
        python,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "-q",
        "tests",
        cwd=package,
    )
    output = tests.stdout + tests.stderr
    assert tests.returncode == 0, output
    # 11 tests of reading, 6 of writing (none skipped: each applies to every adapter).
    assert "17 passed" in output, output
    assert "skipped" not in output, output
    installed = _run(python, "-c", "import supporthub_acme; print(supporthub_acme.__file__)")
    assert str(tmp_path / "venv") in installed.stdout, "the tests must use the installed package"


def test_generated_package_holds_every_template_file(tmp_path: Path) -> None:
    package = new_adapter("blue_moon", tmp_path)
    assert package == tmp_path / "supporthub-blue_moon"
    for destination in TEMPLATE_FILES.values():
        text = (package / destination.format(name="blue_moon")).read_text()
        assert "{{" not in text, destination
    adapter = (package / "src/supporthub_blue_moon/adapter.py").read_text()
    assert 'name = "blue_moon"' in adapter and "class BlueMoonAdapter(Adapter)" in adapter
    pyproject = (package / "pyproject.toml").read_text()
    assert '[project.entry-points.supporthub]\nblue_moon = "supporthub_blue_moon"' in pyproject


@pytest.mark.parametrize("name", ["Acme", "1acme", "acme-crm", "", "a" * 33])
def test_unusable_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigurationError, match="lower-case"):
        new_adapter(name, tmp_path)
    assert main(["new-adapter", name, "--dir", str(tmp_path)]) == 2


def test_an_existing_folder_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "supporthub-acme").mkdir()
    assert main(["new-adapter", "acme", "--dir", str(tmp_path)]) == 2
    assert "exists already" in capsys.readouterr().err


def test_generated_package_is_lint_clean_under_its_own_config(tmp_path: Path) -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff is not None, "ruff is in the test dependency group; install it"
    package = new_adapter("acme", tmp_path)
    for command in (("check",), ("format", "--check")):
        result = _run(ruff, *command, "--no-cache", ".", cwd=package)
        assert result.returncode == 0, result.stdout + result.stderr
