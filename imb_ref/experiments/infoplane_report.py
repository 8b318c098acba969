"""The information-plane experiment's report: the seed-averaged curves read from
infoplane.csv, the paper's three claims of Section 5.3 measured on them (summary.json,
summary.md), and the figure (infoplane.png). imb_ref/experiments/infoplane.py trains and
measures; this module only reads what it wrote.
"""

import csv

import numpy as np

from ..files import optional_figure, save_figure
from ..models import KINDS


def read_csv(path):
    """{(model, layer): {epoch: (mean I_X, mean I_Y) over seeds}}."""
    acc = {}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            key = (row["model"], int(row["layer"]))
            acc.setdefault(key, {}).setdefault(int(row["epoch"]), []).append(
                (float(row["I_X"]), float(row["I_Y"])))
    return {key: {e: tuple(np.mean(v, axis=0)) for e, v in sorted(by_epoch.items())}
            for key, by_epoch in acc.items()}


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
            drop = curve[peak_epoch][0] - curve[max(curve)][0]
            comp[l] = {"peak_I_X": curve[peak_epoch][0], "peak_epoch": peak_epoch,
                       "final_I_X": curve[max(curve)][0], "drop": drop,
                       "compresses": bool(drop > 0.01 and peak_epoch < max(curve))}
        out["compression"][name] = comp
    if BASELINE in models:
        target = {l: out["final"][BASELINE][l][1] for l in layers}
        out["epochs_to_sfnn_final_relevance"] = {}
        for name in models:
            if name == BASELINE:
                continue
            epochs_seen = sorted(table[(name, layers[0])])
            reached = next((e for e in epochs_seen
                            if all(table[(name, l)][e][1] >= target[l] for l in layers)), None)
            out["epochs_to_sfnn_final_relevance"][name] = {
                "epoch": reached, "fraction": None if reached is None else reached / epochs}
    return out


def summary_markdown(s, cfg, seeds):
    lines = [f"# Information plane: {cfg.epochs} epochs, seeds {list(seeds)}, "
             f"{training_label(cfg)}",
             "", f"Seed-averaged, exact, in bits. I(X;Y) = {s['I_XY']:.3f} bit.", ""]
    models = list(s["max_relevance"])
    layers = sorted(s["max_relevance"][models[0]], key=int)
    lines += ["## Highest relevance I(Z_l;Y) reached (paper: SFNN stays below 0.8 bits)", "",
              "| model | " + " | ".join(f"Z_{l}" for l in layers)
              + f" | test error: exact | sampled, M = {cfg.test_samples} |",
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
                                       f"{cfg.epochs})"))
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
    return "\n".join(lines) + "\n"


def _percent(fraction):
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def training_label(cfg):
    """How the networks were trained, for titles: the objective and the optimiser."""
    objective = ("exact objective" if cfg.estimator == "exact"
                 else f"M = {cfg.samples} ({cfg.estimator})")
    return f"{objective}, {cfg.optimizer} lr {cfg.lr}, batch {cfg.batch_size}"


@optional_figure
def plot(table, models, path, epochs, title=None):
    """Write `figure(...)` to `path` (a PNG, through a temporary name)."""
    import matplotlib.pyplot as plt
    fig = figure(table, models, epochs, title)
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def figure(table, models, epochs, title=None):
    """Figure 1: one panel per model, one trajectory per layer, coloured by epoch; the
    panels share both axes, so trajectories compare across models at a glance."""
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
            else:                      # a layer's marker, in grey: colour is the epoch
                h.set_array(None)
                h.set_color("0.3")
    axes[0][0].set_ylabel("I(Z_l; Y)  [bits]")
    fig.colorbar(sc, ax=axes[0].tolist(), label="epoch")
    return fig
