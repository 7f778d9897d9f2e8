"""Held-out reconstruction of the Frey faces from k active units: VSC against PCA-k and OMP-k.

The face experiment of the paper on the data set we have: 1,965 faces of 28x20
pixels, split 1,500 / 465 with a seed. For each budget k, reconstruct the
held-out faces from a code with k non-zeros: PCA with k components, OMP with k
atoms of a dictionary of ``--dict-size`` atoms (MiniBatchDictionaryLearning),
and VariationalSparseCoder (Gaussian likelihood) with the MLP and the conv
network: fitted at ``alpha = k / J`` (its exact-sparse code, and that code
truncated to the k most probable units with ``transform_n_nonzero_coefs``),
and one fit at ``alpha = 2 max(k) / J`` truncated to each k. Codes are
decoded with ``inverse_transform``. Prints one row per method and k (MSE in pixels in [0, 1],
mean non-zeros of the held-out codes); writes nothing unless ``--out`` is given.

    python benchmarks/frey_faces.py --data-dir DIR [--ks 5 10 20] [--out rows.jsonl]

``--select 0.5 0.7 1`` adds, for each k, the fit at ``alpha = f k / J`` whose
code truncated to k units reconstructs a validation fifth of the training faces
best, refitted on all of them (``--only-select`` leaves out the other VSC fits).
"""

import argparse
import json
import os
import time

import _common  # noqa: F401  (first: puts this checkout's skvsc on sys.path)
import numpy as np
from sklearn.decomposition import PCA, MiniBatchDictionaryLearning
from sklearn.model_selection import train_test_split

from skvsc import VariationalSparseCoder
from skvsc.datasets import FREY_IMAGE_SHAPE, load_frey_faces


def rows(
    X_train, X_test, ks, *, n_components, dict_size, seed, max_iter, networks, select=(), plain=True
):
    for k in ks:
        for network in networks if select else ():
            t = time.perf_counter()
            factor, vsc = _validated(X_train, k, n_components, network, max_iter, seed, select)
            Z = vsc.set_params(transform_n_nonzero_coefs=k).transform(X_test)
            seconds = time.perf_counter() - t
            name = f"VSC-{network} validated top-k (alpha={factor:g} k/J)"
            yield name, k, vsc.inverse_transform(Z), _nnz(Z), seconds
        pca = PCA(k, random_state=seed).fit(X_train)
        yield "PCA", k, pca.inverse_transform(pca.transform(X_test)), k, 0.0
        t = time.perf_counter()
        mean = X_train.mean(axis=0)  # OMP codes the centred faces, as PCA does
        dico_c = MiniBatchDictionaryLearning(
            dict_size, transform_algorithm="omp", transform_n_nonzero_coefs=k, random_state=seed
        ).fit(X_train - mean)
        codes = dico_c.transform(X_test - mean)
        nnz = (codes != 0).sum(axis=1).mean()
        yield "OMP", k, codes @ dico_c.components_ + mean, nnz, time.perf_counter() - t
        for network in networks if plain else ():
            t = time.perf_counter()
            vsc = _vsc(n_components, k / n_components, network, max_iter, seed).fit(X_train)
            seconds = time.perf_counter() - t
            Z = vsc.transform(X_test)
            yield f"VSC-{network} alpha=k/J", k, vsc.inverse_transform(Z), _nnz(Z), seconds
            Z = vsc.set_params(transform_n_nonzero_coefs=k).transform(X_test)
            yield f"VSC-{network} alpha=k/J top-k", k, vsc.inverse_transform(Z), _nnz(Z), seconds
    for network in networks if plain else ():  # one fit, truncated to every budget
        t = time.perf_counter()
        vsc = _vsc(n_components, max(ks) * 2 / n_components, network, max_iter, seed)
        vsc.fit(X_train)
        seconds = time.perf_counter() - t
        for k in ks:
            Z = vsc.set_params(transform_n_nonzero_coefs=k).transform(X_test)
            yield f"VSC-{network} one fit top-k", k, vsc.inverse_transform(Z), _nnz(Z), seconds


def _validated(X_train, k, n_components, network, max_iter, seed, factors):
    """The fit at ``alpha = f k / J`` whose top-k code reconstructs a validation
    fifth of ``X_train`` best (``f`` in ``factors``), refitted on all of ``X_train``."""
    X_fit, X_val = train_test_split(X_train, test_size=0.2, random_state=seed)
    errors = {}
    for factor in factors:
        vsc = _vsc(n_components, factor * k / n_components, network, max_iter, seed).fit(X_fit)
        Z = vsc.set_params(transform_n_nonzero_coefs=k).transform(X_val)
        errors[factor] = float(np.mean((vsc.inverse_transform(Z) - X_val) ** 2))
    best = min(errors, key=errors.get)
    print(f"k={k} {network}: validation MSE by alpha factor {errors}: {best}", flush=True)
    vsc = _vsc(n_components, best * k / n_components, network, max_iter, seed)
    return best, vsc.fit(X_train)


def _nnz(Z):
    return float((Z != 0).sum(axis=1).mean())


def _vsc(n_components, alpha, network, max_iter, seed):
    return VariationalSparseCoder(
        n_components=n_components,
        alpha=min(alpha, 0.9),
        likelihood="gaussian",
        network=network,
        image_shape=FREY_IMAGE_SHAPE,
        max_iter=max_iter,
        random_state=seed,
        n_threads=1,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("SKVSC_DATA"))
    parser.add_argument("--ks", type=int, nargs="+", default=[5, 10, 20])
    parser.add_argument("--n-components", type=int, default=50)
    parser.add_argument("--dict-size", type=int, default=50)
    parser.add_argument("--max-iter", default="auto")
    parser.add_argument("--networks", nargs="+", default=["mlp", "conv"])
    parser.add_argument("--n-train", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and the fits")
    parser.add_argument(
        "--select",
        type=float,
        nargs="*",
        default=[],
        help="factors f: add the top-k code of the fit at alpha = f k / J whose top-k "
        "code is best on a validation fifth of the training faces",
    )
    parser.add_argument("--only-select", action="store_true", help="skip the rows without --select")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    X = load_frey_faces(args.data_dir, download=False).astype(np.float64)
    X_train, X_test = train_test_split(X, train_size=args.n_train, random_state=args.seed)
    max_iter = args.max_iter if args.max_iter == "auto" else int(args.max_iter)
    print(f"{'method':30} {'k':>3} {'MSE':>8} {'nnz':>6} {'fit s':>6}")
    for method, k, X_hat, nnz, seconds in rows(
        X_train,
        X_test,
        args.ks,
        n_components=args.n_components,
        dict_size=args.dict_size,
        seed=args.seed,
        max_iter=max_iter,
        networks=args.networks,
        select=args.select,
        plain=not args.only_select,
    ):
        mse = float(np.mean((X_hat - X_test) ** 2))
        print(f"{method:30} {k:3d} {mse:8.5f} {nnz:6.2f} {seconds:6.1f}", flush=True)
        if args.out:
            with open(args.out, "a") as f:
                row = dict(method=method, k=k, mse=mse, nnz=float(nnz), seconds=seconds)
                f.write(json.dumps({**row, "seed": args.seed, "n_train": args.n_train}) + "\n")


if __name__ == "__main__":
    main()
