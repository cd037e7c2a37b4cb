"""Fault injection: make chosen requests fail the way Azure sometimes does, reproducibly.

A rule matches requests by method and a path regex (and optionally the action, the last path
segment of a POST), then fires on every Nth match (`every`) or with a seeded probability
(`probability`, `seed`), at most `times` times. What it does:

    {"status": 429, "retry_after": 2}      throttle (ARM's TooManyRequests body)
    {"status": 500} / {"status": 503}      server errors
    {"lro": "Failed"}                      accept, then let the long-running operation end Failed
    {"delay": 1.5}                         answer slowly
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field

from pysteps.sandbox.arm.web import ArmError, Request, Response

STATUS_CODES = {429: "TooManyRequests", 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
                504: "GatewayTimeout"}


@dataclass
class FaultRule:
    method: str = "*"
    path: str = ".*"
    status: int | None = None
    retry_after: int | None = None
    lro: str | None = None
    delay: float = 0.0
    every: int = 1
    probability: float | None = None
    seed: int = 0
    times: int | None = None
    matched: int = 0
    fired: int = 0
    _regex: re.Pattern = field(init=False, repr=False)
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self):
        if self.status is not None and self.status not in STATUS_CODES:
            raise ValueError(f"fault status {self.status}: expected one of {sorted(STATUS_CODES)}")
        if self.lro not in (None, "Failed"):
            raise ValueError(f"fault lro {self.lro!r}: expected 'Failed'")
        if self.every < 1:
            raise ValueError(f"fault every {self.every}: expected 1 or more")
        self._regex = re.compile(self.path, re.IGNORECASE)
        self._random = random.Random(self.seed)

    @classmethod
    def from_json(cls, data: dict) -> FaultRule:
        allowed = {"method", "path", "status", "retry_after", "lro", "delay", "every", "probability", "seed", "times"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault field(s) {', '.join(sorted(unknown))}: "
                             f"expected {', '.join(sorted(allowed))}")
        return cls(**data)

    def to_json(self) -> dict:
        return {"method": self.method, "path": self.path, "status": self.status, "retry_after": self.retry_after,
                "lro": self.lro, "delay": self.delay, "every": self.every, "probability": self.probability,
                "seed": self.seed, "times": self.times, "matched": self.matched, "fired": self.fired}

    def fires(self, request: Request) -> bool:
        if self.method not in ("*", request.method) or not self._regex.search(request.path):
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.matched += 1
        if self.probability is not None:
            hit = self._random.random() < self.probability
        else:
            hit = self.matched % self.every == 0
        self.fired += hit
        return hit


class Faults:
    """The active rules; the ARM server consults them before handling each request."""

    def __init__(self, rules: list[FaultRule] | None = None):
        self._lock = threading.Lock()
        self.rules = list(rules or [])

    def replace(self, rules: list[FaultRule]) -> None:
        with self._lock:
            self.rules = list(rules)

    def check(self, request: Request) -> tuple[Response | None, ArmError | None]:
        """Returns (an immediate error response, or a failure for the request's long-running operation)."""
        with self._lock:
            fired = [rule for rule in self.rules if rule.fires(request)]
        lro_failure = None
        for rule in fired:
            if rule.delay:
                time.sleep(rule.delay)
            if rule.status is not None:
                code = STATUS_CODES[rule.status]
                headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
                message = ("The request is being throttled. Please retry after the time in Retry-After."
                           if rule.status == 429 else f"Injected fault: {code}.")
                return Response(rule.status, ArmError(rule.status, code, message).body(), headers), None
            if rule.lro == "Failed":
                lro_failure = ArmError(500, "InternalOperationError",
                                       "Injected fault: the long-running operation failed.")
        return None, lro_failure
