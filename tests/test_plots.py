"""gan_core/plots.py: the per-trial figures a user opens in MLflow: the |error| panel's log axis
spans the real errors, one colour per seed index in every figure, components named by the
problem's ``outputs``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gan_core import ODE, train
from gan_core.plots import error_limits, plot_curves, plot_solutions, seed_color
from gan_core.presets import preset


@pytest.fixture(scope="module")
def sho():
    """sho after a few iterations, 3 seeds, with its seeds' MSEs put out of index order (2, 0, 1
    best first), so a figure that colours by rank differs from one that colours by index."""
    import torch

    torch.manual_seed(0)
    r = train(preset("sho", "gan").replace(seeds=3, iterations=20, eval_every=10,
                                           n_points=60, device="cpu"))
    return dataclasses.replace(r, final_mse=np.array([2e-2, 3e-2, 1e-3]))


def _close(*figs) -> None:  # noqa: ANN002
    import matplotlib.pyplot as plt

    for f in figs:
        plt.close(f)


def test_the_error_panel_spans_the_real_errors_not_round_off(sho):
    fig = plot_solutions(sho)
    bottom = fig.axes[1]
    assert bottom.get_yscale() == "log"
    err = np.abs(sho.prediction[:, :, 0] - sho.reference[None, :, 0])  # (seeds, n)
    assert (err == 0).any()  # the trial solution meets x(0) exactly: an error of exactly 0
    low, high = bottom.get_ylim()
    positive = err[err > 0]
    # the top decade holds the largest error; the floor sits within 8 decades of it (1e-300
    # was added to every error before, which sent the axis down to ~1e-314)
    assert positive.max() <= high <= 10 * positive.max()
    assert positive.max() * 1e-9 <= low < positive.max()
    _close(fig)


def test_error_limits_of_exact_or_diverged_seeds_are_left_to_matplotlib():
    assert error_limits(np.array([0.0, 0.0])) is None
    assert error_limits(np.array([np.nan, np.inf, 0.0])) is None
    # errors down to round-off near t0: the floor is 8 decades below the largest error
    low, high = error_limits(np.concatenate([[0.0, np.inf], np.logspace(-20, -1, 100)]))
    assert (low, high) == (pytest.approx(1e-9), pytest.approx(1.0))
    # a tight spread: its own decades, one at least
    assert error_limits(np.array([0.05, 0.06])) == (pytest.approx(0.01), pytest.approx(0.1))
    assert error_limits(np.array([1e-2, 1e-2])) == (pytest.approx(1e-2), pytest.approx(1e-1))


def test_a_seed_has_one_colour_in_the_solution_and_the_curves_figures(sho):
    solution, curves = plot_solutions(sho), plot_curves(sho)
    top, bottom = solution.axes[0], solution.axes[1]
    by_label = {line.get_label().split(":")[0]: line.get_color() for line in top.lines
                if line.get_label().startswith("seed ")}
    in_curves = {line.get_label(): line.get_color() for line in curves.axes[0].lines
                 if line.get_label().startswith("seed ")}
    assert list(by_label) == ["seed 2", "seed 0", "seed 1"]  # the legend lists them best first
    assert by_label == in_curves == {f"seed {k}": seed_color(k) for k in range(3)}
    # the error panel's lines, drawn in the same (best-first) order, carry the same colours
    assert [line.get_color() for line in bottom.lines] == [seed_color(k) for k in (2, 0, 1)]
    _close(solution, curves)


class TwoComponents(ODE):
    """x' = v, v' = -x on [0, 1]: two components and no names given."""

    interval = (0.0, 1.0)
    y0 = (0.0, 1.0)

    def f(self, t, y):  # noqa: ANN001, ANN201
        import torch

        return torch.cat([y[..., 1:], -y[..., :1]], dim=-1)


def test_components_are_named_by_outputs_which_never_clash_with_y0():
    assert TwoComponents.outputs == ("y[0]", "y[1]")
    r = train(preset(TwoComponents, "l2").replace(seeds=2, iterations=5, eval_every=5,
                                                  n_points=20, device="cpu"))
    fig = plot_solutions(r)
    assert [ax.get_ylabel() for ax in fig.axes[:2]] == ["y[0]", "y[1]"]
    assert fig.axes[2].get_ylabel() == "|y[0] - reference|"
    _close(fig)
