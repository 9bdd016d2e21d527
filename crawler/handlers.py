"""HTTP download handler that keeps its idle connections.

Scrapy keeps at most CONCURRENT_REQUESTS_PER_DOMAIN idle connections per host, and the next
request usually starts before the last one's connection is back in the pool, so connections are
opened and closed all the time; a cap above the concurrency lets them be reused.
"""

from collections.abc import Sequence
from typing import Any, Protocol, Self

from scrapy.core.downloader.contextfactory import _ScrapyClientContextFactory
from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler
from scrapy.crawler import Crawler
from scrapy.resolver import CachingThreadedResolver
from twisted.internet.interfaces import (
    IAddress,
    IHostnameResolver,
    IHostResolution,
    IResolutionReceiver,
)
from zope.interface import implementer  # type: ignore[import-untyped]  # ships no type information

from reach.handles import ip_literal, is_public_address
from reach.settings import get_settings


class KeepAliveHTTPDownloadHandler(HTTP11DownloadHandler):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._pool.maxPersistentPerHost = crawler.settings.getint("REACH_IDLE_CONNECTIONS_PER_HOST")


# -- where connections are made: the addresses a name resolves to, and the certificate ----------

# Names whose every address was refused, with those addresses, for the request's failure reason.
REFUSED: dict[str, list[str]] = {}


# The methods of IResolutionReceiver and IHostnameResolver that are called here. A zope Interface
# declares its methods without `self`, which mypy (with no zope plugin) cannot call through.
class _ResolutionReceiver(Protocol):
    def resolutionBegan(self, resolution: IHostResolution) -> None: ...
    def addressResolved(self, address: IAddress) -> None: ...
    def resolutionComplete(self) -> None: ...


class _HostnameResolver(Protocol):
    def resolveHostName(
        self,
        resolutionReceiver: _ResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[IAddress]] | None = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution: ...


def _allowed_address(host: str) -> bool:
    address = ip_literal(host)
    return address is not None and is_public_address(address)


@implementer(IResolutionReceiver)
class _PublicAddressesOnly:
    """Passes on the resolved addresses that are public; remembers the ones it refused."""

    def __init__(self, receiver: _ResolutionReceiver, host: str) -> None:
        self.receiver = receiver
        self.host = host
        self.refused: list[str] = []
        self.passed = 0

    def resolutionBegan(self, resolution: IHostResolution) -> None:
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: IAddress) -> None:
        host = getattr(address, "host", "")
        if _allowed_address(host):
            self.passed += 1
            self.receiver.addressResolved(address)
        else:
            self.refused.append(host)

    def resolutionComplete(self) -> None:
        if self.refused and not self.passed:
            REFUSED[self.host.lower()] = sorted(set(self.refused))
        self.receiver.resolutionComplete()


@implementer(IHostnameResolver)
class GuardedResolver:
    """DNS_RESOLVER: Scrapy's caching resolver, passing on only public addresses.

    The connection is made to an address this resolver handed out, so a name that resolves to
    a private address (or is rebound to one after a check) never gets a connection, whatever
    spelling it used. Off when REACH_ALLOW_PRIVATE_HOSTS is on; allow-listed names pass.
    """

    def __init__(
        self, reactor: Any, inner: CachingThreadedResolver, allow: bool, allowlist: frozenset[str]
    ) -> None:
        self.reactor = reactor
        self.inner = inner
        self.allow = allow
        self.allowlist = allowlist
        self.original: _HostnameResolver | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> Self:
        settings = get_settings()
        return cls(
            reactor,
            CachingThreadedResolver.from_crawler(crawler, reactor),
            settings.allow_private_hosts,
            settings.private_host_allowlist,
        )

    def install_on_reactor(self) -> None:
        self.inner.install_on_reactor()
        self.original = self.reactor.nameResolver
        self.reactor.installNameResolver(self)

    def resolveHostName(
        self,
        resolutionReceiver: _ResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[IAddress]] | None = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        assert self.original is not None
        receiver: _ResolutionReceiver = resolutionReceiver
        if not self.allow and hostName.lower() not in self.allowlist:
            receiver = _PublicAddressesOnly(resolutionReceiver, hostName)
        return self.original.resolveHostName(
            receiver, hostName, portNumber, addressTypes, transportSemantics
        )


class VerifyingContextFactory(_ScrapyClientContextFactory):
    """DOWNLOADER_CLIENTCONTEXTFACTORY: certificates verified (DOWNLOAD_VERIFY_CERTIFICATES), except
    for the hosts named in REACH_TLS_UNVERIFIED_HOSTS."""

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        host = hostname.decode("ascii").lower()
        unverified = get_settings().tls_unverified
        if host not in unverified and f"{host}:{port}" not in unverified:
            return super().creatorForNetloc(hostname, port)
        verify, self._verify_certificates = self._verify_certificates, False
        try:
            return super().creatorForNetloc(hostname, port)
        finally:
            self._verify_certificates = verify
