"""Screenshot the Prefect UI's run form of the `crawl` deployment (Run > Custom run) for the README.

    python scripts/screenshot_ui.py [docs/prefect-custom-run.png]

Starts its own Prefect server on a free loopback port (PREFECT_HOME in a temporary folder),
deploys prefect.yaml, opens the form in headless Debian chromium through Playwright, and stops
the server by its pid. Needs /usr/bin/chromium (`apt-get install -y chromium`).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PREFECT = str(Path(sys.executable).with_name("prefect"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _api(url: str, method: str = "GET", payload: object = None) -> object:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as answer:
        return json.loads(answer.read() or b"{}")


def take_screenshot(out: Path) -> Path:
    """Serve, deploy, open Run > Custom run of crawl/rerun, save a PNG at `out`."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="reach-ui-") as home:
        port = _free_port()
        api = f"http://127.0.0.1:{port}/api"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update(
            PREFECT_HOME=home,
            PREFECT_API_URL=api,
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            REACH_HOME=str(ROOT),
            REACH_TIMEZONE=env.get("REACH_TIMEZONE", "Europe/Paris"),
        )
        server = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    _api(f"{api}/health")
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("the Prefect server did not start") from None
                    time.sleep(0.5)
            subprocess.run(
                [PREFECT, "work-pool", "create", "reach", "--type", "process"],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [PREFECT, "--no-prompt", "deploy", "--all"],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
            )
            deployment = _api(f"{api}/deployments/name/crawl/rerun")
            assert isinstance(deployment, dict)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                page = browser.new_page(viewport={"width": 1280, "height": 1100})
                page.goto(f"http://127.0.0.1:{port}/deployments/deployment/{deployment['id']}/run")
                page.get_by_text("Ambassador slugs to crawl").first.wait_for(timeout=30_000)
                page.wait_for_timeout(500)  # let the form's widgets settle
                out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(out), full_page=True)
                browser.close()
        finally:
            if server.poll() is None:
                os.kill(server.pid, signal.SIGTERM)
                try:
                    server.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.kill(server.pid, signal.SIGKILL)
                    server.wait()
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "prefect-custom-run.png"
    print(take_screenshot(target))
