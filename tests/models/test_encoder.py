from __future__ import annotations

import numpy as np
import pytest

from modelworks.errors import UserError
from modelworks.models import TextEncoder, default_encoder_path


def test_minilm_embeddings_are_normalised_cached_and_order_independent(tmp_path):
    cache = tmp_path / "emb.sqlite"
    enc = TextEncoder(cache=cache, batch_size=2)
    texts = ["I feel much better now, thank you.", "", "The weather is cold.", "I feel much better now, thank you."]
    a = enc.encode(texts)
    assert a.shape == (4, 384) and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(a[0], a[3])
    assert a[0] @ a[2] < a[0] @ enc.encode(["Thanks, I am feeling better."])[0]  # meaning, not noise
    again = TextEncoder(cache=cache)
    again._embed = None  # a cache hit must not need the model
    assert np.array_equal(again.encode(texts[::-1]), a[::-1])
    uncached = TextEncoder(cache=None).encode(texts[:1])
    assert np.allclose(uncached, a[:1], atol=1e-5)


def test_default_path_and_bad_folder(tmp_path):
    assert default_encoder_path().endswith("model")
    with pytest.raises(UserError, match="model directory not found|no config.json"):
        TextEncoder(tmp_path / "nothing").encode(["x"])
