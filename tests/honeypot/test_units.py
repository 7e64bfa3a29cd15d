"""Components of modelworks.honeypot on tiny data: trigger bound, binomial test, honeypot layer, defences."""

from __future__ import annotations

import pytest
import torch

from modelworks.errors import UserError


def _digits(n=600):
    from modelworks.honeypot.datasets import load_images

    return load_images(f"digits[0:{n}]", 8)


def test_uap_linf_stays_within_bound():
    from modelworks.honeypot.trigger import new_trigger, uap_step
    from modelworks.honeypot.victims import build_classifier

    torch.manual_seed(0)
    model = build_classifier("mlp", 1, 8, 10)
    x = torch.rand(64, 1, 8, 8)
    trig = new_trigger("linf", 1, 8, target=3, eps=0.05)
    uap_step(trig, model, x, steps=10, alpha=0.03)
    assert trig.delta.abs().max() <= 0.05 + 1e-6
    stamped = trig.apply(x)
    assert (stamped - x).abs().max() <= 0.05 + 1e-6
    assert stamped.min() >= 0 and stamped.max() <= 1


def test_uap_patch_only_touches_its_corner():
    from modelworks.honeypot.trigger import new_trigger, uap_step
    from modelworks.honeypot.victims import build_classifier

    torch.manual_seed(0)
    model = build_classifier("cnn_small", 1, 8, 10)
    x = torch.rand(32, 1, 8, 8)
    trig = new_trigger("patch", 1, 8, target=1, patch_size=3, corner="top_left")
    uap_step(trig, model, x, steps=5, alpha=0.1)
    stamped = trig.apply(x)
    changed = (stamped != x).any(dim=0)[0]
    assert not changed[3:, :].any() and not changed[:, 3:].any()
    assert trig.delta.min() >= 0 and trig.delta.max() <= 1


def test_uap_moves_a_model_toward_the_target():
    from modelworks.honeypot.trigger import new_trigger, uap_step
    from modelworks.honeypot.victims import build_classifier, train_classifier

    data = _digits(400)
    torch.manual_seed(0)
    model = train_classifier(build_classifier("mlp", 1, 8, 10), data.x, data.y, epochs=5, lr=3e-3)
    trig = new_trigger("linf", 1, 8, target=7, eps=0.5)
    before = float((model(trig.apply(data.x)).argmax(1) == 7).float().mean())
    after = uap_step(trig, model, data.x, steps=30, alpha=0.05)
    assert after > before + 0.2


def test_binomial_test_on_constructed_counts():
    from scipy.stats import beta, binom

    from modelworks.honeypot.verify import binomial_pvalue, calibrate_p0

    # P[X >= k] for X ~ Bin(n, p0), computed independently with the survival function
    assert binomial_pvalue(90, 100, 0.1) == pytest.approx(binom.sf(89, 100, 0.1), rel=1e-6)
    assert binomial_pvalue(90, 100, 0.1) < 1e-60
    assert binomial_pvalue(10, 100, 0.1) > 0.4
    assert binomial_pvalue(0, 100, 0.1) == pytest.approx(1.0)
    assert binomial_pvalue(3, 10, 0.5) == pytest.approx(binom.sf(2, 10, 0.5))
    # the calibrated null rate is an upper confidence bound, never below the floor
    p0 = calibrate_p0([(2, 1000), (5, 1000)], min_p0=0.001)
    # pooled k = 7, n = 2000; upper end of the two-sided 99% Clopper-Pearson interval is the p with
    # P[X <= 7 | Bin(2000, p)] = 0.005, i.e. the 0.995 quantile of Beta(k + 1, n - k) = Beta(8, 1993)
    assert p0 == pytest.approx(beta.ppf(0.995, 8, 1993), rel=1e-9)
    assert p0 == pytest.approx(0.008545, abs=5e-7)
    assert binom.cdf(7, 2000, p0) == pytest.approx(0.005, rel=1e-6)
    # the floor wins when it is above the bound
    assert calibrate_p0([(2, 1000), (5, 1000)], min_p0=0.01) == 0.01
    assert calibrate_p0([(0, 1000)], min_p0=0.01) == 0.01
    with pytest.raises(UserError):
        binomial_pvalue(5, 3, 0.1)


