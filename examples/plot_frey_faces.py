"""
What one unit changes in a face (Frey faces)
=============================================

**Needs the Frey faces.** They are read with
:func:`skvsc.datasets.load_frey_faces` from the folder given as the first
argument of the script, else from ``$SKVSC_DATA/frey/`` or skvsc's data home
(pass ``download=True`` to fetch them instead). The documentation is built
without running this script when the file is absent; run directly without it,
the script says so and stops.

The face experiment of the VSC paper: on a sparse code of faces, moving a single
active unit should change one recognisable feature of the face. We fit
:class:`~skvsc.VariationalSparseCoder` and a :class:`~skvsc.VAETransformer` with
the convolutional network (``network="conv"``) and the Gaussian likelihood on
the Frey faces (one person, 28 x 20 pixels, varying expression and pose), encode
held-out faces, and move one unit of a real face's code at a time: the units
that are active most often for VSC, the units whose encoded means vary most for
the VAE.
"""

# %%
import os
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split

from skvsc import VAETransformer, VariationalSparseCoder
from skvsc.datasets import FREY_IMAGE_SHAPE, load_frey_faces
from skvsc.plotting import plot_traversals

# The test suite sets SKVSC_EXAMPLE_SMOKE=1 to run this script in seconds.
SMOKE = bool(os.environ.get("SKVSC_EXAMPLE_SMOKE"))
data_home = sys.argv[1] if len(sys.argv) > 1 else None
try:
    X = load_frey_faces(data_home, download=False)
except FileNotFoundError as error:
    print(f"the Frey faces are not there, so there is nothing to show: {error}")
    sys.exit(0)
X_train, X_test = train_test_split(X, train_size=1500, random_state=0)
height, width = FREY_IMAGE_SHAPE
print(f"{len(X_train):,} training faces, {len(X_test)} held out, {height} x {width} pixels")

# %%
# Two codes of the same faces
# ---------------------------
# Both models have 50 units and the same convolutional networks. VSC's
# ``alpha=0.1`` asks for a tenth of the units to be active on a face; the VAE's
# code is dense.
# The pixels are in [0, 1], where ``likelihood="auto"`` would pick the
# Bernoulli likelihood; grey levels are better modelled as Gaussian.
# ``conv_channels=(16, 32)``, wider than the default, are the networks of the
# figures in the user guide's images page.
common = dict(
    n_components=50,
    likelihood="gaussian",
    network="conv",
    image_shape=FREY_IMAGE_SHAPE,
    conv_channels=(16, 32),
    max_iter=3 if SMOKE else 60,
    random_state=0,
)
vsc = VariationalSparseCoder(alpha=0.1, **common)
vae = VAETransformer(**common)
for model in (vsc, vae):
    start = time.perf_counter()
    model.fit(X_train)
    print(f"{type(model).__name__}: fit in {time.perf_counter() - start:.0f} s")

Z_test = vsc.transform(X_test)
active = Z_test != 0
print(f"VSC: {active.sum(axis=1).mean():.1f} active units per held-out face")
for name, model in (("VSC", vsc), ("VAE", vae)):
    error = np.mean((model.inverse_transform(model.transform(X_test)) - X_test) ** 2)
    print(f"{name}: held-out reconstruction MSE {error:.5f}")

# %%
# Which units to move
# -------------------
# For VSC, the six units active on the most held-out faces; for the VAE, the six
# units whose encoded means vary most across the training faces (its other units
# carry little). Each traversal starts from the code of a real held-out face: the
# one on which the most of VSC's six units are active.
vsc_units = np.argsort(-active.mean(axis=0), kind="stable")[:6]
vae_units = np.argsort(-vae.posterior_mean_variance_, kind="stable")[:6]
face = int(np.argmax(active[:, vsc_units].sum(axis=1)))
print(f"VSC units {vsc_units.tolist()}, active on these shares of the held-out faces:")
print("  " + ", ".join(f"{rate:.2f}" for rate in active[:, vsc_units].mean(axis=0)))
print(f"VAE units {vae_units.tolist()}")
print(f"the face: held-out face {face}, {active[face].sum()} active VSC units")

# %%
# VSC: one unit at a time
# -----------------------
# Each row moves one unit of the face's code from -3 to +3 around its value
# (the middle column is the reconstruction); a unit that is off on this face
# is switched on.
fig = plt.figure(figsize=(7, 7.5), layout="constrained")
plot_traversals(vsc, X_test[face], units=vsc_units, image_shape=FREY_IMAGE_SHAPE, fig=fig)
fig.suptitle("VSC")
plt.show()

# %%
# The VAE: one unit at a time
# ---------------------------
fig = plt.figure(figsize=(7, 7.5), layout="constrained")
plot_traversals(vae, X_test[face], units=vae_units, image_shape=FREY_IMAGE_SHAPE, fig=fig)
fig.suptitle("VAE")
plt.show()


# %%
# Where each unit acts
# --------------------
# The decoded face at +3 minus the decoded face at -3, for each traversal above
# (red: brighter at +3, blue: darker; one colour scale for all twelve maps).
# Below, two numbers for each: the root mean square change of the pixels, and
# the share of that change in the lower half of the face (the mouth; the upper
# half holds the eyes). A unit whose change is small against the others
# controls nothing visible.
def effect_maps(model, units):
    code = model.transform(X_test[face : face + 1])[0]
    codes = np.repeat(code[None, :], 2 * len(units), axis=0)
    codes[np.arange(2 * len(units)), np.repeat(units, 2)] += np.tile([-3.0, 3.0], len(units))
    decoded = model.inverse_transform(codes).reshape(len(units), 2, *FREY_IMAGE_SHAPE)
    return decoded[:, 1] - decoded[:, 0]


maps = {"VSC": effect_maps(vsc, vsc_units), "VAE": effect_maps(vae, vae_units)}
units = {"VSC": vsc_units, "VAE": vae_units}
bound = max(np.abs(m).max() for m in maps.values())
fig, axes = plt.subplots(2, 6, figsize=(7, 3.6), layout="constrained")
for row, name in enumerate(maps):
    for ax, unit, change in zip(axes[row], units[name], maps[name]):
        ax.imshow(change, cmap="RdBu_r", vmin=-bound, vmax=bound)
        ax.set_title(f"{name} {unit}", fontsize="small")
        ax.set_axis_off()
plt.show()

for name in maps:
    for unit, change in zip(units[name], maps[name]):
        squared = change**2
        lower = squared[FREY_IMAGE_SHAPE[0] // 2 :].sum() / squared.sum()
        rms = np.sqrt(squared.mean())
        print(f"{name} unit {unit:2d}: RMS change {rms:.3f}, lower half {lower:.0%}")

# %%
# What the units control is read from the figures and is written up, with the
# reconstruction table of held-out faces, on the images page of the
# documentation. The traversals depend on the face they start from and on the
# seed; run the script with another ``random_state`` to see how much.
