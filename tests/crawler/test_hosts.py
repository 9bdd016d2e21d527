"""Nothing let in: private hosts however spelled or reached, and certificates that do not match.

The hostile servers run on loopback only: an allowed host on 127.0.0.2 that redirects to
loopback spellings and names, an internal server on 127.0.0.1 that must never be asked, and a
TLS server whose certificate names another host.
"""

import datetime as dt
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from sqlmodel import Session, select

from crawler.handlers import REFUSED, GuardedResolver
from crawler.middlewares import PrivateHostGuardMiddleware
from models import Post
from reach.db import get_engine
from reach.handles import HandleError, is_private_host, parse_account
from reach.settings import get_settings
from tests.crawler.conftest import crawl, import_accounts

ROOT = Path(__file__).resolve().parents[2]
SPELLINGS = [
    "127.1",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "0",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "localhost",
    "169.254.169.254",
    "10.0.0.7",
]
FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><link>https://x.example/</link>'
    b"<description>d</description><item><title>INTERNAL ONLY DATA</title><guid>internal-1</guid>"
    b"<pubDate>%s</pubDate></item></channel></rss>"
)


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_a_private_address_is_refused_by_the_roster_and_the_crawler(
    spelling: str,
) -> None:
    assert is_private_host(spelling)
    with pytest.raises(HandleError, match="private or loopback host|malformed URL"):
        parse_account("feed", f"https://{spelling}/feed/", allow_private_hosts=False)
    guard = PrivateHostGuardMiddleware(allow_private_hosts=False, allowlist=frozenset())
    with pytest.raises(IgnoreRequest, match="private or loopback address"):
        guard.process_request(Request(f"https://{spelling}/feed/"))


def test_public_names_and_addresses_pass_the_literal_check() -> None:
    for host in (
        "mastodon.social",
        "93.184.216.34",
        "[2606:4700::1111]",
        "1e100.net",
        "0x.example",
    ):
        assert not is_private_host(host), host


