"""``modelworks unlearn run|compare CONFIG``: the TOFU protocol end to end, top to bottom.

setup data -> fine-tune the target on ``full`` (or load it) -> train the retain model on ``retainNN``
(or load it) -> evaluate both -> for each method: build its targets (inverted facts + MEMO
selection for MEOW, "I don't know" answers for IdK/DPO) -> unlearn -> evaluate -> results.json,
report.md with a table and plots (FQ vs MU, metrics over unlearning steps).
"""

from __future__ import annotations

import copy
import math
import random
import time
from pathlib import Path
from typing import Any

from modelworks.errors import UserError
from modelworks.unlearn.config import UnlearnConfig

__all__ = ["run_experiment", "load_tofu_data", "per_step_examples"]

_SETS = ("eval_log.json", "eval_real_author_wo_options.json", "eval_real_world_wo_options.json")


def load_tofu_data(cfg: UnlearnConfig, workdir: Path) -> dict[str, Any]:
    """All splits the recipe needs, with the optional CPU scale-down applied to the training sets."""
    from modelworks.unlearn.tofu import check_forget_split, forget_eval_split, load_idk, load_split, retain_split_for
    from modelworks.unlearn.tofu_generator import generate_tofu

    d = cfg.data
    source: str | Path = resolve_data_path(d.source)
    if d.source == "generated":
        source = generate_tofu(workdir / "data", d.n_authors, d.questions_per_author, cfg.seed)
    forget = load_split(source, d.forget_split)
    check_forget_split(forget, f"{source}/{d.forget_split}")
    retain = load_split(source, retain_split_for(d.forget_split))
    if d.max_retain_authors is not None:
        retain = retain[: d.max_retain_authors * d.author_size]
    sets = {
        "eval_log.json": load_split(source, "retain_perturbed"),
        "eval_real_author_wo_options.json": load_split(source, "real_authors_perturbed"),
        "eval_real_world_wo_options.json": load_split(source, "world_facts_perturbed"),
        "eval_log_forget.json": load_split(source, forget_eval_split(d.forget_split)),
    }
    sets = {k: v[: d.eval_size] for k, v in sets.items()}
    if d.retain_eval_size is not None:
        sets["eval_log.json"] = sets["eval_log.json"][: d.retain_eval_size]
    retain_q = {r["question"] for r in retain}
    missing = sum(r["question"] not in retain_q for r in sets["eval_log.json"])
    if missing:
        raise UserError(f"{source}: {missing} retain_perturbed questions are not in the training retain set "
                        "(raise data.max_retain_authors)")
    try:
        idk = load_idk(source)
    except UserError:
        idk = []
    return {"source": str(source), "forget": forget, "retain": retain, "full": retain + forget, "eval": sets,
            "idk": idk}


def resolve_data_path(spec: str) -> str:
    """A path as given when it exists (or is 'generated' / the hub id), else relative to the data root."""
    from modelworks.paths import find_data_root
    from modelworks.unlearn.tofu import HUB_ID

    if spec in ("generated", HUB_ID) or Path(spec).exists():
        return spec
    root = find_data_root()
    if root is not None and (root / spec).exists():
        return str(root / spec)
    return spec


def _forbidden(data: dict[str, Any]) -> list[str]:
    return [p for rows in data["eval"].values() for r in rows for p in r["perturbed_answer"]]


def _build_model(cfg: UnlearnConfig, data: dict[str, Any]):
    from modelworks.models import TinyLMConfig, build_tiny_lm

    texts = [f"{r['question']} {r['answer']}" for r in data["full"]]
    texts += [f"{r['question']} {r['answer']} {' '.join(r['perturbed_answer'])} {r.get('paraphrased_answer', '')}"
              for rows in data["eval"].values() for r in rows]
    m = cfg.model
    model, tok = build_tiny_lm(TinyLMConfig(layers=m.layers, hidden=m.hidden, heads=m.heads, vocab_size=m.vocab_size,
                                            seed=m.seed, max_positions=512), texts)
    return model, tok


