"""Integration: `modelworks honeypot serve` on 127.0.0.1 in a subprocess, KnockoffNets over real HTTP,
and `verify --url` in black-box mode."""

from __future__ import annotations

import json

import pytest
import torch

from tests._net import serve_cli

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")



@pytest.mark.slow
def test_knockoff_over_http_against_served_honeypot(tmp_path, cli):
    import httpx

    from modelworks.honeypot.attacks import AttackConfig, agreement, knockoff_nets
    from modelworks.honeypot.datasets import load_images
    from modelworks.honeypot.defences import HTTPBlackBox, ModelBlackBox
    from modelworks.honeypot.trigger import new_trigger, save_trigger
    from modelworks.honeypot.verify import save_calibration
    from modelworks.honeypot.victims import build_classifier, save_model, train_classifier

    torch.set_num_threads(1)
    train, test = load_images("digits[0:900]", 8), load_images("digits[1300:1797]", 8)
    torch.manual_seed(0)
    victim = train_classifier(build_classifier("cnn_small", 1, 8, 10), train.x, train.y, epochs=10, lr=3e-3)
    model_dir = tmp_path / "served"
    save_model(victim, model_dir / "model.pt")
    (model_dir / "model.json").write_text(json.dumps({"input_shape": [1, 8, 8], "num_classes": 10}))
    trig = new_trigger("patch", 1, 8, target=0, patch_size=3)
    save_trigger(trig, tmp_path / "trig" / "trigger.pt")
    save_calibration(tmp_path / "trig" / "verification.json", p0=0.2, data=["digits[1300:1797]"], queries=60,
                     alpha=1e-3)

    with serve_cli("honeypot", "serve", "--model", str(model_dir), path="/info") as port:
        url = f"http://127.0.0.1:{port}"
        box = HTTPBlackBox(url, batch_size=200)
        assert box.info()["input_shape"] == [1, 8, 8]
        # the HTTP answers are the model's own probabilities
        local = ModelBlackBox(victim).query(test.x[:20])
        assert torch.allclose(box.query(test.x[:20]), local, atol=1e-5)
        # a malformed request is refused, not crashed on
        bad = httpx.post(url + "/predict", json={"inputs": [[1.0, 2.0]]}, timeout=10)
        assert bad.status_code == 422
        pool = torch.cat([load_images("photos_b[0:600]", 8).x, load_images("digits[900:1300]", 8).x])
        cfg = AttackConfig(budget=1000, epochs=10, arch="cnn_small", lr=3e-3)
        ex = knockoff_nets(box, pool, cfg, num_classes=10, seed=0)
        assert box.queries == 1020
        assert httpx.get(url + "/info").json()["queries"] == 1020  # the refused request is not counted
        assert agreement(ex.substitute, victim, test.x) > 0.6
        # black-box verification through the CLI: a clean victim is not flagged (exit code 1)
        res = cli("honeypot", "verify", "--url", url, "--trigger", str(tmp_path / "trig" / "trigger.pt"))
        assert res.returncode == 1, res.stderr
        assert "ownership not shown" in res.stdout and "/60" in res.stdout
        box.close()


def test_predict_refuses_non_finite_inputs_and_oversized_bodies():
    from fastapi.testclient import TestClient

    from modelworks.honeypot import serve
    from modelworks.honeypot.victims import build_classifier

    app = serve.create_predict_app(build_classifier("mlp", 1, 4, 3), (1, 4, 4))
    c = TestClient(app)
    ok = c.post("/predict", json={"inputs": [[[0.5] * 4] * 4]})
    assert ok.status_code == 200 and len(ok.json()["probs"][0]) == 3
    nan = c.post("/predict", content=b'{"inputs": [[[NaN, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]]}',
                 headers={"content-type": "application/json"})
    assert nan.status_code == 422 and "finite" in nan.json()["detail"]
    big = c.post("/predict", content=b" " * (serve.MAX_BODY_BYTES + 1), headers={"content-type": "application/json"})
    assert big.status_code == 413
