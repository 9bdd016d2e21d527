"""The wheel is the product: its packages and migrations, not the sandbox, the benchmarks or tests;
and `reach db upgrade` works from it in a virtualenv of its own, away from the checkout."""

import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def test_wheel_installs_the_product_and_migrates_a_new_database(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("ambassador_reach-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"cli", "crawler", "flows", "models", "reach", "web"}
    assert "reach/migrations/env.py" in names
    # The dashboard's templates and assets, and the report views it shares.
    assert {"web/templates/base.html.j2", "web/static/app.css"} <= set(names)
    assert {"reach/templates/_views.html.j2", "reach/templates/charts.js"} <= set(names)
    assert any(name.startswith("reach/migrations/versions/0001_") for name in names)

    # A virtualenv with only the wheel of ours; the dependencies come from the project's own
    # virtualenv as a plain path (its editable-install hook, a .pth file there, is not run).
    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    (purelib,) = target.glob("lib/python*/site-packages")
    deps = next(p for p in site.getsitepackages() if Path(p).name == "site-packages")
    (purelib / "dependencies.pth").write_text(deps + "\n")
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(target / "bin" / "python"),
            "install",
            "--no-deps",
            "--quiet",
            str(wheel),
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if (
        "no such option: --python" in installed.stderr
    ):  # pip < 22.3: install into the target directly
        installed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--no-deps",
                "--quiet",
                "--target",
                str(purelib),
                str(wheel),
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert installed.returncode == 0, installed.stderr[-2000:]

    database = tmp_path / "elsewhere" / "reach.db"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "REACH_DATABASE_URL": f"sqlite:///{database}",
    }
    where = subprocess.run(
        [str(target / "bin" / "python"), "-c", "import reach, sandbox"],
        cwd=tmp_path,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "No module named 'sandbox'" in where.stderr  # the sandbox is not installed...
    reach_bin = target / "bin" / "reach"
    upgraded = subprocess.run(
        [str(reach_bin), "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    origin = subprocess.run(
        [str(target / "bin" / "python"), "-c", "import reach; print(reach.__file__)"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert origin.stdout.strip().startswith(
        str(purelib)
    )  # ...and the core is the wheel's, not the checkout's
    tables = set(inspect(create_engine(f"sqlite:///{database}")).get_table_names())
    assert {
        "ambassador",
        "account",
        "post",
        "postsnapshot",
        "crawlrun",
        "postcounts",
        "alembic_version",
    } <= tables