def _forget_rouge(model, tok, template, rows, max_length: int) -> float:
    from modelworks.unlearn.evaluate import rouge_recall
    from modelworks.unlearn.generation import greedy_generate

    gens = greedy_generate(model, tok, [template.prompt(r["question"]) for r in rows], max_length=max_length)
    return float(sum(rouge_recall([r["answer"] for r in rows], gens)[1]) / len(rows))


def _fit_until(model, tok, template, rows, check_rows, cfg: UnlearnConfig, run, stage: str) -> dict[str, Any]:
    """Fine-tune on ``rows`` until greedy ROUGE-L recall on ``check_rows`` reaches finetune.target_rouge."""
    from modelworks.unlearn.loop import finetune

    f = cfg.finetune
    trace: list[dict[str, float]] = []

    def stop(epoch: int, loss: float) -> bool:
        run.log(None, stage=stage, epoch=epoch, loss=loss, elapsed_s=run.elapsed())
        if epoch % f.check_every == 0 or epoch == f.epochs:
            rouge = _forget_rouge(model, tok, template, check_rows, f.max_length)
            trace.append({"epoch": epoch, "rougeL": rouge})
            run.log(None, stage=stage, epoch=epoch, check_rougeL=rouge, elapsed_s=run.elapsed())
            return rouge >= f.target_rouge
        return False

    t0 = time.perf_counter()
    losses = finetune(model, tok, template, rows, f.epochs, f.lr, f.batch_size, f.max_length, seed=cfg.seed,
                      on_epoch=stop, precision=cfg.precision)
    info: dict[str, Any] = {"epochs": len(losses), "final_loss": losses[-1], "rouge_trace": trace,
                            "seconds": time.perf_counter() - t0}
    if trace and trace[-1]["rougeL"] < f.target_rouge:
        info["warning"] = (f"{stage}: ROUGE-L {trace[-1]['rougeL']:.3f} < target {f.target_rouge} after "
                           f"{len(losses)} epochs (raise finetune.epochs)")
    return info


def _train_models(cfg: UnlearnConfig, data: dict[str, Any], template, run) -> tuple[Any, Any, Any, dict[str, Any]]:
    """The target (fine-tuned on full until the forget set is memorised) and the retain model (fine-tuned
    on the retain rows until they are memorised likewise), each trained here or loaded."""
    from modelworks.models import load_causal_lm, load_tokenizer
    from modelworks.unlearn.loop import finetune

    f = cfg.finetune
    info: dict[str, Any] = {}
    real = data["eval"]["eval_real_author_wo_options.json"] + data["eval"]["eval_real_world_wo_options.json"]
    replay = real if f.replay_pretrain else []

    def fresh(tok=None):
        if cfg.model.base:  # a pretrained model (e.g. a local Llama-2-7b-chat folder) instead of a tiny LM
            tok = tok or load_tokenizer(cfg.model.base, padding_side="left")
            model = load_causal_lm(cfg.model.base, cfg.device, "fp32")
        elif tok is None:
            model, tok = _build_model(cfg, data)
        else:
            from modelworks.models import TinyLMConfig, build_tiny_lm

            m = cfg.model
            model, _ = build_tiny_lm(TinyLMConfig(layers=m.layers, hidden=m.hidden, heads=m.heads,
                                                  vocab_size=m.vocab_size, seed=m.seed, max_positions=512),
                                     tokenizer=tok)
        model.to(cfg.device)
        if f.pretrain_epochs:
            t0 = time.perf_counter()
            info["pretrain_loss"] = finetune(model, tok, template, real, f.pretrain_epochs, f.lr, f.batch_size,
                                             f.max_length, seed=cfg.seed, precision=cfg.precision)[-1]
            info["pretrain_seconds"] = info.get("pretrain_seconds", 0.0) + time.perf_counter() - t0
        return model, tok

    if cfg.model.target:
        tok = load_tokenizer(cfg.model.target, padding_side="left")
        target = load_causal_lm(cfg.model.target, cfg.device, "fp32")
        base_state = None
    else:
        target, tok = fresh()
        # the retain model starts from the same weights (after the pretraining stage); kept on the CPU, and only
        # when the retain model is trained here
        base_state = None if cfg.model.retain else {k: v.detach().to("cpu", copy=True)
                                                    for k, v in target.state_dict().items()}
        info["target"] = _fit_until(target, tok, template, data["full"] + replay, data["forget"][:64], cfg, run,
                                    "finetune_target")
        target.save_pretrained(run.path("target_model"))
        tok.save_pretrained(run.path("target_model"))
    if cfg.model.retain:
        retain_model = load_causal_lm(cfg.model.retain, cfg.device, "fp32")
    else:
        if base_state is not None:
            if cfg.model.base:
                retain_model = load_causal_lm(cfg.model.base, cfg.device, "fp32")
            else:
                retain_model, _ = _build_model(cfg, data)
            retain_model.load_state_dict(base_state)
            del base_state
            retain_model.to(cfg.device)
        else:
            retain_model, _ = fresh(tok)
        check = data["eval"]["eval_log.json"][:64]
        info["retain"] = _fit_until(retain_model, tok, template, data["retain"] + replay, check, cfg, run,
                                    "finetune_retain")
        retain_model.save_pretrained(run.path("retain_model"))
        tok.save_pretrained(run.path("retain_model"))
    info["params"] = sum(p.numel() for p in target.parameters())
    warnings = [v["warning"] for v in info.values() if isinstance(v, dict) and "warning" in v]
    if warnings:
        info["warning"] = "; ".join(warnings)
    return target, retain_model, tok, info