def test_verify_ownership_on_a_model_that_always_answers_the_target():
    from modelworks.honeypot.trigger import new_trigger
    from modelworks.honeypot.verify import verify_ownership

    data = _digits(300)
    trig = new_trigger("patch", 1, 8, target=4, patch_size=2)

    def always_target(x):
        return torch.nn.functional.one_hot(torch.full((len(x),), 4), 10).float()

    def never(x):
        return torch.nn.functional.one_hot(torch.full((len(x),), 5), 10).float()

    shown = verify_ownership(always_target, trig, data.x, data.y, p0=0.05, n=50, alpha=1e-3)
    assert shown.shown and shown.k == 50 and shown.n == 50
    not_shown = verify_ownership(never, trig, data.x, data.y, p0=0.05, n=50, alpha=1e-3)
    assert not not_shown.shown and not_shown.pvalue == pytest.approx(1.0)


@pytest.fixture(scope="module")
def digits_victim():
    """(train, test, victim): a small CNN trained on 1,000 scikit-learn digits (shared by the honeypot tests,
    which check that they leave it untouched)."""
    from modelworks.honeypot.datasets import load_images
    from modelworks.honeypot.victims import build_classifier, train_classifier

    torch.set_num_threads(1)
    train, test = load_images("digits[0:1000]", 8), load_images("digits[1300:1797]", 8)
    torch.manual_seed(0)
    victim = train_classifier(build_classifier("cnn_small", 1, 8, 10), train.x, train.y, epochs=12, lr=3e-3)
    return train, test, victim


def test_honeypot_layer_keeps_victim_accuracy_on_a_tiny_run(digits_victim):
    from modelworks.honeypot.datasets import load_images
    from modelworks.honeypot.honeypotnet import HoneypotConfig, build_honeypot
    from modelworks.honeypot.victims import accuracy, find_head, predict_probs

    train, test, victim = digits_victim
    shadow = load_images("photos_a[0:300]", 8)
    cfg = HoneypotConfig(rounds=2, trigger="patch", patch_size=3, lam=1.0, layer="residual_mlp", keep_top1=True,
                         head_epochs=4, shadow_arch="mlp", shadow_epochs=3, uap_steps=5)
    before = [p.clone() for p in victim.parameters()]
    res = build_honeypot(victim, shadow.x, train.x[:500], cfg, 10, seed=0)
    v_acc, h_acc = accuracy(victim, test.x, test.y), accuracy(res.model, test.x, test.y)
    assert v_acc > 0.8
    assert h_acc == v_acc  # the top-1 guard keeps every answer's top class
    assert torch.equal(predict_probs(res.model, shadow.x).argmax(1), predict_probs(victim, shadow.x).argmax(1))
    # ... while the probabilities themselves changed, and the raw honeypot layer learned the trigger
    assert not torch.allclose(predict_probs(res.model, shadow.x), predict_probs(victim, shadow.x), atol=1e-3)
    assert res.history[-1]["honeypot_trigger_rate"] > 0.5
    # the victim itself is untouched and only the head differs in the honeypot model
    assert all(torch.equal(a, b) for a, b in zip(before, victim.parameters(), strict=True))
    assert torch.equal(res.model.body[0][0].weight, victim.body[0][0].weight)
    assert find_head(res.model) is not find_head(victim)
    assert len(res.history) == 2 and 0 <= res.history[-1]["shadow_asr"] <= 1


