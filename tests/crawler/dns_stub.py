"""A crawl-process resolver for tests: names in REACH_TEST_DNS ("name=address ...") answer with
that address, as a hosts-file entry or an internal DNS would; then the guard judges them."""

import os
from typing import Any

from twisted.internet.address import IPv4Address

from crawler.handlers import GuardedResolver


class _StubbedSystemResolver:
    def __init__(self, real: Any, answers: dict[str, str]) -> None:
        self.real = real
        self.answers = answers

    def resolveHostName(self, receiver: Any, name: str, port: int = 0, *args: Any) -> Any:
        if name.lower() not in self.answers:
            return self.real.resolveHostName(receiver, name, port, *args)
        receiver.resolutionBegan(object())
        receiver.addressResolved(IPv4Address("TCP", self.answers[name.lower()], port))
        receiver.resolutionComplete()
        return receiver


class StubbedGuardedResolver(GuardedResolver):
    """GuardedResolver in front of a system resolver that knows the test's names."""

    def install_on_reactor(self) -> None:
        super().install_on_reactor()
        answers = dict(pair.split("=", 1) for pair in os.environ.get("REACH_TEST_DNS", "").split())
        self.original = _StubbedSystemResolver(self.original, answers)
