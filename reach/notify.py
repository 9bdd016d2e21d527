"""Messages to the team: Apprise URLs (e-mail, Slack, Teams, any JSON webhook), one result per
target, and the URLs never shown with their credentials.

E-mail targets get the HTML body (Apprise adds the plain-text part) and the attachment; chat and
webhook targets get the short text, which carries the link.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import apprise

from reach.settings import Settings

logger = logging.getLogger(__name__)
EMAIL_SCHEMES = ("mailto", "mailtos")


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


def masked(url: str) -> str:
    """The URL as Apprise prints it with privacy on (passwords and tokens starred)."""
    plugin = apprise.Apprise.instantiate(url)
    if not plugin:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        return f"{scheme}://****"
    return str(plugin.url(privacy=True)).split("?", 1)[0]  # type: ignore[no-untyped-call]


def _plugin(url: str) -> apprise.NotifyBase:
    plugin = apprise.Apprise.instantiate(url)
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
) -> list[Sent]:
    """Send to each target; a target that is down or refuses is a result, never an exception."""
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
        with apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:  # type: ignore[no-untyped-call]
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
                captured.write(f"{type(exc).__name__}: {exc}\n")
        errors = [line for line in captured.getvalue().splitlines() if line.strip()]
        error = "" if ok else (errors[-1] if errors else "the target did not accept the message")
        results.append(Sent(target, ok, _scrub(error, url)))
        logger.info("notify %s: %s", target, "sent" if ok else f"failed: {error}")
    return results


def _scrub(message: str, url: str) -> str:
    """An error text without the URL's secrets (Apprise may quote the URL it used)."""
    plugin = apprise.Apprise.instantiate(url)
    secrets = []
    if plugin:
        for attribute in ("password", "token", "secret", "apikey", "webhook_id"):
            value = getattr(plugin, attribute, None)
            if isinstance(value, str) and len(value) >= 3:
                secrets.append(value)
    for secret in secrets:
        message = message.replace(secret, "****")
    return message.replace(url, masked(url))[:500]