class _StubOriginal:
    """What the system resolver would answer."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    def resolveHostName(self, receiver: Any, name: str, port: int = 0, *_: Any) -> Any:
        from twisted.internet.address import IPv4Address

        receiver.resolutionBegan(object())
        for host in self.answers.get(name, []):
            receiver.addressResolved(IPv4Address("TCP", host, port))
        receiver.resolutionComplete()
        return receiver


class _Collect:
    def __init__(self) -> None:
        self.addresses: list[str] = []

    def resolutionBegan(self, _: Any) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        self.addresses.append(address.host)

    def resolutionComplete(self) -> None:
        pass


def test_resolver_hands_out_only_public_addresses() -> None:
    stub = _StubOriginal(
        {
            "intranet.example": ["10.1.2.3"],
            "mixed.example": ["127.0.0.1", "93.184.216.34"],
            "public.example": ["93.184.216.34"],
            "allowed.example": ["10.9.9.9"],
        }
    )
    resolver = GuardedResolver(
        reactor=None,
        inner=None,
        allow=False,  # type: ignore[arg-type]
        allowlist=frozenset({"allowed.example"}),
    )
    resolver.original = stub  # type: ignore[assignment]
    answers = {}
    for name in stub.answers:
        collect = _Collect()
        resolver.resolveHostName(collect, name, 443)
        answers[name] = collect.addresses
    assert answers == {
        "intranet.example": [],
        "mixed.example": ["93.184.216.34"],
        "public.example": ["93.184.216.34"],
        "allowed.example": ["10.9.9.9"],
    }
    assert REFUSED["intranet.example"] == ["10.1.2.3"] and "mixed.example" not in REFUSED


# -- end to end: a crawl with private hosts off ----------------------------------------------------


class _Server:
    """A tiny HTTP(S) server on loopback that answers from a function and counts its requests."""

    def __init__(self, host: str, answer: Any, tls: ssl.SSLContext | None = None) -> None:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                status, headers, body = answer(self.path)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.requests: list[str] = []
        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _feed_body() -> bytes:
    now = dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    return FEED % now.encode()


@pytest.fixture
def internal() -> Iterator[_Server]:
    """The internal service nobody outside may reach: any request to it is a breach."""
    server = _Server(
        "127.0.0.1", lambda _: (200, {"Content-Type": "application/rss+xml"}, _feed_body())
    )
    yield server
    server.close()


def test_redirects_to_private_hosts_are_refused_before_any_connection(
    db_url: str, internal: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The allowed host (an intranet blog the operator named) redirects each feed elsewhere.
    targets = [
        *(f"https://{s}:{internal.port}/feed/" for s in SPELLINGS if s != "10.0.0.7"),
        f"https://intranet.example:{internal.port}/feed/",
        f"http://intranet.example:{internal.port}/feed/",
    ]

    def redirect(path: str) -> tuple[int, dict[str, str], bytes]:
        if not path.startswith("/feed-"):
            return 404, {}, b""  # robots.txt: none
        return 302, {"Location": targets[int(path.strip("/").split("-")[1])]}, b""

    allowed = _Server("127.0.0.2", redirect)
    try:
        import_accounts(
            db_url,
            tmp_path,
            "feed",
            [f"http://127.0.0.2:{allowed.port}/feed-{i}/" for i in range(len(targets))],
        )
        monkeypatch.setenv("REACH_ALLOW_PRIVATE_HOSTS", "false")
        monkeypatch.setenv("REACH_ALLOWED_PRIVATE_HOSTS", "127.0.0.2")
        # A name that resolves to 127.0.0.1: the resolver's answer is stubbed in the crawl process.
        monkeypatch.setenv("PYTHONPATH", str(ROOT))
        monkeypatch.setenv("REACH_TEST_DNS", "intranet.example=127.0.0.1")
        get_settings.cache_clear()
        result = crawl(
            "feed",
            extra_settings={
                "TWISTED_DNS_RESOLVER": "tests.crawler.dns_stub.StubbedGuardedResolver"
            },
        )
    finally:
        allowed.close()
    assert len([p for p in allowed.requests if p.startswith("/feed-")]) == len(
        targets
    )  # each redirect...
    assert internal.requests == []  # ...and none was followed to the internal server
    assert result.status == "failed" and result.accounts_failed == len(targets), result.summary()
    reasons = sorted(a.reason or "" for a in result.accounts)
    assert all(r.startswith("refused: ") for r in reasons), reasons
    assert sum("is a private or loopback address" in r for r in reasons) == len(SPELLINGS) - 1, (
        reasons
    )
    assert (
        sum(
            "intranet.example resolves only to private or loopback address(es) 127.0.0.1" in r
            for r in reasons
        )
        == 1
    ), reasons
    assert sum("plain http to intranet.example" in r for r in reasons) == 1, reasons
    with Session(get_engine(db_url)) as session:
        assert session.exec(select(Post).where(Post.text.contains("INTERNAL"))).all() == []


def _self_signed(tmp_path: Path, name: str) -> ssl.SSLContext:
    """A server context whose certificate names `name` and no trusted issuer."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


def test_certificate_that_does_not_match_fails_the_request_unless_the_host_is_named(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _Server(
        "127.0.0.2",
        lambda _: (200, {"Content-Type": "application/rss+xml"}, _feed_body()),
        tls=_self_signed(tmp_path, "wrong.example"),
    )
    try:
        import_accounts(db_url, tmp_path, "feed", [f"https://127.0.0.2:{server.port}/feed/"])
        monkeypatch.setenv("REACH_ALLOW_PRIVATE_HOSTS", "false")
        monkeypatch.setenv("REACH_ALLOWED_PRIVATE_HOSTS", "127.0.0.2")
        get_settings.cache_clear()
        refused = crawl("feed")
        monkeypatch.setenv("REACH_TLS_UNVERIFIED_HOSTS", f"127.0.0.2:{server.port}")
        get_settings.cache_clear()
        trusted = crawl("feed")
    finally:
        server.close()
    assert refused.status == "failed", refused.summary()
    assert "certificate" in (refused.accounts[0].reason or "").lower(), refused.accounts[0].reason
    assert trusted.status == "succeeded", trusted.summary()
