import random

import pytest

from pysteps.engine.errors import UsageError
from pysteps.engine.retry import RetryPolicy, call_with_retries, is_transient
from pysteps.engine.runners import AzCallFailed


def failure(message="", status=None, error_type="", retry_after=None):
    return AzCallFailed(message, status=status, error_type=error_type, retry_after=retry_after)


@pytest.mark.parametrize("case", [
    failure(status=429), failure(status=503), failure(status=500), failure(status=504),
    failure(error_type="ServiceRequestError AzureError Exception"),
    failure(error_type="ServiceResponseError AzureError Exception"),
    failure("(TooManyRequests) The request is being throttled."),
    failure("Operation returned an invalid status 'Service Unavailable'"),
    failure("HTTPSConnectionPool(host='management.azure.com', port=443): Max retries exceeded"),
    failure("('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))"),
    failure("(InternalServerError) Encountered internal server error."),
    failure("Read timed out. (read timeout=300)"),
])
def test_transient_failures(case):
    assert is_transient(case)


@pytest.mark.parametrize("case", [
    failure(status=404), failure(status=409), failure(status=403), failure(status=400),
    failure("the following arguments are required: --name/-n", error_type="SystemExit BaseException"),
    failure("(ResourceGroupNotFound) Resource group 'rg' could not be found."),
    failure("(AuthorizationFailed) The client does not have authorization"),
    failure("(Conflict) Another operation is running"),
    failure("(OperationNotAllowed) Operation 'generalize' is not allowed on VM 'vm' since the VM is running."),
    failure("Please run 'az login' to setup account."),
    failure("(ResourceNotFound) image 'x' not found; the service timed out looking"),  # permanent text wins
    failure("something nobody has seen before"),
])
def test_permanent_failures(case):
    assert not is_transient(case)


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def flaky(failures, result="ok"):
    remaining = list(failures)

    def call():
        if remaining:
            raise remaining.pop(0)
        return result

    return call


def test_retries_transient_failures_until_success():
    clock = Clock()
    result, attempts = call_with_retries(flaky([failure(status=503), failure(status=503)]), RetryPolicy(),
                                         sleep=clock.sleep, clock=lambda: clock.now, rng=random.Random(1))
    assert (result, attempts) == ("ok", 3)
    assert len(clock.sleeps) == 2


def test_backoff_grows_with_jitter_and_is_capped():
    policy = RetryPolicy(base_delay=2, max_delay=60)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (6, 60), (12, 60)]:
        delays = [policy.delay(attempt, None, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert max(delays) - min(delays) > ceiling / 4  # jitter spreads clients apart


def test_retry_after_is_honoured():
    clock = Clock()
    call_with_retries(flaky([failure(status=429, retry_after=17)]), RetryPolicy(), sleep=clock.sleep,
                      clock=lambda: clock.now, rng=random.Random(1))
    assert 17 <= clock.sleeps[0] <= 18


def test_permanent_failure_is_not_retried():
    clock = Clock()
    with pytest.raises(AzCallFailed) as caught:
        call_with_retries(flaky([failure(status=404)]), RetryPolicy(), sleep=clock.sleep, clock=lambda: clock.now)
    assert caught.value.attempts == 1 and clock.sleeps == []


def test_attempts_are_bounded():
    clock = Clock()
    with pytest.raises(AzCallFailed) as caught:
        call_with_retries(flaky([failure(status=503)] * 10), RetryPolicy(attempts=3), sleep=clock.sleep,
                          clock=lambda: clock.now)
    assert caught.value.attempts == 3 and len(clock.sleeps) == 2


def test_deadline_is_bounded():
    clock = Clock()
    with pytest.raises(AzCallFailed):
        call_with_retries(flaky([failure(status=429, retry_after=40)] * 10), RetryPolicy(attempts=10, deadline=100),
                          sleep=clock.sleep, clock=lambda: clock.now, rng=random.Random(3))
    assert sum(clock.sleeps) <= 100 and len(clock.sleeps) == 2


def test_policy_from_environment():
    policy = RetryPolicy.from_env({"PYSTEPS_RETRY_ATTEMPTS": "2", "PYSTEPS_RETRY_DEADLINE": "30"})
    assert (policy.attempts, policy.deadline) == (2, 30)
    with pytest.raises(UsageError, match="PYSTEPS_RETRY_ATTEMPTS='many'"):
        RetryPolicy.from_env({"PYSTEPS_RETRY_ATTEMPTS": "many"})
