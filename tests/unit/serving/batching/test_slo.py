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


def test_the_concurrency_limit_follows_littles_law() -> None:
    clock = Clock()
    policy = LatencyTargetPolicy(target_s=0.010, max_batch_size=10, instances=1, clock=clock)
    assert policy.concurrency_limit() is None and policy.admit(in_flight=1000)  # nothing measured yet
    for i in range(2000):  # 2000 answers within one second: 2000 req/s
        clock.now = i / 2000
        policy.observe_request(0.004)
    assert policy.concurrency_limit() == 20  # 2000/s x 10 ms
    assert policy.admit(in_flight=19) and not policy.admit(in_flight=20)


def test_headroom_halves_when_p99_misses_and_recovers_slowly() -> None:
    clock = Clock()
    policy = LatencyTargetPolicy(target_s=0.010, max_batch_size=10, instances=1, clock=clock)
    clock.now = 1.0
    for _ in range(100):
        policy.observe_request(0.020)
    assert policy.headroom == 0.5
    for step in range(1, 4):
        clock.now = 1.0 + step
        for _ in range(200):
            policy.observe_request(0.001)
    assert abs(policy.headroom - 0.65) < 1e-9


def test_shedding_everything_does_not_lock_the_policy_out() -> None:
    clock = Clock()
    policy = LatencyTargetPolicy(target_s=0.010, max_batch_size=10, instances=1, clock=clock)
    for i in range(400):  # misses: headroom halves twice
        clock.now = 1.0 + i / 400
        policy.observe_request(0.050)
    clock.now = 2.0
    for _ in range(200):
        policy.observe_request(0.050)
    assert policy.headroom <= 0.25
    admitted = []
    for step in range(60):  # nothing admitted, so nothing measured: time alone must relax it
        clock.now = 2.5 + step * 0.05
        admitted.append(policy.admit(in_flight=3))
    assert not admitted[0] and admitted[-1]
