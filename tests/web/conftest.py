"""The dashboard under test: the app in-process (TestClient) or a real `reach web` on loopback."""

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from reach.users import add_user, new_token
from tests.reach import factories as f
from web.app import create_app

PASSWORD = "correct horse battery"
USERS = {"viewer": "vic@example.org", "editor": "eda@example.org", "admin": "ada@example.org"}
# The seed case's month and the month before it (the same length: 31 days back from Feb 28).
MARCH = {"range": "custom", "since": "2026-03-01", "until": "2026-03-31"}


def seed_dashboard(session: Session) -> None:
    """The model case (factories.seed_case) plus a February post, so March has a previous period
    with figures: Amélie's Feb 20 post has 10 likes and 2 comments (12 engagements)."""
    f.seed_case(session)
    from sqlmodel import select

    from models import Account, Ambassador

    amelie = session.exec(select(Ambassador).where(Ambassador.slug == "amelie-laurent")).one()
    masto = session.exec(select(Account).where(Account.ambassador_id == amelie.id)).one()
    feb = f.run(session, f.at("2026-02-21", 2))
    old = f.post(session, masto, f.at("2026-02-20"), text="February news")
    f.post_snapshot(session, old, feb, likes=10, comments=2)
    for role, email in USERS.items():
        add_user(session, email, role, PASSWORD)
    session.commit()


@pytest.fixture
def seeded(session: Session) -> Session:
    seed_dashboard(session)
    return session


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(), base_url="http://127.0.0.1") as c:
        yield c


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, role: str = "viewer", password: str = PASSWORD) -> httpx.Response:
    page = client.get("/signin")
    return client.post(
        "/signin",
        data={
            "email": USERS[role],
            "password": password,
            "next": "/",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )


def token_for(session: Session, role: str) -> str:
    token = new_token(session, USERS[role])
    session.commit()
    return token


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class WebServer:
    """`reach web` in a process of its own on a loopback address; stopped by the pid it started."""

    def __init__(
        self,
        db_url: str,
        var_dir: Path,
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
    ) -> None:
        self.host, self.port = host, free_port(host)
        self.url = f"http://{host}:{self.port}"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("REACH_")}
        environment |= {"REACH_DATABASE_URL": db_url, "REACH_VAR_DIR": str(var_dir), **(env or {})}
        var_dir.mkdir(parents=True, exist_ok=True)
        self.log = open(var_dir / "web.log", "w+b")  # noqa: SIM115 - closed in stop()
        reach = Path(sys.executable).with_name("reach")
        self.process = subprocess.Popen(
            [str(reach), "web", "--host", host, "--port", str(self.port)],
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if httpx.get(self.url + "/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"reach web did not start: {self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()


@pytest.fixture
def web_server(seeded: Session, db_url: str, tmp_path: Path) -> Iterator[WebServer]:
    server = WebServer(db_url, tmp_path / "var")
    try:
        yield server
    finally:
        server.stop()
