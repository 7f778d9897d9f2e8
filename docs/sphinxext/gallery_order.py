"""The order of the gallery: as a newcomer learns, not alphabetical.

sphinx-gallery calls ``NewcomerOrder(src_dir)(filename)`` for each example and
sorts by the result; examples not listed come after the listed ones, by name.
"""

ORDER = [
    "plot_pipeline_digits.py",
    "plot_grid_search.py",
    "plot_budget_digits.py",
    "plot_interpretability_mnist.py",
    "plot_frey_faces.py",
    "plot_persistence.py",
    "plot_gpu.py",
]


class NewcomerOrder:
    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = str(filename).rsplit("/", 1)[-1]
        return (ORDER.index(name) if name in ORDER else len(ORDER), name)

    def __repr__(self):  # sphinx-gallery shows it and Sphinx compares it between builds
        return "NewcomerOrder"
