"""The information-plane experiment's report: the curves read from infoplane.csv, the
paper's claims of Section 5.3 measured on them, per seed and over seeds, judged by the
one judge (summary.json, summary.md), and the figure (infoplane.png). The other rooms of
this package train and measure; this one only reads what they wrote.
"""

import csv
import os

import numpy as np

from ...claims import judge
from ...data import synthetic12
from ...files import atomic_write, optional_figure, save_figure, write_json
from ...models import KINDS
from .measure import label_information, whole_distribution


def read_seeds(path):
    """{(model, layer): {seed: {epoch: (I_X, I_Y)}}}, each seed's own curve."""
    out = {}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            curve = out.setdefault((row["model"], int(row["layer"])), {}).setdefault(
                int(row["seed"]), {})
            curve[int(row["epoch"])] = (float(row["I_X"]), float(row["I_Y"]))
    return {key: {seed: dict(sorted(c.items())) for seed, c in sorted(by_seed.items())}
            for key, by_seed in out.items()}


def seed_mean(by_seed):
    """{(model, layer): {epoch: (mean I_X, mean I_Y) over the seeds measured there}}."""
    out = {}
    for key, curves in by_seed.items():
        epochs = sorted({e for c in curves.values() for e in c})
        out[key] = {e: tuple(np.mean([c[e] for c in curves.values() if e in c], axis=0))
                    for e in epochs}
    return out


# The paper's speed claim (Section 5.3) measures the IMB models against SFNN, the
# maximum-likelihood network: the epochs each needs to reach SFNN's final relevance.
BASELINE = "sfnn"


def summarize(table, models, epochs):
    """The paper's three claims (Section 5.3), measured on the seed-averaged curves."""
    layers = sorted({l for (_, l) in table})
    out = {"epochs": epochs, "max_relevance": {}, "final": {}, "compression": {}}
    for name in models:
        out["max_relevance"][name] = {l: max(v[1] for v in table[(name, l)].values())
                                      for l in layers}
        out["final"][name] = {l: table[(name, l)][max(table[(name, l)])] for l in layers}
        comp = {}
        for l in layers:
            curve = table[(name, l)]
            peak_epoch = max(curve, key=lambda e: curve[e][0])
            comp[l] = {"peak_I_X": curve[peak_epoch][0], "peak_epoch": peak_epoch,
                       "final_I_X": curve[max(curve)][0], "drop": _fall(curve),
                       "compresses": _compresses(curve)}
        out["compression"][name] = comp
    if BASELINE in models:
        target = {l: out["final"][BASELINE][l][1] for l in layers}
        out["epochs_to_sfnn_final_relevance"] = {}
        for name in models:
            if name == BASELINE:
                continue
            reached = _first_reach({l: table[(name, l)] for l in layers}, target, layers)
            out["epochs_to_sfnn_final_relevance"][name] = {
                "epoch": reached, "fraction": None if reached is None else reached / epochs}
    return out


