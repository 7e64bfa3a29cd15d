"""Tables and plots of an unlearning run (report.md beside PNG files)."""

from __future__ import annotations

from typing import Any

__all__ = ["ANCHORS", "comparison_rows", "comparison_headers", "write_report", "dominated_by", "gap_headers",
           "forget_gap"]

# open-unlearning docs/repro.md, Llama-2-7b-chat, TOFU forget10 (FQ, MU) — their numbers, not ours.
ANCHORS = {"GradDiff": (1.80e-229, 0.58), "NPO": (0.42, 0.54), "IdkDPO": (5.42e-13, 0.04)}

comparison_headers = ["model", "forget quality", "KS D", "model utility", "MU / target", "forget ROUGE-L",
                      "forget prob", "forget truth ratio", "retain ROUGE-L", "steps", "unlearn s"]


def comparison_rows(results: dict[str, Any]) -> list[list[Any]]:
    mu0 = results["target"]["model_utility"]

    def row(name: str, m: dict[str, Any], steps: Any = "—", secs: Any = None) -> list[Any]:
        return [name, m.get("forget_quality"), m.get("ks_statistic"), m["model_utility"], (m["model_utility"] / mu0) if mu0 else None,
                m["forget_rouge"], m["forget_prob"], m["forget_truth_ratio"], m["retain_rouge"], steps, secs]

    rows = [row("finetuned target", results["target"]), row("retain model (oracle)", results["retain"])]
    rows += [row(m["method"], m, m["steps"], m["unlearn_seconds"]) for m in results["methods"]]
    return rows


gap_headers = ["model", "answer NLL", "paraphrased NLL", "perturbed NLL (mean of 5)", "median log(1/R)", "KS D"]


def forget_gap(section: dict[str, Any]) -> dict[str, float]:
    """Where a forget-set truth ratio comes from: mean token NLL of the answer, the paraphrased answer and the
    perturbed answers, and the median of ``log(1/R) = mean_j L(pert_j) - L(para)`` (the KS statistic's log).

    Unlearning that lowers or raises every NLL alike leaves ``log(1/R)`` (and so Forget Quality) where it was.
    """
    import numpy as np

    gt = np.array(list(section["avg_gt_loss"].values()), dtype=float)
    para = np.array(list(section["avg_paraphrased_loss"].values()), dtype=float)
    pert = np.array([np.mean(v) for v in section["average_perturb_loss"].values()], dtype=float)
    return {"answer_nll": float(gt.mean()), "para_nll": float(para.mean()), "pert_nll": float(pert.mean()),
            "median_log_inv_ratio": float(np.median(pert - para))}


def dominated_by(results: dict[str, Any], name: str = "meow") -> list[str]:
    """Methods with FQ and MU both at least ``name``'s, one of them strictly higher."""
    me = next((m for m in results["methods"] if m["method"] == name), None)
    if me is None:
        return []
    out = []
    for m in results["methods"]:
        if m["method"] == name:
            continue
        ge = m["forget_quality"] >= me["forget_quality"] and m["model_utility"] >= me["model_utility"]
        gt = m["forget_quality"] > me["forget_quality"] or m["model_utility"] > me["model_utility"]
        if ge and gt:
            out.append(m["method"])
    return out


def write_report(run, results: dict[str, Any]) -> None:
    from modelworks.report import line_plot, markdown_table, save_figure

    d = results["data"]
    lines = [f"# Unlearning on TOFU-format data ({d['forget_split']})", "",
             f"Data: `{d['source']}`; forget rows {d['n_forget']}, trained on {d['n_train_full']} rows (target) / "
             f"{d['n_train_retain']} rows (retain model); eval sizes {d['eval_sizes']}.", "",
             markdown_table(comparison_headers, comparison_rows(results)), ""]
    if results["training"].get("warning"):
        lines += [f"**Warning:** {results['training']['warning']}", ""]
    if results["methods"]:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        pts = [("target", results["target"]), ("retain", results["retain"])]
        pts += [(m["method"], m) for m in results["methods"]]
        for name, m in pts:
            fq = max(m["forget_quality"], 1e-300)
            ax.scatter([m["model_utility"]], [fq], label=name)
            ax.annotate(name, (m["model_utility"], fq), fontsize=8)
        ax.set_yscale("log")
        ax.set_xlabel("model utility")
        ax.set_ylabel("forget quality (KS p-value)")
        ax.axhline(0.05, ls="--", lw=0.8, color="gray")
        ax.grid(alpha=0.3)
        save_figure(fig, run.path("fq_vs_mu.png"))
        series = {m["method"]: ([p["step"] for p in m["probe"]], [p["forget_nll"] for p in m["probe"]])
                  for m in results["methods"]}
        line_plot(series, run.path("forget_nll_over_steps.png"), "forget-answer NLL during unlearning", "step", "NLL")
        series = {m["method"]: ([p["step"] for p in m["probe"]], [p["retain_nll"] for p in m["probe"]])
                  for m in results["methods"]}
        line_plot(series, run.path("retain_nll_over_steps.png"), "retain-answer NLL during unlearning", "step", "NLL")
        multi = {m["method"]: ([e["step"] for e in m["over_steps"]], [e["forget_quality"] for e in m["over_steps"]])
                 for m in results["methods"] if len(m["over_steps"]) > 1}
        if multi:
            line_plot(multi, run.path("fq_over_steps.png"), "forget quality during unlearning", "step", "FQ", logy=True)
        lines += ["![FQ vs MU](fq_vs_mu.png)", "", "![forget NLL](forget_nll_over_steps.png)", "",
                  "![retain NLL](retain_nll_over_steps.png)", ""]
        if multi:
            lines += ["![FQ over steps](fq_over_steps.png)", ""]
    lines += ["Field anchor (open-unlearning's published Llama-2-7b-chat re-runs on TOFU forget10; their numbers, "
              "not measured here):", "",
              markdown_table(["method (open-unlearning)", "forget quality", "model utility"],
                             [[k, v[0], v[1]] for k, v in ANCHORS.items()]), ""]
    run.write_report("\n".join(lines))
