"""Accounts as users write them, turned into one normal form per platform.

Shared by the roster import and the spiders, so that both agree on what an account is.
"""

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from models import PLATFORMS
from reach.settings import get_settings

_MASTODON_NAME = re.compile(r"^[A-Za-z0-9_]+(?:[.\-][A-Za-z0-9_]+)*$")
_HOST = re.compile(r"^(?=.{1,253}(?::\d{1,5})?$)[A-Za-z0-9.\-]+(?::\d{1,5})?$")
_BSKY_HANDLE = re.compile(
    r"^(?=.{3,253}$)([a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9\-]*$"
)
_DID = re.compile(r"^did:(plc|web):[a-zA-Z0-9._:%\-]+$")


class HandleError(ValueError):
    """The account text cannot be understood for its platform."""


@dataclass(frozen=True)
class ParsedAccount:
    """An account in normal form: `key` is unique per platform, `base_url` is where to ask."""

    platform: str
    key: str
    base_url: str | None = None
    profile_url: str | None = None


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def ip_literal(host: str) -> IPAddress | None:
    """The address a host names by itself, in any spelling the C resolver accepts ("127.1",
    "2130706433", "0x7f000001", "0177.0.0.1", "0", "[::1]"), or None for a name."""
    host = host.strip().strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not host or not host[0].isdigit() or not all(c in "0123456789abcdefxABCDEFX." for c in host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def is_public_address(address: IPAddress) -> bool:
    """A globally routable unicast address: not private, loopback, link-local, multicast,
    reserved or unspecified, nor an IPv6 form (mapped, 6to4, Teredo, NAT64) of such an IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and not is_public_address(embedded):
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address.is_loopback
        or address.is_link_local
        or address.is_private
    )


def is_private_host(host: str) -> bool:
    """True for localhost names and for addresses, however spelled, that are not public.

    A name is judged where the crawler connects, by the addresses it resolves to
    (`crawler.handlers.GuardedResolver`)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = ip_literal(name)
    return address is not None and not is_public_address(address)


def _check_url(url: str, allow_private_hosts: bool) -> tuple[str, str]:
    """Validate an http(s) URL; return (scheme, host with port)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        shown = parts.scheme or "none"
        raise HandleError(f"URL scheme must be http or https, got {shown!r} in {url!r}")
    if not parts.hostname or not _HOST.match(parts.netloc.rsplit("@", 1)[-1]):
        raise HandleError(f"malformed URL {url!r}")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise HandleError(f"malformed URL {url!r}: {exc}") from exc
    private = is_private_host(parts.hostname)
    # The operator's named intranet hosts (REACH_ALLOWED_PRIVATE_HOSTS) are accepted as the crawler accepts them.
    if (
        not allow_private_hosts
        and parts.hostname.lower() not in get_settings().private_host_allowlist
    ):
        if private:
            raise HandleError(
                f"private or loopback host {parts.hostname!r} in {url!r} "
                "(allowed only with REACH_ALLOW_PRIVATE_HOSTS=true)"
            )
        if parts.scheme != "https":
            raise HandleError(f"plain http URL {url!r} (use https, or REACH_ALLOW_PRIVATE_HOSTS)")
    return parts.scheme, parts.netloc.lower()


def _instance_base(host: str, allow_private_hosts: bool) -> str:
    if not _HOST.match(host) or "." not in host and ":" not in host and host != "localhost":
        raise HandleError(f"malformed Mastodon instance {host!r}")
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    scheme = "http" if is_private_host(hostname) else "https"
    return _check_url(f"{scheme}://{host}/", allow_private_hosts)[0] + f"://{host}"


def parse_mastodon(text: str, allow_private_hosts: bool = False) -> ParsedAccount:
    """`@name@instance`, `name@instance` or `https://instance/@name`."""
    text = text.strip()
    if text.startswith(("http://", "https://")) or "://" in text:
        _, host = _check_url(text, allow_private_hosts)
        path = urlsplit(text).path.strip("/")
        if not path.startswith("@") or "/" in path:
            raise HandleError(
                f"Mastodon profile URL must look like https://instance/@name: {text!r}"
            )
        name = path[1:]
    else:
        parts = text.removeprefix("@").split("@")
        if len(parts) != 2 or not parts[1]:
            raise HandleError(
                f"Mastodon handle {text!r} has no instance: write it as @name@instance"
            )
        name, host = parts[0], parts[1].lower()
    if not _MASTODON_NAME.match(name):
        raise HandleError(f"malformed Mastodon user name {name!r} in {text!r}")
    base = _instance_base(host, allow_private_hosts)
    return ParsedAccount("mastodon", f"{name.lower()}@{host}", base, f"{base}/@{name}")


def parse_bluesky(text: str, allow_private_hosts: bool = False) -> ParsedAccount:
    """`handle.bsky.social`, `@handle`, `did:plc:...` or `https://bsky.app/profile/<handle|did>`."""
    text = text.strip()
    if "://" in text:
        _check_url(text, allow_private_hosts=False)
        parts = urlsplit(text)
        segments = parts.path.strip("/").split("/")
        if parts.hostname != "bsky.app" or len(segments) != 2 or segments[0] != "profile":
            raise HandleError(
                f"Bluesky profile URL must look like https://bsky.app/profile/handle: {text!r}"
            )
        text = segments[1]
    text = text.removeprefix("@")
    if _DID.match(text):
        key = text
    elif _BSKY_HANDLE.match(text.lower()):
        key = text.lower()
    else:
        raise HandleError(f"malformed Bluesky handle or DID {text!r}")
    return ParsedAccount("bluesky", key, None, f"https://bsky.app/profile/{key}")


def parse_feed(text: str, allow_private_hosts: bool = False) -> ParsedAccount:
    """The URL of an RSS or Atom feed."""
    text = text.strip()
    scheme, host = _check_url(text, allow_private_hosts)
    parts = urlsplit(text)
    url = f"{scheme}://{host}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")
    return ParsedAccount("feed", url, url, None)


def parse_linkedin(text: str, allow_private_hosts: bool = False) -> ParsedAccount:
    """A LinkedIn profile URL (`https://www.linkedin.com/in/<vanity>`) or the bare vanity name."""
    text = text.strip()
    if "://" in text:
        _check_url(text, allow_private_hosts=False)
        segments = urlsplit(text).path.strip("/").split("/")
        if len(segments) < 2 or segments[0] != "in":
            raise HandleError(
                f"LinkedIn profile URL must look like https://www.linkedin.com/in/name: {text!r}"
            )
        text = segments[1]
    if not re.match(r"^[A-Za-z0-9\-_%]{3,100}$", text):
        raise HandleError(f"malformed LinkedIn profile name {text!r}")
    key = text.lower()
    return ParsedAccount("linkedin", key, None, f"https://www.linkedin.com/in/{key}")


_PARSERS = {
    "mastodon": parse_mastodon,
    "bluesky": parse_bluesky,
    "feed": parse_feed,
    "linkedin": parse_linkedin,
}


def parse_account(platform: str, text: str, allow_private_hosts: bool = False) -> ParsedAccount:
    """Normalise an account for its platform, or raise HandleError saying what is wrong."""
    parser = _PARSERS.get(platform.strip().lower())
    if parser is None:
        raise HandleError(f"unknown platform {platform!r} (known: {', '.join(PLATFORMS)})")
    if not text or not text.strip():
        raise HandleError("missing account")
    return parser(text, allow_private_hosts)
