"""Retry transient az failures with exponential backoff and jitter; fail permanent ones at once.

Failures are classified by error type, HTTP status and az's message text, never by exit code:
az's exit codes are inconsistent (argparse errors 2, some 404s 2, others 3, many others 1).
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from pysteps.engine.errors import UsageError
from pysteps.engine.runners import AzCallFailed

TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}

# Checked first: a message matching one of these is never retried.
PERMANENT_TEXT = re.compile(
    "|".join([
        r"unrecognized arguments", r"the following arguments are required", r"invalid choice",
        r"is not a valid value", r"ambiguous option", r"usage error", r"misspelled or not recognized",
        r"Please run 'az login'", r"ResourceGroupNotFound", r"ResourceNotFound", r"NotFound\b",
        r"\(Conflict\)", r"AuthorizationFailed", r"AuthenticationFailed", r"Forbidden", r"InvalidParameter",
        r"BadRequest", r"OperationNotAllowed", r"QuotaExceeded", r"InvalidTemplate",
    ]),
    re.IGNORECASE,
)
TRANSIENT_TEXT = re.compile(
    "|".join([
        r"TooManyRequests", r"Too Many Requests", r"\b429\b", r"RetryableError", r"ServerBusy",
        r"ServiceUnavailable", r"Service Unavailable", r"InternalServerError", r"Internal Server Error",
        r"GatewayTimeout", r"Gateway Time-?out", r"Bad Gateway", r"OperationTimedOut", r"timed out",
        r"Connection reset", r"ConnectionResetError", r"Connection aborted", r"RemoteDisconnected",
        r"Max retries exceeded", r"Connection refused", r"temporarily unavailable",
    ]),
    re.IGNORECASE,
)
TRANSIENT_TYPES = {"ServiceRequestError", "ServiceResponseError", "ConnectionError", "ConnectionResetError",
                   "TimeoutError", "Timeout", "ReadTimeout", "ConnectTimeout", "IncompleteReadError"}


def is_transient(failure: AzCallFailed) -> bool:
    """True when trying the same call again may succeed."""
    if "SystemExit" in failure.error_type.split():  # argparse: the arguments themselves are wrong
        return False
    if failure.status is not None:
        return failure.status in TRANSIENT_STATUS
    if TRANSIENT_TYPES.intersection(failure.error_type.split()):
        return True
    if PERMANENT_TEXT.search(failure.detail):
        return False
    return bool(TRANSIENT_TEXT.search(failure.detail))


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying: `attempts` in all, within `deadline` seconds from the first try."""

    attempts: int = 5
    deadline: float = 900.0
    base_delay: float = 2.0
    max_delay: float = 60.0

    @classmethod
    def from_env(cls, environ=os.environ) -> RetryPolicy:
        """Defaults, overridden by $PYSTEPS_RETRY_ATTEMPTS and $PYSTEPS_RETRY_DEADLINE (seconds)."""
        policy = cls()
        attempts = _positive(environ, "PYSTEPS_RETRY_ATTEMPTS", int, policy.attempts)
        deadline = _positive(environ, "PYSTEPS_RETRY_DEADLINE", float, policy.deadline)
        return cls(attempts=attempts, deadline=deadline, base_delay=policy.base_delay, max_delay=policy.max_delay)

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before attempt `attempt + 1`: Retry-After if given, else backoff with jitter."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        backoff = ceiling / 2 + rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            return max(retry_after, 0.0) + rng.uniform(0, min(1.0, ceiling / 4))
        return backoff


def call_with_retries(call: Callable[[], object], policy: RetryPolicy, *,
                      on_retry: Callable[[int, float, AzCallFailed], None] = lambda *_: None,
                      sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                      rng: random.Random | None = None):
    """Run `call` until it succeeds, fails permanently, or the attempts or the deadline run out.

    Returns (result, attempts). Raises the last AzCallFailed, with `attempts` set on it.
    """
    rng = rng or random.Random()
    started = clock()
    attempt = 1
    while True:
        try:
            return call(), attempt
        except AzCallFailed as failure:
            failure.attempts = attempt
            if not is_transient(failure) or attempt >= policy.attempts:
                raise
            wait = policy.delay(attempt, failure.retry_after, rng)
            if clock() - started + wait > policy.deadline:
                raise
            on_retry(attempt, wait, failure)
            sleep(wait)
            attempt += 1


def _positive(environ, name, kind, default):
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise UsageError(f"{name}={raw!r}: expected a positive {'whole number' if kind is int else 'number'}")
    return value
