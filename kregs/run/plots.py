"""Figures as PNG files, for tune's and study's plots (matplotlib, Agg backend: no display)."""

import os

DPI = 80


def pyplot():
    """`matplotlib.pyplot` on the Agg backend (imported on first use: it is slow to load)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save(fig, path):
    """Saves `fig` as a PNG atomically (a unique temporary name, then a rename), then closes it."""
    plt = pyplot()
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{name}")
    try:
        fig.savefig(tmp, dpi=DPI, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
