"""Where digests and alerts go: REACH_NOTIFY_URLS plus the URLs kept in a Prefect Secret block.

Importing this module loads no Prefect block code; the block is read only when it is named.
"""

from reach.notify import configured_urls, split_urls
from reach.settings import get_settings


class NotifyBlockMissing(RuntimeError):
    """REACH_NOTIFY_SECRET_BLOCK names a Secret block that cannot be read (no retry helps until
    the block is created or the setting corrected)."""


def notify_urls() -> list[str]:
    """REACH_NOTIFY_URLS, then the URLs of the Secret block REACH_NOTIFY_SECRET_BLOCK names
    (each URL once, in that order); raises NotifyBlockMissing when that block cannot be read."""
    settings = get_settings()
    urls = configured_urls(settings)
    if settings.notify_secret_block:
        urls += secret_block_urls(settings.notify_secret_block)
    return list(dict.fromkeys(urls))


def secret_block_urls(name: str) -> list[str]:
    """The Apprise URLs in the Prefect Secret block `name`: one string (space- or
    newline-separated) or a JSON list of strings."""
    from prefect.blocks.system import Secret

    try:
        # _sync: a plain call even when an event loop runs in this thread (an async flow).
        block = Secret.load(name, _sync=True)  # type: ignore[call-arg]
        assert isinstance(block, Secret)
        value = block.get()
    except ValueError as exc:
        raise NotifyBlockMissing(
            f"Prefect Secret block {name!r} (REACH_NOTIFY_SECRET_BLOCK) not found: create it "
            f"or unset REACH_NOTIFY_SECRET_BLOCK ({_one_line(exc)})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - the API is down or refuses: say so in one line
        raise NotifyBlockMissing(
            f"Prefect Secret block {name!r} (REACH_NOTIFY_SECRET_BLOCK) cannot be read: "
            f"{type(exc).__name__}: {_one_line(exc)}"
        ) from None
    if isinstance(value, str):
        return split_urls(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [u for v in value for u in split_urls(v)]
    raise NotifyBlockMissing(
        f"Prefect Secret block {name!r} holds a {type(value).__name__}: store the URLs as one "
        "string (space- or newline-separated) or a list of strings"
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]