def _evaluate(model, tok, data, template, cfg, name: str, run, retain_log=None) -> tuple[dict, dict]:
    from modelworks.runs import atomic_write_json
    from modelworks.unlearn.evaluate import eval_log
    from modelworks.unlearn.metrics import tofu_metrics

    log = eval_log(model, tok, data["eval"], template, cfg.data.eval_size, max_length=cfg.finetune.max_length)
    atomic_write_json(run.path(f"eval/{name}.json"), log)
    metrics = tofu_metrics(log, retain_log)
    # one row per evaluated model, so a run cut short keeps the TOFU numbers it has already measured
    run.log(stage="eval", model=name, **{k: v for k, v in metrics.items() if isinstance(v, int | float)},
            elapsed_s=run.elapsed())
    return log, metrics


def _inverted_targets(cfg, data, target, tok, template, run) -> list[list[str]]:
    """Candidates from the configured source, MEMO-scored on the target model, top-k selected."""
    from modelworks.runs import atomic_write_json
    from modelworks.unlearn.inverted import (
        invert_with_chat,
        load_meow_inverted,
        load_template,
        offline_invert,
        select_by_memo,
    )
    from modelworks.unlearn.memo import hf_generate_fn, memo_scores

    inv = cfg.invert
    forget = data["forget"]
    if inv.source == "meow_file":
        rows = load_meow_inverted(resolve_data_path(inv.file))
        by_q = {r["question"]: r for r in rows}
        missing = [r["question"] for r in forget if r["question"] not in by_q]
        if missing:
            raise UserError(f"{inv.file}: no inverted answers for forget question {missing[0]!r}")
        rows = [by_q[r["question"]] for r in forget]
    elif inv.source == "chat":
        rows = invert_with_chat(inv.chat_model, forget, inv.n, load_template(resolve_data_path(inv.template_file) if inv.template_file else None))
    else:
        rows = offline_invert(forget, [r["answer"] for r in data["retain"]], inv.n, cfg.seed, _forbidden(data))
    cands = [r["inverted"] or [r["answer"] + " (unknown)"] for r in rows]
    if inv.use_memo:
        gen = hf_generate_fn(target, tok, cfg.memo.max_new_tokens, cfg.memo.batch_size)
        pairs = [(r["question"], c) for r, cs in zip(forget, cands) for c in cs]
        prompt_of = (lambda q: template.prompt(q) + template.answer_start) if cfg.memo.use_template else None
        flat = memo_scores(gen, pairs, cfg.memo.mode, cfg.memo.step, cfg.memo.batch_size, prompt_of)
    else:
        flat = [None] * sum(len(c) for c in cands)
    rng = random.Random(cfg.seed)
    selected, records, k = [], [], 0
    for r, cs in zip(forget, cands):
        scores = flat[k : k + len(cs)]
        k += len(cs)
        chosen = select_by_memo(cs, scores, inv.k, inv.select, rng)
        selected.append(chosen)
        records.append({"question": r["question"], "answer": r["answer"], "candidates": cs, "memo": scores,
                        "selected": chosen})
    atomic_write_json(run.path("inverted_facts.json"), records)
    return selected


