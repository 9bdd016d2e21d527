"""The README's screenshot of the Prefect UI's run form can be reproduced (headless chromium)."""

import importlib.util
from pathlib import Path

import pytest

from tests.flows.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists(),
    reason="Debian chromium is not installed (apt-get install -y chromium; .ci/run does)",
)
def test_screenshot_script_captures_the_crawl_run_form(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location(
        "screenshot_ui", ROOT / "scripts" / "screenshot_ui.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    # take_screenshot waits for the `ambassadors` parameter's description to show in the form.
    png = module.take_screenshot(tmp_path / "form.png")

    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000
