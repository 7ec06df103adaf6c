"""The one deadline: remaining time never below zero, pauses cut short by the end."""
from ansible_collections.cloudmeta.imds.plugins.module_utils._common.deadline import Deadline


def fake_clock(start=100.0):
    now = [start]
    return now, (lambda: now[0]), (lambda seconds: now.__setitem__(0, now[0] + seconds))


def test_remaining_counts_down_and_stops_at_zero():
    now, clock, sleep = fake_clock()
    deadline = Deadline(5, clock=clock, sleep=sleep)
    now[0] += 2
    assert deadline.remaining() == 3
    assert deadline.elapsed() == 2
    assert not deadline.expired()
    now[0] += 10
    assert deadline.remaining() == 0
    assert deadline.expired()


def test_pause_never_sleeps_past_the_end():
    now, clock, sleep = fake_clock()
    deadline = Deadline(1.5, clock=clock, sleep=sleep)
    deadline.pause(1)
    assert now[0] == 101
    deadline.pause(10)
    assert now[0] == 101.5
    assert deadline.expired()
