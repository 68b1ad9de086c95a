"""The generation slot: one holder, bounded waiting, 503 instead of a pile-up, background yields."""
from __future__ import annotations

import threading
import time

import pytest

from service.errors import Busy
from service.llm.slot import GenerationSlot


def test_one_holder_at_a_time_and_timeout():
    slot = GenerationSlot(timeout_s=0.2, max_waiting=2, retry_after_s=7)
    with slot.hold():
        started = time.monotonic()
        with pytest.raises(Busy) as info:
            with slot.hold():
                pass
        assert time.monotonic() - started >= 0.19
        assert info.value.retry_after == 7 and info.value.status == 503
    with slot.hold():
        pass  # free again


def test_too_many_waiting_is_refused_at_once():
    slot = GenerationSlot(timeout_s=5, max_waiting=1, retry_after_s=1)
    release = threading.Event()
    entered = threading.Event()

    def holder():
        with slot.hold():
            entered.set()
            release.wait(5)

    def waiter():
        with slot.hold():
            pass

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    threads[0].start()
    entered.wait(5)
    threads[1].start()
    deadline = time.monotonic() + 5
    while slot.waiting() < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    with pytest.raises(Busy):
        with slot.hold():
            pass
    assert time.monotonic() - started < 0.1
    release.set()
    for t in threads:
        t.join(5)


def test_background_waits_for_requests():
    slot = GenerationSlot(timeout_s=5, max_waiting=4, retry_after_s=1)
    order: list[str] = []
    release = threading.Event()

    def holder():
        with slot.hold():
            release.wait(5)
            order.append("holder")

    def request():
        with slot.hold():
            order.append("request")

    def background():
        with slot.hold(background=True):
            order.append("background")

    h = threading.Thread(target=holder)
    h.start()
    time.sleep(0.05)
    b = threading.Thread(target=background)
    b.start()
    time.sleep(0.05)
    r = threading.Thread(target=request)
    r.start()
    time.sleep(0.05)
    release.set()
    for t in (h, b, r):
        t.join(5)
    assert order == ["holder", "request", "background"]


def test_background_waits_for_a_pause_in_requests():
    """A run of requests, each starting shortly after the last ended: background work starts only once the
    slot has had no request for ``quiet_s``, not in the gaps between them."""
    slot = GenerationSlot(timeout_s=5, max_waiting=4, retry_after_s=1, quiet_s=0.3)
    with slot.hold(background=True):
        pass  # no request yet: no pause to wait for
    ended: list[float] = []
    started: list[float] = []
    waiting = threading.Event()

    def background():
        waiting.set()
        with slot.hold(background=True):
            started.append(time.monotonic())

    with slot.hold():
        b = threading.Thread(target=background)
        b.start()
        waiting.wait(5)
    ended.append(time.monotonic())
    for _ in range(4):  # gaps of 0.1 s, shorter than the quiet period
        time.sleep(0.1)
        with slot.hold():
            pass
        ended.append(time.monotonic())
    b.join(5)
    assert started and started[0] >= ended[-1] + 0.3 - 0.01
