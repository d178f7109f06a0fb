import pytest

from modelport.core import InvalidInput
from modelport.core.targets import Target


@pytest.mark.parametrize(
    ("text", "model", "ref"),
    [("iris", "iris", None), ("iris:2", "iris", "2"), ("iris@production", "iris", "production")],
)
def test_parse_round_trips(text: str, model: str, ref: str | None) -> None:
    target = Target.parse(text)
    assert (target.model, target.ref) == (model, ref)
    assert str(target) == text


@pytest.mark.parametrize("text", ["", ":1", "iris:", "iris:x", "iris:0", "iris@", "iris@12", "@prod"])
def test_parse_rejects_malformed_targets(text: str) -> None:
    with pytest.raises(InvalidInput):
        Target.parse(text)
