from modelport.serving.batching.slo import (
    FLOOD_HOLD_S,
    FLOOD_RATIO,
    REFUSAL_PAUSE_S,
    LatencyTargetPolicy,
    ServiceTimeModel,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_service_time_model_learns_fixed_and_per_row_cost() -> None:
    model = ServiceTimeModel()
    for rows in (1, 8, 32, 4, 16) * 10:
        model.observe(rows, 0.001 + 0.0001 * rows)
    assert abs(model.predict(64) - (0.001 + 0.0064)) < 1e-6
    assert abs(model.predict(1) - 0.0011) < 1e-6


def test_batch_limit_keeps_one_batch_within_half_the_target() -> None:
    policy = LatencyTargetPolicy(target_s=0.010, max_batch_size=256, instances=1, clock=Clock())
    for rows in (1, 10, 50, 100) * 5:
        policy.observe(rows, 0.001 + 0.0001 * rows)
    assert policy.batch_limit() == 40  # 1 ms + 40 * 0.1 ms = 5 ms, half of 10 ms


def test_the_limit_shrinks_on_missed_targets_and_grows_back_while_there_is_room() -> None:
    clock = Clock()
    policy = LatencyTargetPolicy(target_s=0.010, max_batch_size=10, instances=1, clock=clock)
    assert policy.limit == 8 and policy.admit(in_flight=7) and not policy.admit(in_flight=8)
    for period in range(1, 4):  # three periods of misses: 8 -> 6 -> 4 -> 3
        clock.now = period * 0.05
        for _ in range(50):
            policy.observe_request(0.030)
    assert policy.limit == 3
    for period in range(4, 14):  # ten comfortable periods: +1 each
        clock.now = period * 0.05
        for _ in range(50):
            policy.observe_request(0.002)
    assert policy.limit == 13


def test_the_limit_never_drops_below_the_instances_so_it_can_always_recover() -> None:
    clock = Clock()
    policy = LatencyTargetPolicy(target_s=0.010, max_batch_size=10, instances=2, clock=clock)
    for period in range(1, 40):
        clock.now = period * 0.05
        for _ in range(50):
            policy.observe_request(0.500)
    assert policy.limit == 2 and policy.admit(in_flight=1)


def test_a_flood_of_refusals_is_paced_until_it_stops() -> None:
    """Issue 14's refusal state: refusals to clients that came straight back were sent at once, so
    they outnumbered the admitted requests and took their event-loop time; now they are held."""
    clock = Clock()
    policy = LatencyTargetPolicy(target_s=0.010, max_batch_size=10, instances=1, clock=clock)
    assert all(policy.admit(in_flight=n) for n in range(8))
    clock.now = 0.05
    for _ in range(FLOOD_RATIO * 8):  # as many refusals as FLOOD_RATIO admissions: still shedding
        assert not policy.admit(in_flight=8)
    assert policy.refusal_pause_s() == 0.0
    assert not policy.admit(in_flight=8)  # one more: a flood
    assert policy.refusal_pause_s() == REFUSAL_PAUSE_S
    clock.now += FLOOD_HOLD_S - 0.001
    assert policy.refusal_pause_s() == REFUSAL_PAUSE_S
    clock.now += 0.002
    assert policy.refusal_pause_s() == 0.0


def test_refusals_while_admissions_keep_up_are_sent_at_once() -> None:
    clock = Clock()
    policy = LatencyTargetPolicy(target_s=0.010, max_batch_size=10, instances=1, clock=clock)
    for period in range(1, 20):  # every period: 50 admitted and answered in time, 100 refused
        clock.now = period * 0.05
        for _ in range(50):
            assert policy.admit(in_flight=0)
        for _ in range(100):
            assert not policy.admit(in_flight=policy.limit)
        for _ in range(50):
            policy.observe_request(0.002)
    assert policy.refusal_pause_s() == 0.0
    assert policy.limit == 8 + 19  # the latencies still steer the limit
