import pytest

from modelport.core.serving_config import ServingConfig
from modelport.serving.batching import FixedPolicy


def test_fixed_policy_waits_out_the_delay_unless_a_size_is_reached_or_the_request_is_lone() -> None:
    config = ServingConfig(max_batch_size=8, max_queue_delay_us=500, preferred_batch_sizes=(4,))
    policy = FixedPolicy(config)
    assert policy.wait_s(1, 0.0002, lone=False) == pytest.approx(0.0003)
    assert policy.wait_s(1, 0.0002, lone=True) == 0.0
    assert policy.wait_s(4, 0.0, lone=False) == 0.0  # the preferred size leaves early
    assert policy.wait_s(3, 0.001, lone=False) == 0.0  # the delay is up
    no_preference = FixedPolicy(ServingConfig(max_batch_size=8, max_queue_delay_us=500))
    assert no_preference.wait_s(7, 0.0, lone=False) > 0
    assert no_preference.wait_s(8, 0.0, lone=False) == 0.0  # the limit leaves at once