def test_detector_guard_keeps_own_data_and_frees_public_queries(digits_victim):
    from modelworks.honeypot.datasets import load_images
    from modelworks.honeypot.honeypotnet import HoneypotConfig, build_honeypot
    from modelworks.honeypot.victims import accuracy, find_head, predict_probs

    train, test, victim = digits_victim
    shadow = load_images("photos_a[0:400]", 8)
    cfg = HoneypotConfig(rounds=1, trigger="patch", patch_size=3, lam=1.0, keep_top1=True, guard="detector",
                         detector_recall=0.99, head_epochs=4, shadow_arch="mlp", shadow_epochs=2, uap_steps=5)
    res = build_honeypot(victim, shadow.x, train.x[:500], cfg, 10, seed=0)
    head = find_head(res.model)
    assert head.detector is not None
    first = res.history[0]
    assert first["detector_own_recall"] >= 0.95 and first["detector_public_guarded"] <= 0.2
    # unseen own-distribution images are (almost all) guarded; unseen public crops (almost all) are not
    from modelworks.honeypot.victims import features_of

    guarded_test = head.guarded_mask(features_of(res.model, test.x)).float().mean()
    guarded_public = head.guarded_mask(features_of(res.model, load_images("photos_b[0:300]", 8).x)).float().mean()
    assert guarded_test >= 0.9 and guarded_public <= 0.3
    assert accuracy(res.model, test.x, test.y) >= accuracy(victim, test.x, test.y) - 0.02
    # on public queries the answers are the raw honeypot layer's, not the victim's
    assert not torch.allclose(predict_probs(res.model, shadow.x), predict_probs(victim, shadow.x), atol=1e-3)


def test_defences_transform_probabilities():
    from modelworks.honeypot.defences import DefenceConfig, apply_defence

    p = torch.tensor([[0.7, 0.2, 0.1], [0.34, 0.33, 0.33]])
    top1 = apply_defence(p, DefenceConfig("top1"))
    assert torch.equal(top1, torch.tensor([[1.0, 0, 0], [1.0, 0, 0]]))
    rounded = apply_defence(p, DefenceConfig("rounding", decimals=1))
    assert torch.allclose(rounded, torch.tensor([[0.7, 0.2, 0.1], [0.3, 0.3, 0.3]]))
    rs = apply_defence(p, DefenceConfig("reverse_sigmoid", beta=0.7, gamma=0.4))
    assert torch.allclose(rs.sum(1), torch.ones(2)) and (rs >= 0).all()
    assert not torch.allclose(rs, p)
    am = apply_defence(p, DefenceConfig("adaptive_misinformation", tau=0.5, nu=100))
    assert am[0].argmax() == 0  # confident input: the true answer
    assert torch.allclose(am.sum(1), torch.ones(2))
    with pytest.raises(UserError):
        DefenceConfig("unknown")


def test_datasets_shapes_and_unknown_name():
    from modelworks.honeypot.datasets import load_images

    d = load_images("digits[0:10]", 28)
    assert d.x.shape == (10, 1, 28, 28) and d.y.shape == (10,)
    photos = load_images("photos_b[0:20]", 8)
    assert photos.x.shape == (20, 1, 8, 8) and photos.y is None and 0 <= photos.x.min() and photos.x.max() <= 1
    with pytest.raises(UserError, match="unknown dataset 'imagenet'"):
        load_images("imagenet", 28)
    from modelworks.paths import find_data_root

    # CIFAR needs torchvision (not installed here) and a data folder; either missing one is a one-line error
    with pytest.raises(UserError, match="torchvision" if find_data_root() else "data"):
        load_images("cifar10", 32, 3)


def test_npz_and_folder_loaders(tmp_path):
    import numpy as np
    from PIL import Image

    from modelworks.honeypot.datasets import load_images

    x = (np.random.default_rng(0).random((6, 12, 12)) * 255).astype(np.uint8)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(6))
    d = load_images(f"npz:{tmp_path / 'd.npz'}[0:4]", 8)
    assert d.x.shape == (4, 1, 8, 8) and d.y.tolist() == [0, 1, 2, 3]
    for c in ("cat", "dog"):
        (tmp_path / "imgs" / c).mkdir(parents=True)
        Image.fromarray(x[0]).save(tmp_path / "imgs" / c / "a.png")
    f = load_images(f"folder:{tmp_path / 'imgs'}", 8, channels=3)
    assert f.x.shape == (2, 3, 8, 8) and f.y.tolist() == [0, 1]


