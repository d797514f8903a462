"""replab as an installed library: nothing is written into the package (caches of shipped runs under
$REPLAB_CACHE, outputs under ./runs), bad inputs are refused before any folder exists, and (slow) a wheel
built from this checkout works from a fresh virtual environment outside it."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from replab import ASSETS
from replab.cli import main
from replab.core.paths import inside_package, job_output
from replab.rae.latent_cache import latents_dir

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_runs_cache_and_write_outside_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLAB_CACHE", str(tmp_path / "cache"))
    shipped = ASSETS / "runs" / "rae-fmnist"
    assert inside_package(shipped) and latents_dir(shipped).is_relative_to(tmp_path / "cache")
    assert job_output(ASSETS / "runs" / "dit-dh-fmnist", "fd") == Path("runs/dit-dh-fmnist-fd")
    mine = tmp_path / "my-rae"
    mine.mkdir()
    assert latents_dir(mine) == mine.resolve() / "latents" and job_output(mine, "fd") == mine / "evals" / "fd"


def test_a_missing_probe_is_one_line_and_no_folder_is_made(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["fairness", "audit", "--run", str(ASSETS / "runs" / "dit-dh-tone10x"), "--probe",
                 str(tmp_path / "no-probe"), "--n", "10"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "no-probe: not a probe folder" in err
    assert not (tmp_path / "runs").exists()


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("replab 0.")


def _snapshot(package: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(package)): (p.stat().st_size, p.stat().st_mtime_ns) for p in package.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}  # fmt: skip


@pytest.mark.slow
def test_the_wheel_works_from_a_fresh_environment_and_changes_nothing_in_itself(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], check=True,
                   capture_output=True)  # fmt: skip
    (wheel,) = dist.glob("replab-*.whl")
    assert wheel.stat().st_size <= 30 * 1024**2
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    site = Path(subprocess.check_output([env / "bin" / "python", "-c", "import sysconfig; "
                                         "print(sysconfig.get_paths()['purelib'])"], text=True).strip())  # fmt: skip
    (site / "checkout_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # deps, not replab
    subprocess.run([env / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True)  # fmt: skip
    package = site / "replab"
    before = _snapshot(package)
    work = tmp_path / "work"
    work.mkdir()
    environ = {**os.environ, "REPLAB_CACHE": str(tmp_path / "cache"), "PYTHONDONTWRITEBYTECODE": "1"}

    def replab(*args: str) -> str:
        done = subprocess.run([env / "bin" / "replab", *args], cwd=work, env=environ, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    assert "demo" in replab("--help")
    where = subprocess.check_output([env / "bin" / "python", "-c", "import replab; print(replab.__file__)"],
                                    cwd=work, text=True)  # fmt: skip
    assert Path(where.strip()).is_relative_to(package)  # the wheel's copy, not the checkout's
    assets = package / "assets"
    replab("diffusion", "sample", "--run", str(assets / "runs" / "dit-dh-fmnist"), "--n", "10", "--out", "s.png")
    assert (work / "s.png").exists()
    replab("fairness", "audit", "--run", str(assets / "runs" / "dit-dh-tone10x"), "--probe",
           str(assets / "probes" / "tone"), "--n", "40")  # fmt: skip
    assert (work / "runs" / "dit-dh-tone10x-fairness" / "artifacts").is_dir()
    assert _snapshot(package) == before  # nothing in the installed package was written or changed


def test_every_data_file_of_the_package_is_declared_package_data():
    import fnmatch

    import tomllib

    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = [p.replace("**/", "") for p in setuptools["package-data"]["replab"]]  # fnmatch's * crosses /
    package = ROOT / "src" / "replab"
    data = [p.relative_to(package).as_posix() for p in package.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]  # fmt: skip
    assert [f for f in data if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)] == []


def _extras() -> dict[str, list[str]]:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def test_extras_install_what_they_use():
    extras = _extras()
    assert not any(d.startswith("codecarbon") for d in extras["footprint"])  # no pandas, pydantic, typer…
    assert any(d.startswith("codecarbon") for d in extras["tools"])  # tools/make_carbon_table.py
    assert any(d.startswith("torch-fidelity") for d in extras["fid"])
    assert "fid" not in extras["all"][0]  # torch-fidelity requires torchvision: never in make test's venv


@pytest.mark.slow
def test_a_bare_install_runs_help_the_demo_and_the_readme_blocks_that_need_no_extra(tmp_path):
    """``pip install replab`` without extras: ``replab --help``, ``replab demo`` and README's Python blocks that
    need none (the diffusion and fairness ones) run from a fresh environment."""
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], check=True,
                   capture_output=True)  # fmt: skip
    (wheel,) = dist.glob("replab-*.whl")
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
    pip = [env / "bin" / "python", "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)  # the CPU build the Makefile installs first
    subprocess.run([*pip, str(wheel)], check=True)
    installed = subprocess.check_output([env / "bin" / "python", "-m", "pip", "list"], text=True).lower()
    for extra in ("peft", "httpx", "qiskit", "codecarbon", "tensorboard", "nvidia-ml-py", "torchvision"):
        assert f"\n{extra} " not in installed, extra
    work = tmp_path / "work"
    work.mkdir()
    environ = {**os.environ, "REPLAB_CACHE": str(tmp_path / "cache"), "REPLAB_NO_PROGRESS": "1"}

    def run(*command) -> str:
        done = subprocess.run(command, cwd=work, env=environ, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    assert "demo" in run(env / "bin" / "replab", "--help")
    assert "report:" in run(env / "bin" / "replab", "demo", "--out", str(work / "demo"))
    from tests.test_readme import _blocks

    diffusion, _, fairness = _blocks(slow=False)
    for block in (diffusion, fairness):
        run(env / "bin" / "python", "-c", block)