def _unlearn_one(name: str, cfg: UnlearnConfig, data, target, tok, template, retain_log, run, inverted):
    import torch

    from modelworks.unlearn.batches import batch_stream, build_examples
    from modelworks.unlearn.loop import run_steps
    from modelworks.unlearn.methods import MethodConfig, get_method
    from modelworks.unlearn.methods._common import mean_nll

    u = cfg.unlearn
    method = get_method(name)
    mcfg = MethodConfig(beta=u.beta, forget_weight=u.forget_weight, retain_weight=u.retain_weight,
                        retain_loss=u.retain_loss)
    kind = method.retain_kind(mcfg)
    model = copy.deepcopy(target).to(cfg.device)
    ref = copy.deepcopy(target).eval() if method.uses_ref(mcfg) else None
    if ref is not None:
        for p in ref.parameters():
            p.requires_grad_(False)
    examples = build_examples(data["forget"], data["retain"], method.target, inverted=inverted, idk=data["idk"],
                              seed=cfg.seed)
    n = len(data["forget"])
    steps = max(1, math.ceil(u.epochs * n / u.batch_size))
    warmup = int(round(u.warmup_epochs * n / u.batch_size))
    # a step takes batch_size forget *questions* with all their targets (MEOW: every selected inverted
    # answer of each question, as the official collator does), so an epoch trains each target once
    per_step = per_step_examples(len(examples), n, u.batch_size)
    probe_ex = build_examples(data["forget"][:32], data["retain"][:32], None, seed=cfg.seed + 1)
    probe = next(batch_stream(probe_ex, tok, template, len(probe_ex), cfg.finetune.max_length, seed=0,
                              device=cfg.device))
    trace: list[dict[str, Any]] = []

    def probe_row(step: int) -> None:
        with torch.no_grad():
            row = {"step": step, "forget_nll": float(mean_nll(model, probe["forget"])),
                   "retain_nll": float(mean_nll(model, probe["retain"]))}
        trace.append(row)
        run.log(step, stage=f"unlearn_{name}", **{k: v for k, v in row.items() if k != "step"}, elapsed_s=run.elapsed())

    probe_row(0)
    evals: list[dict[str, Any]] = []
    eval_seconds = [0.0]  # intermediate evaluations are not unlearning time

    def on_step(step: int, logs: dict[str, float]) -> None:
        run.log(step, stage=f"unlearn_{name}", **logs, elapsed_s=run.elapsed())
        if u.probe_every and step % u.probe_every == 0:
            probe_row(step)
        if u.eval_every and step % u.eval_every == 0 and step < steps:
            t_eval = time.perf_counter()
            _, m = _evaluate(model, tok, data, template, cfg, f"{name}_step{step}", run, retain_log)
            evals.append({"step": step, **m})
            model.train()
            eval_seconds[0] += time.perf_counter() - t_eval

    t0 = time.perf_counter()
    if u.engine == "train":
        model = _fit_with_engine(cfg, method, mcfg, kind, model, ref, tok, template, examples, steps, warmup, run, name,
                                 per_step)
        probe_row(steps)
    else:
        batches = batch_stream(examples, tok, template, per_step, cfg.finetune.max_length, cfg.seed, cfg.device)
        run_steps(model, lambda b: method.loss(model, b, ref, mcfg, kind), batches, steps, u.lr, u.weight_decay,
                  warmup, on_step=on_step, precision=cfg.precision)
    seconds = time.perf_counter() - t0 - eval_seconds[0]
    _, metrics = _evaluate(model, tok, data, template, cfg, name, run, retain_log)
    evals.append({"step": steps, **metrics})
    return {"method": name, "retain_loss": kind, "steps": steps, "batch_examples": per_step,
            "unlearn_seconds": seconds, **metrics,
            "over_steps": evals, "probe": trace}


