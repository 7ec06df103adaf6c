"""The one backoff: capped exponential steps, full or equal jitter, bounded by a Deadline. Injected random and clock, no sleep."""
import random

import pytest

from ansible_collections.cloudmeta.imds.plugins.module_utils._common.backoff import EQUAL, FULL, Backoff
from ansible_collections.cloudmeta.imds.plugins.module_utils._common.deadline import Deadline


def fake_deadline(seconds):
    now, sleeps = [0.0], []

    def sleep(interval):
        sleeps.append(interval)
        now[0] += interval

    return Deadline(seconds, clock=lambda: now[0], sleep=sleep), now, sleeps


def top(low, high):
    return high


def bottom(low, high):
    return low


def test_steps_double_from_first_and_stop_at_the_cap():
    backoff = Backoff(0.5, 6.0)
    assert [backoff.step(attempt) for attempt in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 6.0, 6.0, 6.0]
    # Far attempts neither overflow nor pass the cap.
    assert backoff.step(10 ** 6) == 6.0


def test_full_jitter_spans_zero_to_the_step():
    assert [Backoff(1, 8, FULL, uniform=top).delay(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]
    assert [Backoff(1, 8, FULL, uniform=bottom).delay(n) for n in (1, 2, 3)] == [0, 0, 0]


def test_equal_jitter_never_waits_less_than_half_the_step():
    assert [Backoff(1, 8, EQUAL, uniform=bottom).delay(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1, 2, 4, 4]
    assert [Backoff(1, 8, EQUAL, uniform=top).delay(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]


@pytest.mark.parametrize('jitter', [FULL, EQUAL])
def test_real_random_stays_within_the_bounds_and_varies(jitter):
    generator = random.Random(7)
    backoff = Backoff(2.0, 30.0, jitter, uniform=generator.uniform)
    for attempt in range(1, 12):
        delays = {backoff.delay(attempt) for _draw in range(50)}
        step = backoff.step(attempt)
        low = step / 2 if jitter == EQUAL else 0
        assert all(low <= delay <= step for delay in delays)
        # Jitter: instances that start together do not wait alike.
        assert len(delays) == 50


def test_pause_sleeps_the_next_wait_and_counts_it():
    deadline, now, sleeps = fake_deadline(100)
    backoff = Backoff(1, 4, EQUAL, uniform=top)
    assert [backoff.pause(deadline) for _poll in range(4)] == [1, 2, 4, 4]
    assert sleeps == [1, 2, 4, 4]
    assert now[0] == 11
    assert backoff.attempts == 4


def test_pause_never_sleeps_past_the_deadline():
    deadline, now, sleeps = fake_deadline(5)
    backoff = Backoff(2, 30, EQUAL, uniform=top)
    backoff.pause(deadline)
    backoff.pause(deadline)
    assert sleeps == [2, 3]
    assert now[0] == 5 and deadline.expired()


def test_reset_starts_again_from_first():
    backoff = Backoff(1, 16, EQUAL, uniform=top)
    assert [backoff.next_delay() for _n in range(3)] == [1, 2, 4]
    backoff.reset()
    assert backoff.next_delay() == 1


def test_random_uniform_is_read_at_each_wait_so_tests_may_patch_it(monkeypatch):
    backoff = Backoff(1, 8, FULL)
    monkeypatch.setattr(random, 'uniform', top)
    assert backoff.delay(3) == 4


@pytest.mark.parametrize('first, cap, jitter', [(0, 1, FULL), (2, 1, FULL), (-1, 1, EQUAL), (1, 2, 'none')])
def test_nonsense_settings_are_refused(first, cap, jitter):
    with pytest.raises(ValueError):
        Backoff(first, cap, jitter)
