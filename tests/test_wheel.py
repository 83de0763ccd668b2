"""The release path: the source distribution carries the Cython source, ``pip wheel`` builds a
wheel from it, and that wheel works in a fresh virtual environment with no Cython and no
source tree: import, a book, a small exchange day with clearing (tests/wheel_smoke.py), the
console script, and the one-line hint for the [sim] extra it was installed without.

Slow (about a minute: two isolated builds and an install of the core dependencies) and needs
the package index the machine's pip uses.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "tests" / "wheel_smoke.py"

pytestmark = pytest.mark.slow


def _run(*command: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=900)
    if check:
        assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(sdist, wheel, python of a fresh venv with the wheel installed)."""
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    _run(sys.executable, "-m", "build", "--sdist", "--outdir", dist, ROOT, cwd=work)
    (sdist,) = dist.glob("exchange-*.tar.gz")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", dist, sdist, cwd=work)
    (wheel,) = dist.glob("exchange-*.whl")
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True, clear=True)
    python = env_dir / ("Scripts" if os.name == "nt" else "bin") / "python"
    _run(python, "-m", "pip", "install", "--quiet", wheel, cwd=work)
    return sdist, wheel, python


def test_sdist_has_the_cython_source_and_no_generated_c(installed):
    sdist, _, _ = installed
    with tarfile.open(sdist) as archive:
        names = {Path(n).relative_to(Path(n).parts[0]).as_posix() for n in archive.getnames()
                 if len(Path(n).parts) > 1}
    assert {"src/exchange/_book.pyx", "src/exchange/_book.pyi", "setup.py", "pyproject.toml",
            "src/exchange/journal/_frames.pyx", "src/exchange/journal/_frames.pyi",
            "tests/data/lobster/SOURCE.md", "docs/api.md"} <= names
    assert not any(n.endswith(".c") or n.endswith(".so") for n in names)


def test_the_wheel_runs_without_cython_or_sources(installed, tmp_path):
    _, wheel, python = installed
    assert "-cp3" in wheel.name  # a compiled, CPython-specific wheel
    no_cython = _run(python, "-c", "import Cython", cwd=tmp_path, check=False)
    assert no_cython.returncode != 0 and "No module named 'Cython'" in no_cython.stderr
    smoke = _run(python, SMOKE, cwd=tmp_path)
    assert smoke.stdout.startswith("wheel smoke: ok")


def test_the_console_script_and_the_sim_extra_hint(installed, tmp_path):
    _, _, python = installed
    script = python.parent / ("exchange.exe" if os.name == "nt" else "exchange")
    assert "--members 6..1000" in " ".join(_run(script, "simulate", "--help",
                                                 cwd=tmp_path).stdout.split())
    done = _run(python, "-m", "exchange", "simulate", "--orders", "10", cwd=tmp_path,
                check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        'exchange simulate: error: exchange simulate needs the [sim] extra (rich is not '
        'installed): pip install "exchange[sim]"']
    assert not (tmp_path / "out").exists()
