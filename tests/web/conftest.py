from __future__ import annotations

import pytest

from modelworks.web import AnnotationItem, Dimension, LabelSchema

TOKENS = {"alice": "alice-token-0001", "bob": "bob-token-0002", "carol": "carol-token-0003"}


@pytest.fixture
def schema():
    return LabelSchema([Dimension("empathy", "Empathy", "0 = harmful ... 4 = like a friend"),
                        Dimension("fluency", "Fluency", "0 = unreadable ... 4 = excellent")], low=0, high=4)


@pytest.fixture
def items():
    return [AnnotationItem(f"d{i}", [("Seeker", f"I feel bad <b>{i}</b>"), ("AI", "I'm here for you.")],
                           [("Role card", f"Age: {20 + i}")], meta={"n": i}) for i in range(4)]
