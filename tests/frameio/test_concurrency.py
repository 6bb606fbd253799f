"""The part concurrency controller (frameio/uploads/concurrency.py) under a fake clock, against model links:
it ramps up where more connections pay, stays put where they don't, halves on congestion, and one
budget serves every upload of the process."""

import threading

import pytest

from frameio.uploads import concurrency
from frameio.uploads.concurrency import Controller, PartBudget

MB = 1_000_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drive(controller: Controller, clock: FakeClock, link, seconds: float, step: float = 0.05) -> list[int]:
    """Run the controller against `link(limit) -> bytes/s` with every slot wanted; the limits it chose."""
    limits = []
    for _ in range(int(seconds / step)):
        clock.now += step
        controller.waited()  # parts are queued: the budget is the bottleneck
        controller.carried(int(link(controller.limit) * step))
        controller.tick()
        limits.append(controller.limit)
    return limits


def wan(limit: int) -> float:
    """10 MB/s per connection, 200 MB/s for the link."""
    return min(limit * 10 * MB, 200 * MB)


def test_ramps_up_on_a_link_that_rewards_it():
    clock = FakeClock()
    controller = Controller(ceiling=64, clock=clock)
    limits = drive(controller, clock, wan, seconds=3)
    assert limits[0] == concurrency.START
    assert 20 <= controller.limit <= 64  # enough connections to fill 200 MB/s at 10 MB/s each
    reached = next(i for i, limit in enumerate(limits) if limit >= 20)
    assert reached * 0.05 <= 1.3  # within 1.3 s (each step waits for its buffers to fill): not the upload
    assert controller.rate == pytest.approx(200 * MB, rel=0.01)


def test_a_latency_bound_link_is_filled_in_two_steps():
    clock = FakeClock()
    controller = Controller(ceiling=256, clock=clock)
    limits = drive(controller, clock, lambda limit: limit * 10 * MB, seconds=3)  # 10 MB/s a connection, no cap
    steps = [limit for i, limit in enumerate(limits) if i == 0 or limits[i - 1] != limit]
    # START -> 2 x START doubled the rate (each connection at its 10 MB/s, far below the link): then 4 x, twice
    # confirmed, not 2 x
    assert steps[:3] == [concurrency.START, 2 * concurrency.START, 8 * concurrency.START]


def test_one_window_that_looks_linear_is_not_enough_to_jump():
    clock = FakeClock()
    controller = Controller(ceiling=256, clock=clock)
    windows = []

    def link(limit: int) -> float:  # the CPU is the limit (80 MB/s), but a busy 0.2 s doubled the figure
        windows.append(limit)
        return 160 * MB if limit == 2 * concurrency.START and 10 <= windows.count(limit) < 14 else 80 * MB

    limits = drive(controller, clock, link, seconds=10)
    assert max(limits) <= 4 * concurrency.START


def test_a_step_that_pays_less_than_linearly_only_doubles():
    clock = FakeClock()
    controller = Controller(ceiling=64, clock=clock)
    limits = drive(controller, clock, lambda limit: min(limit, 6) * 10 * MB, seconds=3)  # 4 -> 8: 1.5 x, not 2 x
    assert 2 * concurrency.START in limits and max(limits) <= 4 * concurrency.START


def test_a_slow_start_and_a_burst_after_a_step_do_not_make_it_pay():
    """Loopback, where the CPU is the limit (80 MB/s whatever the limit), measured as it is: slow for the
    first 0.6 s (connections opening, buffers faulted in), then, for 0.4 s after each step up, a quarter
    more (bytes parked in the new connections' buffers, beyond what the settling measurement absorbs).
    One measurement of each took 8 -> 16 -> 32: an uploader holding four times the buffers for nothing."""
    clock = FakeClock()
    controller = Controller(ceiling=64, clock=clock)
    started, changed, last = clock.now, clock.now - 1, [controller.limit]

    def link(limit: int) -> float:
        nonlocal changed
        if limit > last[0]:
            changed = clock.now
        last[0] = limit
        if clock.now - started < 0.6:
            return 60 * MB
        return 100 * MB if clock.now - changed < 0.4 else 80 * MB

    limits = drive(controller, clock, link, seconds=4)  # before the first re-probe
    assert max(limits) <= 2 * concurrency.START
    assert controller.limit == concurrency.START


def test_above_the_fast_rate_it_steps_by_a_quarter():
    clock = FakeClock()
    controller = Controller(ceiling=64, clock=clock)
    limits = drive(controller, clock, lambda limit: 1000 * MB, seconds=4)  # loopback at 1 GB/s, flat
    assert max(limits) == concurrency.START + concurrency.START // 4 and controller.limit == concurrency.START
    clock = FakeClock()
    controller = Controller(ceiling=64, clock=clock)
    limits = drive(controller, clock, lambda limit: limit * 100 * MB, seconds=4)  # a LAN that rewards them
    steps = [limit for i, limit in enumerate(limits) if i == 0 or limits[i - 1] != limit]
    assert steps[:4] == [8, 10, 12, 15] and controller.limit >= 20


