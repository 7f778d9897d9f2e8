"""Do the core's speed switches (bf16 autocast, ``torch.compile``) pay on this machine?

One epoch of the default VSC through the core API (``fit_model``) with each
setting against float32, interleaved over ``--repeats`` seeds, with the test
-ELBO after that epoch (fixed noise draws, so every setting is scored alike).
``--compile`` adds ``torch.compile`` of the objective (minutes of compilation).
The switches are off by default and no estimator parameter exposes them.

    python benchmarks/switches.py --n-train 6000 --repeats 2
"""

import argparse

import _common
import torch
from _common import (
    N_COMPONENTS,
    add_common_args,
    clocked,
    default_batch_size,
    finish,
    load_data,
    machine,
    median,
    start,
)
from _loops import default_model


def core_fit(X, X_test, batch_size, seed, **switches):
    """One epoch through the core API with the given switches.

    Returns ``(samples per wall second, per CPU second, test -ELBO)``; the
    -ELBO uses fixed noise draws so that every setting is scored identically.
    """
    from skvsc._core.data import make_source
    from skvsc._core.optim import make_optimizer
    from skvsc._core.schedule import Schedule
    from skvsc._core.train import TrainConfig, evaluate_elbo, fit_model

    est, family, model = default_model(X.shape[1], seed)
    schedule = Schedule(-(-len(X) // batch_size), **family.schedule_params)
    wall, cpu, _ = clocked(
        fit_model,
        model,
        make_optimizer(model.parameters(), est.learning_rate_init),
        make_source(X, _common.DEVICE),
        n_epochs=1,
        schedule=schedule,
        generator=torch.Generator(_common.DEVICE).manual_seed(seed + 1),
        config=TrainConfig(batch_size=batch_size, **switches),
    )
    noise_gen = torch.Generator().manual_seed(0)
    noises = [
        tuple(t.to(_common.DEVICE) for t in model.draw_noise((1, N_COMPONENTS), noise_gen))
        for _ in range(8)
    ]
    neg_elbo = -evaluate_elbo(
        model, make_source(X_test, _common.DEVICE), noises, schedule.final(), 2048
    )
    return len(X) / wall, len(X) / cpu, neg_elbo


def bench_switches(X, X_test, batch_size, repeats, with_compile):
    settings = {"float32": {}, "bf16 autocast": {"amp_dtype": torch.bfloat16}}
    if with_compile:
        settings["torch.compile"] = {"compile_objective": True}
        core_fit(X[: 4 * batch_size], X_test[:256], batch_size, 0, compile_objective=True)
    runs = {name: {"per_s": [], "per_cpu_s": [], "neg_elbo": []} for name in settings}
    for rep in range(repeats):
        for name, switches in settings.items():
            per_s, per_cpu_s, neg_elbo = core_fit(X, X_test, batch_size, rep, **switches)
            runs[name]["per_s"].append(per_s)
            runs[name]["per_cpu_s"].append(per_cpu_s)
            runs[name]["neg_elbo"].append(neg_elbo)
            print(f"  switches rep {rep}: {name} {per_s:.0f}/s, -ELBO {neg_elbo:.1f}", flush=True)
    base = runs["float32"]
    return [
        {
            "setting": name,
            "per_s": median(r["per_s"]),
            "speedup": median([a / b for a, b in zip(r["per_s"], base["per_s"])]),
            "speedup_cpu": median([a / b for a, b in zip(r["per_cpu_s"], base["per_cpu_s"])]),
            "neg_elbo": median(r["neg_elbo"]),
        }
        for name, r in runs.items()
    ]


def report(rows):
    lines = [
        "Speed switches of the core (one epoch, default batch size, interleaved; test "
        "-ELBO after that epoch, median over seeds):",
        "",
        "| setting | samples/s | speed-up | speed-up per CPU second | test -ELBO |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['per_s']:.0f} | {r['speedup']:.2f} | "
            f"{r['speedup_cpu']:.2f} | {r['neg_elbo']:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also torch.compile")
    args = parser.parse_args(argv)
    X, X_test, source = load_data(start(args), args.n_train)
    rows = bench_switches(X, X_test, default_batch_size(len(X)), args.repeats, args.compile)
    return finish({"machine": machine(source), "switches": rows}, report(rows), args.out)


if __name__ == "__main__":
    main()
