"""Rate limits on superqt's qthrottled/qdebounced: immediate when isolated, capped in bursts."""

from __future__ import annotations

import time

from metagui.control.throttle import Debounce, Throttle


def test_throttle_runs_an_isolated_request_at_once_and_caps_a_burst(qtbot):
    calls = []
    throttle = Throttle(100, lambda: calls.append(time.perf_counter()))
    start = time.perf_counter()
    throttle.request()
    assert len(calls) == 1 and not throttle.pending()  # leading edge: no wait
    for _ in range(20):
        throttle.request()
    assert len(calls) == 1 and throttle.pending()
    qtbot.waitUntil(lambda: len(calls) == 2, timeout=2000)
    assert calls[1] - start >= 0.09  # the burst ran once, at the end of the interval
    qtbot.wait(250)
    assert len(calls) == 2 and not throttle.pending()


def test_throttle_now_runs_at_once_even_within_the_interval(qtbot):
    calls = []
    throttle = Throttle(1000, lambda: calls.append(1))
    throttle.request()
    throttle.request()  # scheduled
    throttle.now()  # a final result: shown now, and only once
    assert len(calls) == 2 and not throttle.pending()
    qtbot.wait(50)
    throttle.now()
    assert len(calls) == 3


def test_debounce_waits_for_a_pause_but_not_longer_than_max_wait(qtbot):
    calls = []
    debounce = Debounce(80, 200, lambda: calls.append(time.perf_counter()))
    start = time.perf_counter()
    while time.perf_counter() - start < 0.5:  # requests every 20 ms: never an 80 ms pause
        debounce.request()
        qtbot.wait(20)
    assert len(calls) >= 2  # max_wait kept it updating while requests kept coming
    debounce.request()
    debounce.cancel()
    count = len(calls)
    qtbot.wait(300)
    assert len(calls) == count  # cancelled: nothing more
