"""The table and figure of ``sparse_baselines.py``: rows averaged over seeds, a
markdown table, and accuracy against non-zeros per sample."""

import json
from pathlib import Path

import numpy as np
from _protocol import print_table as common_print_table


def aggregate(rows):
    """Mean over seeds of each (dataset, split, label, k, number of units J), in
    first-seen order; of repeated (…, seed) rows the last one counts. Codes of
    different widths are never averaged together (a row without ``n_components``
    counts as one width)."""
    latest = {}
    for row in rows:
        key = (row["dataset"], row["split"], row["label"], row["k"], row.get("n_components"))
        latest[(*key, row["seed"])] = row
    groups = {}
    for key_seed, row in latest.items():
        groups.setdefault(key_seed[:-1], []).append(row)
    table = []
    for (dataset, split, label, k, n_components), group in groups.items():
        out = {"dataset": dataset, "split": split, "label": label, "k": k, "n_seeds": len(group)}
        out["n_components"] = n_components
        out["seeds"] = [r["seed"] for r in group]
        for key in ("acc", "active_per_sample", "nonzero", "dead", "empty_codes", "fit_s"):
            out[key] = float(np.mean([r[key] for r in group]))
        if "eval_reconstruction" in group[0]:
            out["eval_rec"] = float(np.mean([r["eval_reconstruction"] for r in group]))
        if len(group) > 1:
            out["acc_sd"] = float(np.std([r["acc"] for r in group], ddof=1))
        out["epochs"] = group[0].get("epochs")
        table.append(out)
    return table


TABLE_COLUMNS = [
    "dataset",
    "split",
    "label",
    "n_components",
    "k",
    "n_seeds",
    "acc",
    "active_per_sample",
    "nonzero",
    "dead",
    "empty_codes",
    "epochs",
    "fit_s",
    "eval_rec",
]


def _cell(row, col):
    """One table cell of ``row`` as text: percentages, the seed spread, "—" for None."""
    value = row.get(col, "")
    if col == "acc":
        return f"{100 * value:.2f} %" + (f" ± {100 * row['acc_sd']:.2f}" if "acc_sd" in row else "")
    if col in ("nonzero", "empty_codes"):
        return f"{100 * value:.2f} %"
    if isinstance(value, float):
        return f"{value:.1f}" if col != "dead" else f"{value:g}"
    return "—" if value is None else str(value)


def print_table(table):
    """The aggregated rows as a markdown table (``_protocol.print_table`` of text cells)."""
    common_print_table([{c: _cell(r, c) for c in TABLE_COLUMNS} for r in table], TABLE_COLUMNS)


def series(table):
    """``{(label, n_components): name}`` for the labels and widths of ``table``, in
    first-seen order: the name is the label, with ``, J = n`` added where the table holds
    that label at more than one width."""
    widths = {}
    for row in table:
        widths.setdefault(row["label"], {}).setdefault(row.get("n_components"), None)
    return {
        (label, j): label + (f", J = {j}" if len(js) > 1 else "")
        for label, js in widths.items()
        for j in js
    }


def read_references(path):
    """``{dataset: {label: accuracy}}`` from a JSON file that holds either that
    or one ``{label: accuracy}`` for all datasets; non-numeric entries (such as
    a ``"provenance"`` note) are ignored."""
    if not path:
        return {}
    with open(path) as f:
        refs = json.load(f)
    flat = {k: v for k, v in refs.items() if isinstance(v, (int, float))}
    out = {}
    for key, value in refs.items():
        if isinstance(value, dict) and all(isinstance(v, (int, float)) for v in value.values()):
            out[key] = value
    return out or {"*": flat}


#: Labels of today's image default's rows (its own code; ", ≤ k" its capped code)
#: and of its one fit at ``alpha = 0.1`` truncated to each k.
TODAY = "VSC tied gate, subsidy-only rate control 1"
TODAY_TRUNCATED = (
    "VSC default (tied, subsidies) alpha=0.1 + short code k=5 weight 1, truncated to k"
)