def spread(values):
    """Mean, standard deviation over seeds (ddof = 1; None for one seed), min and max."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if v.size > 1 else None,
            "min": float(v.min()), "max": float(v.max())}


def _compresses(curve):
    """A fall in I(Z_l;X) of more than 0.01 bit after its peak."""
    return bool(_fall(curve) > 0.01)


def _first_reach(curves, target, layers):
    """The first measured epoch at which every layer's I(Z_l;Y) is at or above its
    target, or None. curves: {layer: {epoch: (I_X, I_Y)}}."""
    epochs = sorted(curves[layers[0]])
    return next((e for e in epochs if all(curves[l][e][1] >= target[l] for l in layers)),
                None)


def verdict(differences, more=True):
    """A claim that a difference taken seed by seed is positive (negative: more=False),
    judged by the one judge (`imb_ref.claims.judge`): the paired one-sided t-test, i.e.
    the one-sample t-test of the per-seed differences against 0. Returns (word, why)."""
    sign = 1.0 if more else -1.0
    return said(judge.threshold(judge.Sample(by_seed={
        str(i): sign * float(x) for i, x in enumerate(differences)}), 0.0, "above"))


def said(v):
    """(word, why) of a judge's Verdict: the test, the effect with its 95% interval, p
    and n; for "not tested", the reason."""
    if v.word == "not tested":
        return v.word, v.reason
    p = "<1e-6" if v.p < 1e-6 else f"{v.p:.3g}"
    return v.word, (f"{v.test}, effect {v.effect:+.3f} [{v.ci[0]:+.3f}, {v.ci[1]:+.3f}], "
                    f"p = {p}, n = {v.n}")


def _fall(curve):
    """How far I(Z_l;X) ends below its peak, in bits (0 where it ends at its peak)."""
    return max(v[0] for v in curve.values()) - curve[max(curve)][0]


def summarize_seeds(by_seed, models):
    """Each of Section 5.3's claims per seed and over seeds: the final and highest
    relevance of each layer (per seed, mean, std, min, max); the epoch at which each IMB
    model reaches the same seed's SFNN final relevance in every layer, and how many seeds
    reach it; compression per seed (a fall of I(Z_l;X) after its peak) and the final
    I(Z_l;X) of each layer, likewise with its spread; and a verdict per claim (see
    the one judge: `verdict`, `judge.reach`, `judge.order`, `judge.threshold`). A seed
    counts only where every model has it (the models start from the same initialisation
    for one seed, so differences are paired by seed)."""
    layers = sorted({l for (_, l) in by_seed})
    seeds = sorted(set.intersection(*(set(by_seed[(m, l)]) for m in models for l in layers)))
    out = {"seeds": seeds, "final_relevance": {}, "max_relevance": {}, "final_I_X": {},
           "compression": {}}
    for m in models:
        for key, pick in (("final_relevance", lambda c: c[max(c)][1]),
                          ("max_relevance", lambda c: max(v[1] for v in c.values())),
                          ("final_I_X", lambda c: c[max(c)][0])):
            out[key][m] = {l: dict(per_seed={s: pick(by_seed[(m, l)][s]) for s in seeds},
                                   **spread([pick(by_seed[(m, l)][s]) for s in seeds]))
                           for l in layers}
        out["compression"][m] = {l: {s: _compresses(by_seed[(m, l)][s]) for s in seeds}
                                 for l in layers}
    if BASELINE not in models:
        return out
    final = out["final_relevance"]
    out["reach_sfnn"], out["verdicts"] = {}, {}
    for m in (m for m in models if m != BASELINE):
        per = {s: _first_reach({l: by_seed[(m, l)][s] for l in layers},
                               {l: final[BASELINE][l]["per_seed"][s] for l in layers},
                               layers) for s in seeds}
        out["reach_sfnn"][m] = {"per_seed": per,
                                "reached": sum(e is not None for e in per.values())}
        out["verdicts"][f"height: {m} above sfnn"] = {
            f"Z_{l}": verdict([final[m][l]["per_seed"][s] - final[BASELINE][l]["per_seed"][s]
                               for s in seeds]) for l in layers}
    # The paper: SFNN's relevance "degrades before ever reaching the value of 0.8 bits".
    out["verdicts"]["height: sfnn stays below 0.8 bit"] = {
        f"Z_{l}": verdict([0.8 - out["max_relevance"][BASELINE][l]["per_seed"][s]
                           for s in seeds]) for l in layers}
    # A seed that never reaches the target takes at least the whole run.
    last = max(max(c) for curves in by_seed.values() for c in curves.values())
    took = lambda e: last if e is None else e
    for m, r in out["reach_sfnn"].items():
        out["verdicts"][f"speed: {m} reaches sfnn's final relevance"] = said(judge.reach(
            {str(s): took(e) / last for s, e in r["per_seed"].items()}))
    # The paper: the joint objective reaches it in about a quarter of the greedy one's
    # epochs (4.68% against 17.95% of the run).
    joint = [m for m in out["reach_sfnn"] if not KINDS[m].greedy]
    greedy = [m for m in out["reach_sfnn"] if KINDS[m].greedy]
    for a, b in ((a, b) for a in joint for b in greedy):
        ea, eb = out["reach_sfnn"][a]["per_seed"], out["reach_sfnn"][b]["per_seed"]
        out["verdicts"][f"speed: {a} before {b}"] = said(judge.order(
            judge.Sample(by_seed={str(s): took(ea[s]) for s in seeds}),
            judge.Sample(by_seed={str(s): took(eb[s]) for s in seeds}), "lower", paired=True))
    # Compression: the largest fall of I(Z_l;X) after its peak over the layers, per seed,
    # above 0.01 bit.
    for m in models:
        falls = {str(s): max(_fall(by_seed[(m, l)][s]) for l in layers) for s in seeds}
        out["verdicts"][f"compression: {m}"] = said(judge.threshold(
            judge.Sample(by_seed=falls), 0.01, "above"))
    # The paper: IMB's compression terms "keep the layer representation from shifting to
    # the right" in the information plane, i.e. a smaller I(Z_l;X) than SFNN's.
    x = out["final_I_X"]
    for m in (m for m in models if m != BASELINE):
        out["verdicts"][f"compression: {m} left of sfnn at the end"] = {
            f"Z_{l}": verdict([x[BASELINE][l]["per_seed"][s] - x[m][l]["per_seed"][s]
                               for s in seeds]) for l in layers}
    return out


def seeds_markdown(t):
    """summary.md's per-seed section: relevance with its spread, the epoch each seed
    reaches SFNN's final relevance, compression per seed, and the verdicts."""
    models, seeds = list(t["final_relevance"]), t["seeds"]
    layers = sorted(t["final_relevance"][models[0]], key=int)
    fmt = lambda r: (f"{r['mean']:.3f}" + ("" if r["std"] is None else
                                           f" +- {r['std']:.3f}")
                     + f" ({r['min']:.3f} .. {r['max']:.3f})")
    lines = []
    for key, title in (("final_relevance", f"## Over seeds ({len(seeds)}: {seeds}): final "
                                           f"relevance I(Z_l;Y), mean +- std (min .. max)"),
                       ("final_I_X", "Final compression I(Z_l;X), mean +- std (min .. max):")):
        lines += ["", title, "", "| model | " + " | ".join(f"Z_{l}" for l in layers) + " |",
                  "|---" * (len(layers) + 1) + "|"]
        lines += [f"| {m} | " + " | ".join(fmt(t[key][m][l]) for l in layers) + " |"
                  for m in models]
    lines += ["", "Per seed, final relevance:", "",
              "| model | seed | " + " | ".join(f"Z_{l}" for l in layers) + " | compresses in |",
              "|---" * (len(layers) + 3) + "|"]
    for m in models:
        for s in seeds:
            where = [f"Z_{l}" for l in layers if t["compression"][m][l][s]] or ["-"]
            lines.append(f"| {m} | {s} | " + " | ".join(
                f"{t['final_relevance'][m][l]['per_seed'][s]:.3f}" for l in layers)
                + f" | {', '.join(where)} |")
    if "reach_sfnn" in t:
        lines += ["", "Epoch at which each seed has that seed's SFNN final relevance in "
                  "every layer (first measured epoch; - : never within the run):", ""]
        for m, r in t["reach_sfnn"].items():
            cells = ", ".join(f"seed {s}: {'-' if e is None else e}"
                              for s, e in r["per_seed"].items())
            lines.append(f"- {m}: {r['reached']} of {len(seeds)} seeds reach it ({cells})")
        lines += ["", "## Verdicts over seeds", ""]
        for claim, v in t["verdicts"].items():
            if isinstance(v, dict):
                lines.append(f"- {claim}: " + "; ".join(f"{l} {w} ({why})"
                                                        for l, (w, why) in v.items()))
            else:
                lines.append(f"- {claim}: {v[0]} ({v[1]})")
    return lines


