"""`reach demo`: the main job end to end on the embedded default (SQLite under ./var)."""

import os
from importlib.resources import files
from pathlib import Path

DEMO_ROSTER = Path(str(files("reach") / "data" / "demo_roster.csv"))
SANDBOX_PORT = 8787  # the demo roster's accounts live on http://127.0.0.1:8787


def demo_environment(var_dir: Path) -> dict[str, str]:
    """Settings for the demo: its own SQLite file, and the sandbox standing in for the platforms."""
    return {
        "REACH_DATABASE_URL": f"sqlite:///{(var_dir / 'demo.db').resolve()}",
        "REACH_ALLOW_PRIVATE_HOSTS": "true",
        "REACH_BLUESKY_APPVIEW_URL": f"http://127.0.0.1:{SANDBOX_PORT}",
        "REACH_REPORTS_DIR": str((var_dir / "demo-reports").resolve()),
    }


def run_demo() -> None:
    """Create the demo database, import the bundled roster and print it."""
    from reach import cli
    from reach.db import upgrade
    from reach.settings import get_settings

    var_dir = get_settings().var_dir
    os.environ.update(demo_environment(var_dir))
    get_settings.cache_clear()
    settings = get_settings()
    cli.console.print(f"[bold]demo database:[/] {settings.database_url}")
    upgrade()
    cli.roster_import(DEMO_ROSTER)
    cli.roster_list()