# the rows of results/short_code_floor.jsonl (fit_n_nonzero_floor): the one fit that meets
# issue 24's targets, and the J = 200 one fit with the floor
FLOOR_WIDE = (
    "VSC default (tied, subsidies) J=400 alpha=20/400 + short code k=10 + hidden (1200,)"
    " + floor25, truncated to k"
)
FLOOR_TRUNCATED = (
    "VSC default (tied, subsidies) alpha=0.1 + short code k=5 weight 1 + floor25, truncated to k"
)
#: Shorter legend entries for long labels.
LEGEND = {
    FLOOR_WIDE: "VSC one fit, J=400, trunk 1200, short code 10, floor 0.25, truncated to k",
    FLOOR_TRUNCATED: "VSC one fit, alpha=0.1, short code 5, floor 0.25, truncated to k",
}


def figure(table, references, path, split):
    """Accuracy vs non-zeros per sample, one panel per dataset, one line per
    method; references (and the raw-pixel row) as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = [r for r in table if r["split"] == split]
    datasets = list(dict.fromkeys(r["dataset"] for r in table)) or list(references)
    datasets = [d for d in datasets if d != "*"]
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.2 * len(datasets), 5.4), squeeze=False)
    names = {"mnist": "MNIST", "fashion": "Fashion-MNIST"}
    styles = {
        "VSC (sparse code)": dict(color="C3", marker="o", lw=2),
        "TopK autoencoder": dict(color="C0", marker="s"),
        "BatchTopK autoencoder": dict(color="C1", marker="D"),
        "JumpReLU autoencoder": dict(color="C8", marker="v"),
        "MiniBatchDictionaryLearning (OMP)": dict(color="C2", marker="^"),
        "VSC alpha=k/J, ≤ k": dict(color="C3", marker="o", ls="--"),
        "VSC alpha=0.1, truncated to k": dict(color="C3", marker="x", ls=":"),
        # today's image default (tied gate, subsidy-only controller): the rows of
        # results/tied_gate_rate_control.jsonl and results/short_code_tied.jsonl
        TODAY: dict(color="C3", marker="o", lw=2),
        f"{TODAY}, ≤ k": dict(color="C3", marker="o", ls="--"),
        TODAY_TRUNCATED: dict(color="C3", marker="x", ls=":"),
        FLOOR_WIDE: dict(color="k", marker="P", lw=2),
        FLOOR_TRUNCATED: dict(color="C3", marker="P", ls="-."),
    }
    # One colour per reference code across all panels (a colour by rank would give the
    # same dashed colour to different codes in the two panels).
    all_refs = set()
    for dataset in datasets:
        all_refs |= set(references.get("*", {})) | set(references.get(dataset, {}))
        all_refs |= {r["label"] for r in table if r["dataset"] == dataset and r["k"] is None}
    ref_colors = {label: f"C{4 + i}" for i, label in enumerate(sorted(all_refs))}
    for ax, dataset in zip(axes[0], datasets):
        rows = [r for r in table if r["dataset"] == dataset]
        for (label, j), name in series([r for r in rows if r["k"] is not None]).items():
            pts = sorted(
                (r["active_per_sample"], r["acc"], r.get("acc_sd", 0.0))
                for r in rows
                if r["label"] == label and r.get("n_components") == j and r["k"] is not None
            )
            x, acc, sd = zip(*pts)
            style = dict(styles.get(label, dict(marker=".")))
            if name != label:  # one of several widths: the label's style, the width's colour
                style.pop("color", None)
            name = LEGEND.get(label, name)
            # the bars: one standard deviation over seeds (none drawn for one seed)
            ax.errorbar(x, acc, yerr=sd, label=name, capsize=3, **style)
        refs = dict(references.get("*", {}), **references.get(dataset, {}))
        refs.update({r["label"]: r["acc"] for r in rows if r["k"] is None})
        for label, acc in sorted(refs.items(), key=lambda kv: -kv[1]):
            color = ref_colors[label]
            ax.axhline(acc, color=color, ls="--", lw=1, label=f"{label}: {100 * acc:.1f} %")
        ax.set_xscale("log")
        ticks = sorted({r["k"] for r in rows if r["k"] is not None})
        if ticks:
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.minorticks_off()
        ax.set_xlabel("non-zeros per sample (mean, measured)")
        ax.set_ylabel(f"{split} accuracy, LogisticRegression on 5,000 labels")
        ax.set_title(names.get(dataset, dataset))
        ax.grid(alpha=0.3)
        # Below the axes, where it can hide no curve.
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130, bbox_inches="tight")  # the legend below the axes too
    plt.close(fig)
    print(f"figure: {path}", flush=True)


#: Columns of the frontier table (``frontier_table``), in this order when present.
FRONTIER_COLUMNS = {
    "TopK autoencoder": "TopK",
    "BatchTopK autoencoder": "BatchTopK",
    "JumpReLU autoencoder": "JumpReLU",
    "MiniBatchDictionaryLearning (OMP)": "OMP",
    "VSC alpha=k/J, ≤ k": "VSC ≤ k",
    "VSC alpha=0.1, truncated to k": "VSC one fit (alpha 0.1)",
    "VSC (sparse code)": "VSC own code",
}
#: Labels whose code may keep more than k units: never bold.
OVER_BUDGET = {"VSC (sparse code)"}


def frontier_cell(row):
    """``93.26 % ± 0.08 (2 seeds), 9.3, 0``: mean accuracy, its standard deviation over
    seeds, the number of seeds (or the one seed: ``(seed 0)``), then mean units per
    evaluated sample and mean dead units (one decimal: a mean over 3 seeds is a third)."""
    sd = f" ± {100 * row['acc_sd']:.2f}" if "acc_sd" in row else ""
    seeds = f"{row['n_seeds']} seeds" if row["n_seeds"] > 1 else f"seed {row['seeds'][0]}"
    dead = round(row["dead"], 1)
    return f"{100 * row['acc']:.2f} %{sd} ({seeds}), {row['active_per_sample']:.1f}, {dead:g}"


def frontier_table(table, dataset):
    """The aggregated rows of ``dataset`` as one markdown line per k and one column per
    method (``FRONTIER_COLUMNS``) and width (``, J = n`` where a method has several, the
    narrowest first); bold: the highest mean accuracy of a code meant to keep at most k
    units (not ``OVER_BUDGET``). Returns the lines."""
    rows = [r for r in table if r["dataset"] == dataset and r["k"] is not None]
    names = series(rows)
    order = {label: i for i, label in enumerate(FRONTIER_COLUMNS)}
    columns = sorted((c for c in names if c[0] in order), key=lambda c: (order[c[0]], c[1] or 0))
    heads = [FRONTIER_COLUMNS[c[0]] + names[c][len(c[0]) :] for c in columns]
    lines = ["| k | " + " | ".join(heads) + " |", "|---|" + "---|" * len(columns)]
    for k in sorted({r["k"] for r in rows}):
        cells = {(r["label"], r.get("n_components")): r for r in rows if r["k"] == k}
        within = [cells[c] for c in columns if c in cells and c[0] not in OVER_BUDGET]
        best = max(within, key=lambda r: r["acc"]) if within else None
        texts = []
        for c in columns:
            text = frontier_cell(cells[c]) if c in cells else "—"
            texts.append(f"**{text}**" if best is not None and cells.get(c) is best else text)
        lines.append(f"| {k} | " + " | ".join(texts) + " |")
    return lines


def read_jsonl(path):
    with open(path) as f:
        return [
            r for r in map(json.loads, filter(str.strip, f)) if r.get("what") == "sparse_baselines"
        ]
