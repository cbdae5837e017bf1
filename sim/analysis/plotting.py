"""One way to make a chart: :func:`figure`, used by sim.charts, sim.sweep_report and sim.validation; and one
way to label a money axis: :func:`money_axis` (ticks in the reports' money style, :func:`sim.analysis.formatting.
format_money`).

Every chart of the package is drawn with matplotlib's Agg backend (set here, at the first chart), titled, with
axis labels that carry units, and written as a PNG (or kept in memory as base64 for an HTML report)::

    with figure(out_dir, "cumulative_customers", "Customers won over time", "day",
                "customers won (accounts)") as c:
        c.ax.plot(days, wins)
    return c.path          # out_dir/cumulative_customers.png, written and closed on leaving the block

The figure is closed whatever happens in the block; it is saved only if the block completes (an early
``return c.path`` inside the block still saves it).
"""

from __future__ import annotations

import base64
import math
import pathlib
from contextlib import contextmanager
from io import BytesIO
from typing import Any, Iterator

__all__ = ["FIGSIZE", "DPI", "Chart", "figure", "grid_shape", "pyplot", "money_formatter", "money_axis",
           "percent_formatter"]

#: Size (inches) of a one-panel chart.
FIGSIZE = (8, 5)
#: Resolution of saved PNGs.
DPI = 110


_PYPLOT: Any = None


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, imported at the first chart (about 0.4 s: a process that draws
    no chart, like ``run.py run`` when its worker processes draw them, does not pay it)."""
    global _PYPLOT
    if _PYPLOT is None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        _PYPLOT = plt
    return _PYPLOT


class Chart:
    """What :func:`figure` yields: ``fig``, ``axes`` (the panels, in reading order), ``ax`` (the first panel),
    ``path`` (where the PNG goes; None when kept in memory) and, after the block, ``png`` (the image as
    base64 text when ``out_dir`` was None)."""

    def __init__(self, fig, axes: list, path: pathlib.Path | None):
        self.fig, self.axes, self.ax, self.path = fig, axes, axes[0] if axes else None, path
        self.png: str | None = None


def grid_shape(n: int, ncols: int | None = None) -> tuple[int, int]:
    """(rows, columns) of a grid of ``n`` panels: ``ncols`` columns, by default 1 for one panel, else 2."""
    ncols = ncols if ncols is not None else (1 if n == 1 else 2)
    return math.ceil(n / ncols), ncols


@contextmanager
def figure(out_dir, name: str, title: str | None = None, xlabel: str | None = None, ylabel: str | None = None, *,
           size: tuple[float, float] = FIGSIZE, panels: int | None = None, ncols: int | None = None,
           sharex: bool = False, sharey: bool = False, layout: dict[str, Any] | bool | None = None,
           dpi: int = DPI) -> Iterator[Chart]:
    """A titled, labelled figure that is saved as ``<out_dir>/<name>.png`` (folder created) and closed when
    the ``with`` block ends.

    ``panels=None``: one axes; ``title``, ``xlabel`` and ``ylabel`` are its title and axis labels.
    ``panels=n``: a grid of ``n`` panels (``ncols`` columns, see :func:`grid_shape`; unused cells hidden);
    ``title`` is the figure's title and ``xlabel`` / ``ylabel``, if given, label every panel (panel-specific
    labels and titles are the block's business). ``layout``: keyword arguments of ``fig.tight_layout``, True
    for none, False to skip it; by default a grid gets a tight layout and one axes does not (the PNG is
    saved with a tight bounding box either way). ``out_dir=None`` keeps the PNG in memory:
    ``chart.png`` is its base64 text after the block.
    """
    plt = pyplot()
    path = None
    if out_dir is not None:
        folder = pathlib.Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
    labels = {k: v for k, v in (("xlabel", xlabel), ("ylabel", ylabel)) if v is not None}
    if panels is None:
        fig, ax = plt.subplots(figsize=size)
        ax.set(**({"title": title} if title is not None else {}), **labels)
        axes = [ax]
    else:
        nrows, ncols = grid_shape(panels, ncols)
        fig, grid = plt.subplots(nrows, ncols, figsize=size, sharex=sharex, sharey=sharey, squeeze=False)
        flat = [grid[i // ncols][i % ncols] for i in range(nrows * ncols)]
        for ax in flat[panels:]:
            ax.set_visible(False)
        axes = flat[:panels]
        if title is not None:
            fig.suptitle(title)
        for ax in axes:
            ax.set(**labels)
    chart = Chart(fig, axes, path)
    try:
        yield chart
        if layout is None:
            layout = panels is not None
        if layout is not False:
            fig.tight_layout(**(layout if isinstance(layout, dict) else {}))
        if path is not None:
            fig.savefig(path, dpi=dpi, bbox_inches="tight")
        else:
            buf = BytesIO()
            fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
            chart.png = base64.b64encode(buf.getvalue()).decode("ascii")
    finally:
        plt.close(fig)


_MONEY_FORMATTER: Any = None


def money_formatter() -> Any:
    """A tick formatter for a money axis: :func:`sim.analysis.formatting.format_money` with as many decimals as
    keep the ticks distinct when the axis spans a narrow range ($1.47M, $1.48M, ...). A new one per axis (a
    matplotlib formatter belongs to one axis)."""
    global _MONEY_FORMATTER
    if _MONEY_FORMATTER is None:
        import numpy as np
        from matplotlib.ticker import Formatter

        from sim.analysis.formatting import format_money

        class MoneyFormatter(Formatter):
            """Money ticks in the reports' style, distinct however narrow the axis."""

            def set_locs(self, locs):
                self._ticks = np.asarray(locs, dtype=float)

            def __call__(self, x, pos=None):
                locs = getattr(self, "_ticks", np.zeros(0))
                step = float(np.min(np.diff(locs))) if locs.size > 1 else None
                return "" if not np.isfinite(x) else format_money(x, step=step)

        _MONEY_FORMATTER = MoneyFormatter
    return _MONEY_FORMATTER()


def money_axis(axis: Any, nbins: int | None = None) -> None:
    """Label ``axis`` (``ax.xaxis``, ``ax.yaxis`` or a colour bar's) as money; ``nbins``: at most that many
    ticks."""
    if nbins is not None:
        from matplotlib.ticker import MaxNLocator

        axis.set_major_locator(MaxNLocator(nbins=nbins))
    axis.set_major_formatter(money_formatter())


def percent_formatter(decimals: int = 0) -> Any:
    """A tick formatter for an axis whose values are per cent already (0-100): "25%"."""
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(decimals=decimals)
