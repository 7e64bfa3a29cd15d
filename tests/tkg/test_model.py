import numpy as np
import pytest

from modelworks.errors import ConfigError
from modelworks.tkg.examples import build_examples
from modelworks.tkg.history import FactTable
from modelworks.tkg.model import (
    EventGenerator,
    EventGeneratorConfig,
    TrainSettings,
    _batch,
    collate_events,
    entity_activity,
    event_loss,
    model_examples,
    predict_topk,
    same_time_answers,
    train_event_generator,
)

from ._graphs import chain_graph, rule_graph


def test_entity_activity_counts_recent_tails():
    table = FactTable.from_dataset(rule_graph())
    times, act = entity_activity(table, 10, window=2)
    counts = np.rint(np.expm1(act)).astype(int)
    assert times.tolist() == [0, 1, 2, 3, 4]
    assert counts[0].sum() == 0  # nothing before the first time
    assert counts[2, :3].tolist() == [2, 1, 1]  # facts at t=0 and t=1
    assert counts[4, :6].tolist() == [3, 1, 0, 1, 2, 1]  # facts at t=2 and t=3 only


@pytest.mark.parametrize("reverse", ["text-aware", "ordinary", "position-aware", "none"])
def test_forward_is_a_distribution(reverse):
    import torch

    ds = chain_graph()
    table = FactTable.from_dataset(ds)
    cfg = EventGeneratorConfig(dim=16, layers=1, heads=2, history=4, reverse=reverse, activity_window=3)
    model = EventGenerator(cfg, ds.num_entities, ds.num_relations, table, ds.time_step)
    ex = build_examples(ds, "test", 4, table=table)
    with torch.no_grad():
        logp = model(*[torch.as_tensor(a) for a in (ex.entity, ex.relation, ex.time, ex.chains)])
    assert logp.shape == (len(ex), ds.num_entities)
    assert torch.allclose(logp.exp().sum(1), torch.ones(len(ex)), atol=1e-4)


def _tiny_generator():
    """(dataset, fact table, a 1-layer 16-dim event generator, its training examples) on the hand-made graph."""
    ds = rule_graph()
    table = FactTable.from_dataset(ds)
    model = EventGenerator(EventGeneratorConfig(dim=16, layers=1, heads=2, history=4), ds.num_entities,
                           ds.num_relations, table, ds.time_step)
    return ds, table, model, build_examples(ds, "train", 4, table=table)