def test_on_capped_connections_a_step_that_fills_the_link_is_kept():
    """8 -> 16 doubled the rate (each connection capped at 10 MB/s), so the next step is x 4; 16 -> 64 adds
    6 %, not 10 %, as the link is nearly full: 64 stays, for the upload's tail (Controller._worth_keeping),
    and the probes after it (+25 %) do not pay and are undone."""
    clock = FakeClock()
    controller = Controller(ceiling=256, clock=clock)
    limits = drive(controller, clock, lambda limit: min(limit * 10 * MB, 170 * MB), seconds=20)
    assert controller.limit == 64 and max(limits) == 80


def test_ramp_stops_at_the_ceiling():
    clock = FakeClock()
    controller = Controller(ceiling=12, clock=clock)
    assert max(drive(controller, clock, wan, seconds=5)) == 12


def test_stays_put_on_a_link_that_does_not_reward_it():
    clock = FakeClock()
    controller = Controller(ceiling=64, clock=clock)
    limits = drive(controller, clock, lambda limit: 80 * MB, seconds=30)  # loopback: the CPU is the limit
    assert controller.limit == concurrency.START
    # it tried double once (the first figure, measured twice), then a quarter more for one measurement
    # every REPROBE_SECONDS: above START about a tenth of the time, never beyond double
    assert max(limits) <= 2 * concurrency.START
    assert sum(1 for limit in limits if limit > concurrency.START) / len(limits) < 0.15


def test_finds_the_knee_and_does_not_grow_past_it():
    clock = FakeClock()
    controller = Controller(ceiling=64, clock=clock)
    limits = drive(controller, clock, lambda limit: min(limit, 6) * 10 * MB, seconds=30)  # 6 connections fill it
    settled = limits[-200:]  # the last 10 s: at the knee, but for a probe now and then
    assert 6 <= max(set(settled), key=settled.count) <= 8
    assert max(settled) <= 10


def test_a_ramp_stopped_by_one_bad_figure_resumes_at_the_next_probe():
    clock = FakeClock()
    controller = Controller(ceiling=64, clock=clock)
    noisy = iter([10 * MB] * 40)  # the host was busy for the first two seconds: everything looked slow

    def link(limit: int) -> float:
        return next(noisy, None) or wan(limit)

    drive(controller, clock, link, seconds=2)
    assert controller.limit <= 2 * concurrency.START
    drive(controller, clock, link, seconds=concurrency.REPROBE_SECONDS + 3)
    assert controller.limit >= 20


def test_halves_on_congestion_and_waits_before_growing():
    clock = FakeClock()
    controller = Controller(ceiling=64, clock=clock)
    drive(controller, clock, wan, seconds=3)
    before = controller.limit
    controller.congestion()
    assert controller.limit == before // 2
    controller.congestion()
    assert controller.limit == before // 4
    held = drive(controller, clock, wan, seconds=concurrency.COOLDOWN_SECONDS - 0.5)
    assert set(held) == {before // 4}  # no growth during the cool-down
    drive(controller, clock, wan, seconds=concurrency.REPROBE_SECONDS + 2)
    assert controller.limit > before // 4  # then it probes its way back up


def test_measures_only_while_the_budget_is_the_bottleneck():
    clock = FakeClock()
    controller = Controller(ceiling=64, clock=clock)
    for _ in range(100):  # the last parts of an upload: nobody waits for a slot
        clock.now += 0.05
        controller.carried(MB)
        controller.tick()
    assert controller.limit == concurrency.START


def test_a_pinned_limit_never_moves():
    clock = FakeClock()
    controller = Controller(ceiling=64, pinned=16, clock=clock)
    assert set(drive(controller, clock, wan, seconds=3)) == {16}
    controller.congestion()
    assert controller.limit == 16


def test_one_budget_for_the_process(settings):
    settings.FRAMEIO_PART_CONCURRENCY, settings.FRAMEIO_PART_CONCURRENCY_MAX = 0, 24
    first = concurrency.budget()
    assert concurrency.budget() is first  # every upload of the process shares it
    assert first.controller.ceiling == 24 and first.controller.pinned is None
    settings.FRAMEIO_PART_CONCURRENCY = 3
    pinned = concurrency.budget()
    assert pinned is not first and pinned.snapshot().limit == 3 and pinned.snapshot().pinned


def test_the_budget_holds_threads_to_the_limit():
    budget = PartBudget(Controller(ceiling=8, pinned=2))
    inside, most, lock = [0], [0], threading.Lock()
    gate = threading.Event()

    def part() -> None:
        assert budget.acquire(lambda: False)
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        gate.wait(0.2)
        with lock:
            inside[0] -= 1
        budget.release()

    threads = [threading.Thread(target=part) for _ in range(6)]  # two uploads of three parts each
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert most[0] == 2 and budget.snapshot().in_flight == 0


def test_a_stopped_worker_gives_up_waiting():
    budget = PartBudget(Controller(ceiling=1, pinned=1))
    assert budget.acquire(lambda: False)
    assert budget.acquire(lambda: True) is False
