from modelport.serving.batching.slo import LatencyTargetPolicy, ServiceTimeModel


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
        policy.observe(rows, 0.001 + 0.0001 * rows, [])
    assert policy.batch_limit() == 40  # 1 ms + 40 * 0.1 ms = 5 ms, half of 10 ms


def test_requests_that_would_miss_the_target_are_refused() -> None:
    policy = LatencyTargetPolicy(target_s=0.010, max_batch_size=10, instances=1, clock=Clock())
    for _ in range(20):
        policy.observe(10, 0.002, [])  # a full batch takes 2 ms
    assert policy.admit(queued_rows=0, rows=1)
    assert policy.admit(queued_rows=30, rows=1)  # 4 batches ahead: 9 ms
    assert not policy.admit(queued_rows=60, rows=1)  # 7 batches ahead: 15 ms


def test_headroom_halves_when_p99_misses_and_recovers_slowly() -> None:
    clock = Clock()
    policy = LatencyTargetPolicy(target_s=0.010, max_batch_size=10, instances=1, clock=clock)
    clock.now = 1.0
    policy.observe(10, 0.002, [0.020] * 200)
    assert policy.headroom == 0.5
    for step in range(1, 4):
        clock.now = 1.0 + step
        policy.observe(10, 0.002, [0.001] * 200)
    assert abs(policy.headroom - 0.65) < 1e-9


def test_shedding_everything_does_not_lock_the_policy_out() -> None:
    clock = Clock()
    policy = LatencyTargetPolicy(target_s=0.010, max_batch_size=10, instances=1, clock=clock)
    for _ in range(20):
        policy.observe(10, 0.002, [])
    clock.now = 1.0
    policy.observe(10, 0.002, [0.050] * 200)  # a burst of misses: headroom halves
    clock.now = 2.0
    policy.observe(10, 0.002, [0.050] * 200)
    assert policy.headroom == 0.25
    rejected_then_admitted = []
    for step in range(40):  # no request is admitted, so nothing is measured; time alone must relax it
        clock.now = 3.0 + step * 0.05
        rejected_then_admitted.append(policy.admit(queued_rows=20, rows=1))
    assert not rejected_then_admitted[0] and rejected_then_admitted[-1]