def test_training_learns_the_hand_made_graph():
    ds, table, model, train = _tiny_generator()
    info = train_event_generator(model, train, TrainSettings(epochs=60, batch_size=5, lr=0.02))
    assert info["engine"] == "modelworks.train.fit" and info["steps"] == 60 * (len(train) // 5)
    assert info["final_loss"] < min(1.0, 0.8 * info["first_loss"])
    ids, scores = predict_topk(model, train, k=3)
    assert ids.shape == (len(train), 3) and np.all(np.diff(scores, axis=1) <= 0)


def test_label_smoothing_mixes_in_the_uniform_target():
    import copy

    import torch

    ds = rule_graph()
    table = FactTable.from_dataset(ds)
    torch.manual_seed(0)
    model = EventGenerator(EventGeneratorConfig(dim=16, layers=1, heads=2, history=4, dropout=0.0), ds.num_entities,
                           ds.num_relations, table, ds.time_step)
    train = build_examples(ds, "train", 4, table=table)
    with torch.no_grad():  # the first step's loss on the whole set (one batch), before any update
        logp = copy.deepcopy(model)(*[torch.as_tensor(a) for a in (train.entity, train.relation, train.time,
                                                                    train.chains)])
        nll = torch.nn.functional.nll_loss(logp, torch.as_tensor(train.target)).item()
        uniform = -logp.mean().item()
    info = train_event_generator(model, train, TrainSettings(epochs=1, batch_size=len(train), label_smoothing=0.25))
    assert info["first_loss"] == pytest.approx(0.75 * nll + 0.25 * uniform, rel=1e-4)
    assert uniform > nll  # so smoothing really changed the objective


def test_same_time_answers_lists_the_other_targets_of_a_query():
    from modelworks.tkg.examples import Examples
    from modelworks.tkg.metrics import Query

    qs = [Query(0, 2, 5, 7, False), Query(0, 2, 5, 8, False), Query(0, 2, 6, 9, False), Query(7, 2, 5, 0, True),
          Query(1, 2, 5, 7, False)]
    ex = Examples(entity=np.array([q.entity for q in qs]), relation=np.array([q.relation for q in qs]),
                  time=np.array([q.time for q in qs]), target=np.array([q.target for q in qs]),
                  chains=np.zeros((5, 1), np.int64), queries=qs)
    others = same_time_answers(ex)
    # (7, r^-1, ?, 5) has true answers 0 and 1 (both facts (0, 2, 7, 5) and (1, 2, 7, 5)); its target is 0
    assert [sorted(int(o) for o in row if o >= 0) for row in others] == [[8], [7], [], [1], []]


def test_filtered_loss_renormalises_over_non_answers():
    import torch

    ds, table, model, train = _tiny_generator()
    model.eval()
    others = np.full((len(train), 2), -1, dtype=np.int64)
    others[0] = [(train.target[0] + 1) % ds.num_entities, -1]  # pretend one more true answer for query 0
    batch = collate_events(train, [0, 1], others)
    with torch.no_grad():
        logp = model(batch["entity"], batch["relation"], batch["time"], batch["chains"])
        got = event_loss(model, batch).item()
        plain = event_loss(model, collate_events(train, [0, 1])).item()
    p_other = logp[0, others[0, 0]].exp().item()
    expected = -(logp[0, train.target[0]].item() - np.log(1 - p_other) + logp[1, train.target[1]].item()) / 2
    assert got == pytest.approx(expected, rel=1e-5) and got < plain
    info = train_event_generator(model, train, TrainSettings(epochs=2, batch_size=2, filtered_loss=True))
    assert info["steps"] == 2 * (len(train) // 2)


def test_training_logs_into_the_given_run_and_subsamples_epochs(tmp_path):
    from modelworks.runs import Run, read_metrics

    ds, table, model, train = _tiny_generator()
    with Run.create("t", out=tmp_path / "run") as run:
        info = train_event_generator(model, train, TrainSettings(epochs=3, batch_size=2, max_examples_per_epoch=3),
                                     run=run)
    assert info["steps"] == 3 * 2 and not info["stopped_by_time_limit"]  # ceil(3 / 2) steps per epoch
    rows = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "loss" in r]
    assert rows[-1]["step"] == 6 and (tmp_path / "run" / "train_results.json").is_file()


def test_time_limit_becomes_a_step_budget():
    ds, table, model, train = _tiny_generator()
    info = train_event_generator(model, train, TrainSettings(epochs=10**6, batch_size=2, max_minutes=1e-5))
    assert info["stopped_by_time_limit"] and 1 <= info["steps"] < info["planned_steps"]


def test_config_errors():
    with pytest.raises(ConfigError, match="divisible"):
        EventGeneratorConfig(dim=10, heads=3)
    with pytest.raises(ConfigError, match="reverse"):
        EventGeneratorConfig(reverse="backwards")
    with pytest.raises(ConfigError, match="activity_window"):
        EventGeneratorConfig(activity_window=-1)
    with pytest.raises(ConfigError, match="history_features"):
        EventGeneratorConfig(history_features=-1)
    with pytest.raises(ConfigError, match="graph_window"):
        EventGeneratorConfig(graph_window=-1)
    with pytest.raises(ConfigError, match="label_smoothing"):
        TrainSettings(label_smoothing=1.0)
    for bad in ({"max_minutes": -1}, {"max_minutes": 0}, {"max_minutes": float("nan")}, {"lr": float("nan")},
                {"weight_decay": -0.1}, {"max_examples_per_epoch": -1}):
        with pytest.raises(ConfigError, match=f"key '{next(iter(bad))}'"):
            TrainSettings(**bad)
    assert TrainSettings(max_examples_per_epoch=0).max_examples_per_epoch == 0  # 0 = every query


def test_name_features_add_projected_name_vectors(tmp_path, monkeypatch):
    import torch

    from modelworks.tkg.model import entity_name_vectors

    monkeypatch.setenv("MODELWORKS_CACHE", str(tmp_path))
    vec = entity_name_vectors(["Citizen_(India)", "Citizen (India)", "Police_(India)", "Barack_Obama"])
    assert vec.shape[0] == 4 and np.allclose(vec[0], vec[1], atol=1e-5)  # '_' is read as a space
    assert vec[0] @ vec[2] > vec[0] @ vec[3]  # related names are close
    assert (tmp_path / "tkg_names.sqlite").is_file()

    ds = chain_graph()
    table = FactTable.from_dataset(ds)
    cfg = EventGeneratorConfig(dim=16, layers=1, heads=2, history=4, name_features=True)
    with pytest.raises(ConfigError, match="name_features"):
        EventGenerator(cfg, ds.num_entities, ds.num_relations, table, ds.time_step)
    model = EventGenerator(cfg, ds.num_entities, ds.num_relations, table, ds.time_step, names=ds.entities)
    E = model.entity_matrix()
    assert torch.allclose(E, model.entity.weight + model.name_proj(model.name_vec))
    assert not any(k.startswith("name_vec") for k in model.state_dict())  # recomputed from the names, not saved
    ex = build_examples(ds, "train", 4, table=table)
    before = model.name_proj.weight.detach().clone()
    train_event_generator(model, ex, TrainSettings(epochs=2, batch_size=2))
    assert not torch.allclose(before, model.name_proj.weight)  # the projection is trained
    with torch.no_grad():
        logp = model(*[torch.as_tensor(a) for a in (ex.entity, ex.relation, ex.time, ex.chains)])
        assert model.entity_matrix() is model.entity_matrix()  # cached while gradients are off
    assert torch.allclose(logp.exp().sum(1), torch.ones(len(ex)), atol=1e-4)
    with torch.no_grad():
        model.name_proj.weight.mul_(2.0)  # a weight update invalidates the cache
        assert torch.allclose(model.entity_matrix(), model.entity.weight + model.name_proj(model.name_vec))


def test_name_features_without_an_encoder_is_a_one_line_error(monkeypatch):
    from modelworks.errors import UserError
    from modelworks.models import _encoder
    from modelworks.tkg.model import entity_name_vectors

    def missing():
        raise UserError("no encoder package")

    monkeypatch.setattr(_encoder, "default_encoder_path", missing)
    with pytest.raises(UserError, match="name_encoder"):
        entity_name_vectors(["A"])


def test_history_features_add_weighted_rule_evidence_to_the_generator():
    import torch

    ds = rule_graph()
    table = FactTable.from_dataset(ds)
    cfg = EventGeneratorConfig(dim=16, layers=1, heads=2, history=4, history_features=100)
    torch.manual_seed(0)
    model = EventGenerator(cfg, ds.num_entities, ds.num_relations, table, ds.time_step).eval()
    ex = model_examples(ds, "test", cfg, table)
    assert ex.features is not None and len(ex.features) == len(ex)
    batch = _batch(ex, np.arange(len(ex)))
    with torch.no_grad():
        base = model(*batch)  # the weights start at zero: no change yet
        assert torch.allclose(base, model(*batch[:4], (batch[4][0][:0], batch[4][1][:0], batch[4][2][:0])))
        model.feat_weight.bias.copy_(torch.tensor([5.0, 0.0, 0.0, 0.0]))  # trust pair frequency
        moved = model(*batch)
    assert torch.allclose(moved.exp().sum(1), torch.ones(len(ex)), atol=1e-4)
    row, cand, values = batch[4]
    q0 = cand[(row == 0) & (values[:, 0] > 0)]  # query 0: its most frequent pair answer wins, non-candidates lose
    top = cand[row == 0][values[row == 0, 0].argmax()]
    assert moved[0].argmax() == top and moved[0, top] > base[0, top]
    others = torch.ones(ds.num_entities, dtype=torch.bool)
    others[q0] = False
    assert torch.all(moved[0, others] < base[0, others])
    with pytest.raises(ValueError, match="history_features"):
        model(*batch[:4])
    sub = ex.subset(np.array([1]))  # features follow a subset
    assert sub.features.candidate.tolist() == cand[row == 1].tolist()
    info = train_event_generator(model, model_examples(ds, "train", cfg, table), TrainSettings(epochs=2, batch_size=4))
    assert info["steps"] >= 2 and model.feat_weight.weight.abs().sum() > 0


@pytest.mark.parametrize(("history_features", "graph_window", "columns"), [(100, 2, 6), (0, 2, 2)])
def test_graph_window_adds_snapshot_columns(history_features, graph_window, columns):
    import torch

    ds = rule_graph()
    table = FactTable.from_dataset(ds)
    cfg = EventGeneratorConfig(dim=16, layers=1, heads=2, history=4, history_features=history_features,
                               graph_window=graph_window)
    model = EventGenerator(cfg, ds.num_entities, ds.num_relations, table, ds.time_step).eval()
    ex = model_examples(ds, "test", cfg, table)
    assert ex.features.values.shape[1] == columns == model.feat_weight.out_features
    with torch.no_grad():
        logp = model(*_batch(ex, np.arange(len(ex))))
    assert torch.allclose(logp.exp().sum(1), torch.ones(len(ex)), atol=1e-4)
