"""``modelworks honeypot run CONFIG``: victim -> honeypot -> attacks -> verification -> report.

One plain function, top to bottom:

1. load the data; train the victim (or load it) and measure its clean accuracy;
2. run HoneypotNet's bi-level loop; save the deployable model + the secret trigger;
3. train independent clean models (the false-positive control) and calibrate the verifier's null rate;
4. run every attack setting against the honeypot (the first one also against the undefended victim),
   the ASR-vs-budget curve, and the baseline output defences;
5. verify ownership of the main substitute (and of the controls) with <= ``verify.queries`` trigger queries;
6. write results.json, report.md and the plots.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from modelworks.errors import UserError
from modelworks.honeypot.config import HoneypotRunConfig

__all__ = ["run_honeypot"]


def run_honeypot(cfg: HoneypotRunConfig, out: str | Path | None = None, config_path: str | None = None,
                 progress=print) -> dict[str, Any]:
    import torch

    from modelworks.env import seed_everything
    from modelworks.honeypot.attacks import agreement, knockoff_nets
    from modelworks.honeypot.datasets import load_many
    from modelworks.honeypot.defences import ModelBlackBox, apply_defence
    from modelworks.honeypot.honeypotnet import build_honeypot
    from modelworks.honeypot.trigger import save_trigger
    from modelworks.honeypot.verify import calibrate_p0, save_calibration, trigger_counts, verify_ownership
    from modelworks.honeypot.victims import (
        accuracy,
        build_classifier,
        check_linear_head,
        load_model,
        predict_probs,
        save_model,
        train_classifier,
    )
    from modelworks.runs import Run, atomic_write_json

    t_start = time.perf_counter()
    torch.set_num_threads(max(1, cfg.threads))
    seed_everything(cfg.seed)
    d = cfg.data
    timings: dict[str, float] = {}

    def tick(name: str, t0: float) -> None:
        timings[name] = round(time.perf_counter() - t0, 1)
        progress(f"[honeypot] {name}: {timings[name]} s")

    def load(refs: list[str]):
        images = load_many(refs, d.image_size, d.channels, d.data_dir, cfg.seed)
        if images.y is not None and len(images) and int(images.y.max()) >= d.num_classes:
            raise UserError(f"data {', '.join(refs)}: labels go up to {int(images.y.max())} (e.g. one class per "
                            f"subfolder) but data.num_classes is {d.num_classes}")
        return images

    # 1. data and victim -------------------------------------------------------------------------
    t0 = time.perf_counter()
    train = load(d.victim_train)
    test = load(d.test)
    shadow_set = load(d.defender_queries)
    if train.y is None or test.y is None:
        raise UserError("data.victim_train and data.test need labelled data sets")
    victim = None
    if cfg.victim.load:
        victim = load_model(cfg.victim.load)
        check_linear_head(victim, test.x)
    run = Run.create("honeypot", config=cfg, out=out, seed=cfg.seed)  # after the checks: bad input leaves no folder
    if victim is None:
        torch.manual_seed(cfg.seed)
        victim = build_classifier(cfg.victim.arch, d.channels, d.image_size, d.num_classes, cfg.victim.width)
        train_classifier(victim, train.x, train.y, epochs=cfg.victim.epochs, lr=cfg.victim.lr,
                         batch_size=cfg.victim.batch_size, seed=cfg.seed,
                         log=lambda **m: run.log(stage="victim", **m))
    victim_acc = accuracy(victim, test.x, test.y)
    run.log(stage="victim", victim_acc=victim_acc)
    tick("victim", t0)

    # 2. HoneypotNet ------------------------------------------------------------------------------
    t0 = time.perf_counter()
    own_x = train.x[torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed))[: d.defender_own]]
    hp = build_honeypot(victim, shadow_set.x, own_x, cfg.honeypot, d.num_classes, seed=cfg.seed,
                        val=(test.x, test.y), log=lambda **m: run.log(stage="honeypot", **m))
    honeypot_acc = accuracy(hp.model, test.x, test.y)
    trigger = hp.trigger
    model_dir = run.path("honeypot_model")
    save_model(hp.model, model_dir / "model.pt")
    save_trigger(trigger, model_dir / "trigger.pt")
    atomic_write_json(model_dir / "model.json", {
        "input_shape": [d.channels, d.image_size, d.image_size], "num_classes": d.num_classes,
        "target": trigger.target, "trigger": trigger.kind,
    })
    tick("honeypot", t0)

    def asr_of(predict) -> float:
        k, n = trigger_counts(predict, trigger, test.x, test.y, n=len(test))
        return k / n

    def model_predict(m):
        return lambda x: predict_probs(m, x)

    # 3. independent clean models -----------------------------------------------------------------
    t0 = time.perf_counter()
    ind = load(cfg.independent.data)
    ind_counts, ind_asrs, ind_accs = [], [], []
    for i in range(cfg.independent.count):
        torch.manual_seed(cfg.seed + 100 + i)
        m = build_classifier(cfg.independent.arch, d.channels, d.image_size, d.num_classes)
        train_classifier(m, ind.x, ind.y, epochs=cfg.independent.epochs, lr=cfg.independent.lr, seed=cfg.seed + 100 + i)
        k, n = trigger_counts(model_predict(m), trigger, test.x, test.y, n=len(test))
        ind_counts.append((k, n))
        ind_asrs.append(k / n)
        ind_accs.append(accuracy(m, test.x, test.y))
    p0 = calibrate_p0(ind_counts, min_p0=cfg.verify.min_p0)
    save_calibration(model_dir / "verification.json", p0=p0, target=trigger.target, data=d.test,
                     image_size=d.image_size, channels=d.channels, queries=cfg.verify.queries, alpha=cfg.verify.alpha,
                     independent_counts=ind_counts)
    tick("independent", t0)

    # 4. attacks ------------------------------------------------------------------------------------
    pools: dict[tuple[str, ...], Any] = {}

    def pool_for(refs: list[str]):
        key = tuple(refs)
        if key not in pools:
            pools[key] = load(refs)
        return pools[key]

    def attack(model, acfg, defence=None, budget=None, seed_offset=0):
        from dataclasses import replace

        a = replace(acfg, budget=budget) if budget is not None else acfg
        finetune = None
        if a.finetune_epochs > 0:
            ft = pool_for(a.finetune_data)
            finetune = (ft.x, ft.y)
        box = ModelBlackBox(model, defence)
        ex = knockoff_nets(box, pool_for(a.queries).x, a, d.num_classes, seed=cfg.seed + 7 + seed_offset,
                           finetune=finetune)
        sub = ex.substitute
        return {
            "substitute_acc": accuracy(sub, test.x, test.y),
            "agreement": agreement(sub, model, test.x),
            "asr": asr_of(model_predict(sub)),
            "queries": box.queries,
        }, sub

    rows: list[dict[str, Any]] = []
    main = cfg.attacks[0]
    t0 = time.perf_counter()
    undefended, undefended_sub = attack(victim, main)
    rows.append({"setting": f"{main.name} vs undefended victim", "defence": "none", **undefended})
    tick(f"attack {main.name} (undefended)", t0)
    main_sub = None
    for i, acfg in enumerate(cfg.attacks):
        t0 = time.perf_counter()
        res, sub = attack(hp.model, acfg, seed_offset=i)
        rows.append({"setting": f"{acfg.name} vs honeypot", "defence": "honeypotnet", **res})
        if i == 0:
            main_res, main_sub = res, sub
        tick(f"attack {acfg.name}", t0)

    curve = [(main.budget, main_res["asr"], main_res["substitute_acc"])]
    for b in cfg.budgets:
        if b == main.budget:
            continue
        t0 = time.perf_counter()
        res, _ = attack(hp.model, main, budget=b)
        curve.append((b, res["asr"], res["substitute_acc"]))
        rows.append({"setting": f"{main.name} vs honeypot, budget {b}", "defence": "honeypotnet", **res})
        tick(f"budget {b}", t0)
    curve.sort()

    baselines = []
    for dc in cfg.defences:
        t0 = time.perf_counter()
        with torch.no_grad():
            logits = victim(test.x)
            defended = apply_defence(logits.softmax(1), dc, logits)
        v_acc = float((defended.argmax(1) == test.y).float().mean())
        res, _ = attack(victim, main, defence=dc)
        baselines.append({"defence": dc.name, "victim_acc": v_acc, **res})
        tick(f"defence {dc.name}", t0)

    # 5. verification -------------------------------------------------------------------------------
    t0 = time.perf_counter()
    vq, alpha = cfg.verify.queries, cfg.verify.alpha
    ver_main = verify_ownership(model_predict(main_sub), trigger, test.x, test.y, p0, vq, alpha, seed=cfg.seed)
    ver_undef = verify_ownership(model_predict(undefended_sub), trigger, test.x, test.y, p0, vq, alpha, seed=cfg.seed)
    tick("verify", t0)
    for name, m in (("substitute", main_sub), ("undefended_substitute", undefended_sub)):
        save_model(m, run.path(name) / "model.pt")
        atomic_write_json(run.path(name) / "model.json", {"input_shape": [d.channels, d.image_size, d.image_size],
                                                         "num_classes": d.num_classes})

    total = time.perf_counter() - t_start
    by_name = {r["setting"]: r for r in rows}
    results: dict[str, Any] = {
        "victim_acc": victim_acc,
        "honeypot_acc": honeypot_acc,
        "substitute_acc": main_res["substitute_acc"],
        "undefended_substitute_acc": undefended["substitute_acc"],
        "asr": main_res["asr"],
        "undefended_asr": undefended["asr"],
        "independent_asr": max(ind_asrs),
        "verify_pvalue": ver_main.pvalue,
        "verify": {"main": ver_main.__dict__, "undefended_substitute": ver_undef.__dict__, "p0": p0},
        "independent": {"asr": ind_asrs, "acc": ind_accs},
        "attacks": by_name,
        "asr_vs_budget": [{"budget": b, "asr": a, "substitute_acc": s} for b, a, s in curve],
        "defences": baselines,
        "honeypot_history": hp.history,
        "honeypot_config": dict(cfg.honeypot.__dict__),
        "timings_s": {**timings, "total": round(total, 1)},
        "threads": cfg.threads,
    }
    run.write_results(results)
    _plots(run, trigger, test, curve)
    run.write_report(_report(cfg, results, rows, baselines, config_path))
    run.close()
    progress(f"[honeypot] done in {total:.0f} s: {run.dir}")
    results["run_dir"] = str(run.dir)
    return results


def _plots(run, trigger, test, curve) -> None:
    import matplotlib.pyplot as plt

    from modelworks.report import line_plot, save_figure

    line_plot({"substitute ASR": ([c[0] for c in curve], [c[1] for c in curve]),
               "substitute clean acc": ([c[0] for c in curve], [c[2] for c in curve])},
              run.path("asr_vs_budget.png"), title="HoneypotNet: ASR vs query budget", xlabel="queries",
              ylabel="fraction")
    keep = (test.y != trigger.target).nonzero().flatten()[:8]
    clean, stamped = test.x[keep], trigger.apply(test.x[keep])
    fig, axes = plt.subplots(2, len(keep), figsize=(1.3 * len(keep), 2.8))
    for j in range(len(keep)):
        for i, img in enumerate((clean[j], stamped[j])):
            ax = axes[i, j] if len(keep) > 1 else axes[i]
            arr = img.permute(1, 2, 0).numpy()
            ax.imshow(arr[..., 0] if arr.shape[-1] == 1 else arr, cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
    fig.suptitle(f"clean (top) / triggered (bottom), target class {trigger.target}")
    save_figure(fig, run.path("triggered_samples.png"))


def _report(cfg, r: dict, rows: list[dict], baselines: list[dict], config_path: str | None) -> str:
    from modelworks.report import markdown_table

    cmd = f"modelworks honeypot run {config_path}" if config_path else "modelworks honeypot run"
    v = r["verify"]["main"]
    head = [
        "# HoneypotNet run", "", f"Command: `{cmd}` (seed {cfg.seed}, {cfg.threads} threads; "
        f"total {r['timings_s']['total']} s).", "",
        markdown_table(["metric", "value"], [
            ["victim clean acc (before)", r["victim_acc"]], ["honeypot clean acc (after)", r["honeypot_acc"]],
            ["substitute clean acc (vs honeypot)", r["substitute_acc"]],
            ["substitute clean acc (vs undefended victim)", r["undefended_substitute_acc"]],
            ["substitute ASR", r["asr"]], ["ASR of the undefended-victim substitute", r["undefended_asr"]],
            ["ASR of independent models (max)", r["independent_asr"]],
            [f"verification p-value ({v['k']}/{v['n']} trigger queries, p0={v['p0']:.4f})", r["verify_pvalue"]],
        ]), "",
        "## Attack settings", "",
        markdown_table(["setting", "substitute acc", "agreement", "ASR", "queries"],
                       [[x["setting"], x["substitute_acc"], x["agreement"], x["asr"], x["queries"]] for x in rows]),
        "",
    ]
    if baselines:
        head += [
            "## Baseline defences (main attack against the victim behind each output defence)", "",
            markdown_table(["defence", "victim acc", "substitute acc", "agreement", "ASR"],
                           [["honeypotnet", r["honeypot_acc"], r["substitute_acc"], "—", r["asr"]]]
                           + [[b["defence"], b["victim_acc"], b["substitute_acc"], b["agreement"], b["asr"]]
                              for b in baselines]), "",
        ]
    head += [
        "## Verification", "", f"- main substitute: {_line(r['verify']['main'])}",
        f"- undefended-victim substitute: {_line(r['verify']['undefended_substitute'])}", "",
        "## Plots", "", "![ASR vs budget](asr_vs_budget.png)", "", "![triggered samples](triggered_samples.png)", "",
        "## Timings (s)", "", markdown_table(["stage", "seconds"], [[k, f"{v:.1f}"] for k, v in r["timings_s"].items()]), "",
    ]
    return "\n".join(head)


def _line(v: dict) -> str:
    verdict = "ownership shown" if v["shown"] else "not shown"
    return f"{verdict}: {v['k']}/{v['n']} -> target, p={v['pvalue']:.3g}"