def summary_markdown(s, cfg, seeds):
    lines = [f"# Information plane: {cfg.training.epochs} epochs, seeds {list(seeds)}, "
             f"{training_label(cfg)}",
             "", f"Seed-averaged, exact, in bits. I(X;Y) = {s['I_XY']:.3f} bit.", ""]
    if "in_progress" in s:
        p = s["in_progress"]
        lines += [f"**In progress**: seeds {p['seeds_complete']} of {p['seeds']} are complete "
                  "for every model; this summary covers them, and is rewritten as each "
                  "further seed completes.", ""]
    models = list(s["max_relevance"])
    layers = sorted(s["max_relevance"][models[0]], key=int)
    lines += ["## Highest relevance I(Z_l;Y) reached (paper: SFNN stays below 0.8 bits)", "",
              "| model | " + " | ".join(f"Z_{l}" for l in layers)
              + f" | test error: exact | sampled, M = {cfg.network.test_samples} |",
              "|---" * (len(layers) + 3) + "|"]
    for m in models:
        lines.append(f"| {m} | " + " | ".join(f"{s['max_relevance'][m][l]:.3f}" for l in layers)
                     + f" | {_percent(s['exact_test_error'].get(m))}"
                     + f" | {_percent(s['test_error'].get(m))} |")
    if "epochs_to_sfnn_final_relevance" in s:
        lines += ["", "## Epochs to reach SFNN's final relevance in every layer "
                  "(paper: JointIMB about 4.68%, GreedyIMB 17.95%)", ""]
        for m, r in s["epochs_to_sfnn_final_relevance"].items():
            lines.append(f"- {m}: " + ("never within the run" if r["epoch"] is None else
                                       f"epoch {r['epoch']} ({100 * r['fraction']:.2f}% of "
                                       f"{cfg.training.epochs})"))
    lines += ["", "## Compression: a fall in I(Z_l;X) after its peak (drop > 0.01 bit)", "",
              "| model | " + " | ".join(f"Z_{l}: peak -> final" for l in layers) + " |",
              "|---" * (len(layers) + 1) + "|"]
    for m in models:
        cells = []
        for l in layers:
            c = s["compression"][m][l]
            mark = " (compresses)" if c["compresses"] else ""
            cells.append(f"{c['peak_I_X']:.3f} @ {c['peak_epoch']} -> {c['final_I_X']:.3f}{mark}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    if "over_seeds" in s:
        lines += seeds_markdown(s["over_seeds"])
    return "\n".join(lines) + "\n"


def _percent(fraction):
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def training_label(cfg):
    """How the networks were trained, for titles: the objective and the optimiser."""
    net, t = cfg.network, cfg.training
    objective = ("exact objective" if net.estimator == "exact"
                 else f"M = {net.samples} ({net.estimator})")
    return f"{objective}, {t.optimizer} lr {t.lr}, batch {t.batch_size}"


@optional_figure
def plot(table, models, path, epochs, title=None, by_seed=None):
    """Write `figure(...)` to `path` (a PNG, through a temporary name)."""
    import matplotlib.pyplot as plt
    fig = figure(table, models, epochs, title, by_seed)
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def figure(table, models, epochs, title=None, by_seed=None):
    """Figure 1: one panel per model, one trajectory per layer (the seed mean), coloured
    by epoch; the panels share both axes, so trajectories compare across models at a
    glance. With `by_seed` (read_seeds) and more than one seed, each seed's trajectory
    is drawn faint behind the mean and its last point as a small cross: the spread
    between seeds is seen beside the gap between models."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    layers = sorted({l for (_, l) in table})
    fig, axes = plt.subplots(1, len(models), figsize=(4.6 * len(models) + 1, 4.5),
                             sharex=True, sharey=True, squeeze=False, constrained_layout=True)
    if title:
        fig.suptitle(title)
    norm = LogNorm(vmin=1, vmax=max(epochs, 2))
    markers = "osD^v<>ph"
    for ax, name in zip(axes[0], models):
        for l in layers:
            curve = table[(name, l)]
            ep = np.array(list(curve))
            pts = np.array(list(curve.values()))
            marker = markers[(l - 1) % len(markers)]
            seeds = (by_seed or {}).get((name, l), {})
            for k, c in enumerate(seeds.values() if len(seeds) > 1 else ()):
                sp = np.array(list(c.values()))
                ax.plot(sp[:, 0], sp[:, 1], color="tab:red", lw=0.6, alpha=0.3, zorder=0,
                        label="one seed" if k == 0 and l == layers[0] else None)
                ax.scatter(sp[-1:, 0], sp[-1:, 1], marker="x", s=14, color="tab:red",
                           alpha=0.6, zorder=0)
            ax.plot(pts[:, 0], pts[:, 1], color="0.8", lw=0.8, zorder=1)
            trained = ep >= 1          # the colour scale is logarithmic: epochs 1 and on
            sc = ax.scatter(pts[trained, 0], pts[trained, 1], c=ep[trained], cmap="viridis",
                            norm=norm, marker=marker, s=22, zorder=2, label=f"Z_{l}",
                            edgecolors="none")
            # Epoch 0, the initialisation, has no place on a log scale: drawn hollow,
            # so it is not mistaken for epoch 1.
            ax.scatter(pts[~trained, 0], pts[~trained, 1], marker=marker, s=26, zorder=3,
                       facecolors="none", edgecolors="black", linewidths=0.8,
                       label="epoch 0 (start)" if l == layers[-1] else None)
        ax.set_title(KINDS[name].label + (" (MLE)" if name == BASELINE else ""))
        ax.set_xlabel("I(Z_l; X)  [bits]")
        ax.grid(alpha=0.3)
        leg = ax.legend(loc="lower right", fontsize=8)
        for h, text in zip(leg.legend_handles, leg.get_texts()):
            if text.get_text().startswith("epoch 0"):
                h.set_facecolor("none")
                h.set_edgecolor("black")
            elif text.get_text() == "one seed":
                continue
            else:                      # a layer's marker, in grey: colour is the epoch
                h.set_array(None)
                h.set_color("0.3")
    axes[0][0].set_ylabel("I(Z_l; Y)  [bits]")
    fig.colorbar(sc, ax=axes[0].tolist(), label="epoch")
    return fig


# ---- the report a run folder gets ----------------------------------------------------
def write_report(cfg, models, seeds, out_dir, results, whole):
    """summary.json, summary.md and infoplane.png over the seeds `whole` (those every
    model has complete): all of `seeds` at the end, fewer while the run is in progress,
    so a long run shows its whole seeds so far."""
    by_seed = {key: {s: c for s, c in curves.items() if s in whole}
               for key, curves in read_seeds(os.path.join(out_dir, "infoplane.csv")).items()
               if key[0] in models}
    table = seed_mean(by_seed)
    summary = summarize(table, models, cfg.training.epochs)
    summary["over_seeds"] = summarize_seeds(by_seed, models)
    summary["I_XY"] = label_information(*whole_distribution(
        *synthetic12.load_task(cfg.data.data_file))[1:])
    for key in ("test_error", "exact_test_error"):
        summary[key] = {name: _seed_mean(results, key, name, whole) for name in models}
    partial = whole != list(seeds)
    if partial:
        summary["in_progress"] = {"seeds_complete": list(whole), "seeds": list(seeds)}
    write_json(os.path.join(out_dir, "summary.json"), summary)
    with atomic_write(os.path.join(out_dir, "summary.md")) as fh:
        fh.write(summary_markdown(summary, cfg, whole))
    title = figure_title(cfg, len(whole))
    if partial:
        title += f" (in progress: {len(whole)} of {len(seeds)} seeds)"
    plot(table, models, os.path.join(out_dir, "infoplane.png"), cfg.training.epochs, title=title,
         by_seed=by_seed)
    return summary


def figure_title(cfg, n_seeds):
    """'Information plane, 12-bit task (icosahedral rule): 300 epochs, 1 seed, exact
    objective, adam lr 0.01, batch 64'."""
    task = (f"12-bit task ({os.path.basename(cfg.data.data_file)})" if cfg.data.data_file
            else "12-bit task (icosahedral rule)")
    seeds = "1 seed" if n_seeds == 1 else f"mean of {n_seeds} seeds (faint: each seed)"
    return (f"Information plane, {task}: {cfg.training.epochs:,} epochs, {seeds}, "
            f"{training_label(cfg)}")


def _seed_mean(results, key, name, seeds):
    """Mean of runs.json's `key` over the seeds that have it (None if none has)."""
    values = [results[f"{name}/{s}"][key] for s in seeds
              if key in results.get(f"{name}/{s}", {})]
    return float(np.mean(values)) if values else None