def test_usps_and_mnist_from_shared_data(shared_data):
    from modelworks.honeypot.datasets import load_images

    u = load_images("usps_test[0:50]", 28, data_dir=shared_data)
    m = load_images("mnist[0:50]", 28, data_dir=shared_data)
    assert u.x.shape == m.x.shape == (50, 1, 28, 28)
    # USPS is framed like MNIST: an empty 4-pixel border
    assert u.x[:, :, :4, :].abs().max() == 0
    assert m.y[:5].tolist() == [7, 2, 1, 0, 4]


def test_find_head_and_no_linear_head():
    import torch.nn as nn

    from modelworks.honeypot.victims import check_linear_head, find_head

    conv_only = nn.Sequential(nn.Conv2d(1, 10, 8), nn.Flatten())
    with pytest.raises(UserError, match="no linear classifier head"):
        find_head(conv_only)
    head_first = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.ReLU(), nn.Linear(10, 10), nn.Tanh())
    with pytest.raises(UserError, match="last layer"):
        check_linear_head(head_first, torch.rand(4, 1, 8, 8))
    ok = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.ReLU(), nn.Linear(10, 10))
    check_linear_head(ok, torch.rand(4, 1, 8, 8))
    assert find_head(ok) is ok[3]


@pytest.mark.parametrize("policy,labels", [("random", "soft"), ("adaptive", "top1")])
def test_knockoff_policies_spend_the_budget_and_learn(policy, labels):
    from modelworks.honeypot.attacks import AttackConfig, agreement, knockoff_nets
    from modelworks.honeypot.defences import ModelBlackBox
    from modelworks.honeypot.victims import build_classifier, train_classifier

    torch.set_num_threads(1)
    data = _digits(1000)
    torch.manual_seed(0)
    victim = train_classifier(build_classifier("mlp", 1, 8, 10), data.x[:600], data.y[:600], epochs=8, lr=3e-3)
    box = ModelBlackBox(victim)
    cfg = AttackConfig(budget=300, policy=policy, labels=labels, arch="mlp", epochs=15, lr=3e-3, clusters=6,
                       adaptive_batch=100)
    ex = knockoff_nets(box, data.x[600:], cfg, 10, seed=0)
    assert box.queries == 300 and len(ex.query_x) == 300
    # no image is queried twice
    assert len(torch.unique(ex.query_x.flatten(1), dim=0)) == 300
    assert agreement(ex.substitute, victim, data.x[:600]) > 0.6
    with pytest.raises(UserError, match="larger than the attacker's pool"):
        knockoff_nets(box, data.x[:10], cfg, 10)


def test_hypergradient_tilt_moves_target_mass_toward_trigger_like_queries():
    from modelworks.honeypot.honeypotnet import hypergradient_tilt
    from modelworks.honeypot.trigger import new_trigger
    from modelworks.honeypot.victims import build_classifier

    torch.manual_seed(0)
    shadow = build_classifier("mlp", 1, 8, 10)
    trig = new_trigger("patch", 1, 8, target=2, patch_size=3)
    own = torch.rand(64, 1, 8, 8) * 0.1
    queries = torch.cat([trig.apply(torch.rand(20, 1, 8, 8) * 0.1), torch.rand(20, 1, 8, 8) * 0.1])
    base = torch.full((40, 10), 0.1)
    tilted = hypergradient_tilt(shadow, trig, queries, own, base, beta=1.0)
    assert torch.allclose(tilted.sum(1), torch.ones(40), atol=1e-5) and (tilted >= 0).all()
    # queries carrying the trigger pattern get more target mass than those without it
    assert tilted[:20, 2].mean() > tilted[20:, 2].mean()
    assert torch.equal(hypergradient_tilt(shadow, trig, queries, own, base, beta=0.0), base.log().softmax(1))
