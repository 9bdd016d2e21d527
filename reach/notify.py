"""Messages to the team: Apprise URLs (e-mail, Slack, Teams, any JSON webhook), one result per
target, and the URLs never shown with their credentials.

E-mail targets get the HTML body, its plain-text alternative (ours when given, else Apprise's
rendering of the HTML) and the attachment; chat and webhook targets get the short text, which
carries the link.
"""

import logging
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apprise

from reach.settings import Settings

logger = logging.getLogger(__name__)
EMAIL_SCHEMES = ("mailto", "mailtos")
# The OS's reason in a socket error ("[Errno 111] Connection refused"), without the URL around it.
ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")\]]+")
_PLAIN_PART_LOCK = threading.Lock()


class BadTarget(ValueError):
    """A notify URL Apprise does not understand (named masked: it may hold a password)."""


@dataclass
class Sent:
    """What happened to one target."""

    target: str  # masked
    ok: bool
    error: str = ""


def split_urls(text: str) -> list[str]:
    return [u for u in text.replace("\n", " ").split() if u.strip()]


def configured_urls(settings: Settings) -> list[str]:
    """REACH_NOTIFY_URLS (the Prefect Secret block is read by the flows and the CLI)."""
    return split_urls(settings.notify_urls.get_secret_value())


def _instantiate(url: str) -> apprise.NotifyBase | None:
    # Apprise logs why it cannot load a URL; the caller says so itself, once, masked.
    with apprise.LogCapture(level=logging.CRITICAL):  # type: ignore[no-untyped-call]
        plugin = apprise.Apprise.instantiate(url)
    return plugin or None


def masked(url: str) -> str:
    """The URL as Apprise prints it with privacy on (passwords and tokens starred)."""
    plugin = _instantiate(url)
    if not plugin:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        return f"{scheme}://****"
    return str(plugin.url(privacy=True)).split("?", 1)[0]  # type: ignore[no-untyped-call]


def _plugin(url: str) -> apprise.NotifyBase:
    plugin = _instantiate(url)
    if not plugin:
        raise BadTarget(f"not a notification URL Apprise understands: {masked(url)}")
    return plugin


def check_urls(urls: Sequence[str]) -> None:
    for url in urls:
        _plugin(url)


def is_email(url: str) -> bool:
    return url.split("://", 1)[0].lower() in EMAIL_SCHEMES


def send(
    urls: Sequence[str],
    title: str,
    text: str,
    html: str | None = None,
    attachment: Path | None = None,
    email_text: str | None = None,
) -> list[Sent]:
    """Send to each target; a target that is down or refuses is a result, never an exception.

    `email_text` is the plain-text part of an HTML e-mail (default: Apprise converts the HTML).
    """
    results = []
    for url in urls:
        target = masked(url)
        try:
            plugin = _plugin(url)
        except BadTarget as exc:
            results.append(Sent(target, False, str(exc)))
            continue
        notifier = apprise.Apprise()
        notifier.add(plugin)
        email = is_email(url)
        attach = apprise.AppriseAttachment(str(attachment)) if email and attachment else None
        plain = _plain_part(html, email_text) if email and html and email_text else _nothing()
        with (
            apprise.LogCapture(level=logging.DEBUG, fmt="%(levelno)s %(message)s") as captured,  # type: ignore[no-untyped-call]
            plain,
        ):
            try:
                ok = bool(
                    notifier.notify(
                        body=html if email and html else text,
                        title=title,
                        body_format=apprise.NotifyFormat.HTML
                        if email and html
                        else apprise.NotifyFormat.TEXT,
                        attach=attach,
                    )
                )
            except Exception as exc:  # noqa: BLE001 - a plugin's failure is this target's result
                ok = False
                captured.write(f"{logging.ERROR} {type(exc).__name__}: {exc}\n")
        error = "" if ok else _scrub(_reason(captured.getvalue()), url)
        results.append(Sent(target, ok, error))
        logger.info("notify %s: %s", target, "sent" if ok else f"failed: {error}")
    return results


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@contextmanager
def _plain_part(html: str, text: str) -> Iterator[None]:
    """Apprise 2.0 writes an HTML e-mail's text/plain part by converting the HTML (tables come
    out one cell per line) and has no option to give it: while this one message is prepared,
    its e-mail plugin's converter returns our text for our HTML and converts anything else as
    before. If Apprise moves the converter, its own conversion is used."""
    module = sys.modules.get("apprise.plugins.email.base")
    original: Callable[..., Any] | None = getattr(module, "convert_between", None)
    if module is None or original is None:
        yield
        return

    def convert(from_format: Any, to_format: Any, content: Any) -> Any:
        if content == html and to_format == apprise.NotifyFormat.TEXT:
            return text
        return original(from_format, to_format, content)

    with _PLAIN_PART_LOCK:
        module.convert_between = convert  # type: ignore[attr-defined]
        try:
            yield
        finally:
            module.convert_between = original  # type: ignore[attr-defined]


def _reason(log: str) -> str:
    """Apprise's last warning (what failed), with the socket error's cause when it logged one."""
    warning, cause = "", ""
    for line in log.splitlines():
        level, _, message = line.partition(" ")
        if not level.isdigit() or not message.strip():
            continue
        if int(level) >= logging.WARNING:
            warning = message.strip()
        elif message.startswith("Socket Exception:"):
            detail = message.removeprefix("Socket Exception:").strip()
            found = ERRNO.search(detail)
            # Only the OS's words or a short sentence: a longer text may quote the URL.
            if found:
                cause = found.group(0).strip()
            elif len(detail) <= 120 and "/" not in detail:
                cause = detail
    if not warning:
        return "the target did not accept the message"
    return f"{warning} ({cause})" if cause and cause not in warning else warning


def _scrub(message: str, url: str) -> str:
    """An error text without the URL's secrets (Apprise may quote the URL it used)."""
    plugin = _instantiate(url)
    secrets = []
    if plugin:
        for attribute in ("password", "token", "secret", "apikey", "webhook_id"):
            value = getattr(plugin, attribute, None)
            if isinstance(value, str) and len(value) >= 3:
                secrets.append(value)
    for secret in secrets:
        message = message.replace(secret, "****")
    return message.replace(url, masked(url))[:500]