def per_step_examples(n_examples: int, n_questions: int, batch_size: int) -> int:
    """Examples per optimizer step so that one step covers ``batch_size`` forget questions.

    MEOW has k examples per question (one per selected inverted answer); its official code batches
    32 *questions* and trains all their selected answers, so 10 epochs train every answer 10 times.
    """
    return max(1, round(batch_size * n_examples / max(1, n_questions)))


def _fit_with_engine(cfg, method, mcfg, kind, model, ref, tok, template, examples, steps, warmup, run, name,
                     per_step: int):
    """The same method loss driven by the CoLLiE engine (``modelworks.train.fit``: any optimizer, PEFT)."""
    from modelworks.train import TrainConfig, fit
    from modelworks.unlearn.qa import encode_qa

    u = cfg.unlearn
    max_len = cfg.finetune.max_length
    items = [{part: encode_qa(tok, template, *ex[part], max_len) for part in ("forget", "target", "retain")
              if ex[part] is not None} for ex in examples]
    tcfg = TrainConfig(optimizer=u.optimizer, lr=u.lr, weight_decay=u.weight_decay, scheduler="linear",
                       warmup_steps=warmup, batch_size=per_step, max_steps=steps, max_len=max_len,
                       device=cfg.device, out=str(run.path(f"engine/{name}")), save_model=False, progress=False,
                       tensorboard=False, seed=cfg.seed)
    res = fit(tcfg, model=model, tokenizer=tok, train_dataset=items,
              loss_fn=lambda m, b: method.loss(m, {"target": None, **b}, ref, mcfg, kind))
    res.model.eval()
    return res.model


def run_experiment(cfg: UnlearnConfig, methods: list[str], out: str | Path | None = None, job: str = "unlearn"):
    """The whole protocol for ``methods``; returns (run, results)."""
    import torch

    from modelworks.env import seed_everything
    from modelworks.runs import Run
    from modelworks.unlearn.methods import get_method
    from modelworks.unlearn.qa import QATemplate

    for m in methods:
        get_method(m)  # unknown names fail before any work
    from modelworks.env import check_device

    check_device(cfg.device, allowed=("cpu", "cuda", "mps"))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    run = Run.create(job, config=cfg, out=out, seed=cfg.seed)
    t_start = time.perf_counter()
    template = QATemplate(cfg.template.question_start, cfg.template.question_end, cfg.template.answer_start)
    data = load_tofu_data(cfg, run.dir)
    target, retain_model, tok, train_info = _train_models(cfg, data, template, run)
    t0 = time.perf_counter()
    retain_log, retain_metrics = _evaluate(retain_model, tok, data, template, cfg, "retain", run)
    retain_metrics.update({"forget_quality": 1.0, "ks_statistic": 0.0})
    _, target_metrics = _evaluate(target, tok, data, template, cfg, "target", run, retain_log)
    train_info["eval_seconds_each"] = (time.perf_counter() - t0) / 2
    inverted = None
    if any(get_method(m).target == "inverted" for m in methods):
        t0 = time.perf_counter()
        inverted = _inverted_targets(cfg, data, target, tok, template, run)
        train_info["inverted_seconds"] = time.perf_counter() - t0  # candidates + MEMO + selection
    rows = [_unlearn_one(m, cfg, data, target, tok, template, retain_log, run, inverted) for m in methods]
    results = {
        "data": {"source": data["source"], "forget_split": cfg.data.forget_split, "n_forget": len(data["forget"]),
                 "n_train_full": len(data["full"]), "n_train_retain": len(data["retain"]),
                 "eval_sizes": {k: len(v) for k, v in data["eval"].items()}},
        "training": train_info,
        "target": target_metrics,
        "retain": retain_metrics,
        "methods": rows,
        "seconds": time.perf_counter() - t_start,
    }
    run.write_results(results)
    from modelworks.unlearn.tables import write_report

    write_report(run, results)
    run.close()
    return run, results
