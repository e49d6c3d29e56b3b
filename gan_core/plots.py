"""Figures of one Result: prediction vs reference per seed, and the loss / MSE curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .config import Result
from .problems import make_problem


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def plot_solutions(result: Result, path: str | Path | None = None):  # noqa: ANN201
    """ODEs: every seed's x(t) over the reference; PDEs: reference, median-seed and worst-seed
    |error| maps. Saved to `path` when given; returns the figure."""
    plt = _pyplot()
    problem = make_problem(result.config.problem, result.config.n_points)
    X, ref, pred = result.grid, result.reference, result.prediction
    order = np.argsort(np.where(np.isfinite(result.final_mse), result.final_mse, np.inf))
    if hasattr(problem, "image_shape"):  # digits, mnist: images, not points
        return plot_digit_grid(result, path)
    known = result.metric != "residual"  # without a reference the metric is the residual
    name = "MSE" if known else "residual"
    if problem.family == "dist":
        fig = _plot_samples(plt, result, order, problem)
    elif problem.dim == 1:
        # top: every seed over the reference (they overlap when training worked);
        # bottom: |error| on a log scale, where the seeds can be told apart. Seed k is colour
        # C<k> here and in plot_curves; the legend lists the seeds best first
        comps = ref.shape[1]
        fig, axes = plt.subplots(2, comps, figsize=(5.5 * comps, 6.5), squeeze=False,
                                 sharex=True, gridspec_kw={"height_ratios": [3, 2]})
        for c in range(comps):
            top, bottom = axes[0][c], axes[1][c]
            errors = []
            for k in order:
                y = pred[k, :, c] if np.isfinite(pred[k, :, c]).all() else np.full(len(X), np.nan)
                top.plot(X[:, 0], y, lw=1, alpha=0.8, color=seed_color(k),
                         label=f"seed {k}: {name} {result.final_mse[k]:.1e}")
                err = np.abs(y - ref[:, c])
                errors.append(err)
                # the error is exactly 0 where the trial solution meets the initial value (t0):
                # no point there on a log axis, rather than a floor that stretches it to 1e-300
                bottom.semilogy(X[:, 0], np.where(err > 0, err, np.nan), lw=1, alpha=0.8,
                                color=seed_color(k))
            limits = error_limits(np.concatenate(errors))
            if limits is not None:
                bottom.set_ylim(*limits)
            if known:
                top.plot(X[:, 0], ref[:, c], "k--", lw=2, label="reference")
            top.set_ylabel(problem.outputs[c])
            top.set_title(f"{problem.key} ({result.config.method}): {problem.outputs[c]}"
                          + ("" if known else " (no reference solution)"))
            bottom.set_ylabel(f"|{problem.outputs[c]} - reference|" if known else
                              "no reference: judged by the residual")
            bottom.set_xlabel(problem.axes[0])
        axes[0][0].legend(fontsize=7, loc="best")
    else:
        med, worst = order[len(order) // 2], order[-1]
        fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
        if known:
            _draw_field(axes[0], problem, ref[:, 0])
            axes[0].set_title("reference", fontsize=9)
            for ax, (what, k) in zip(axes[1:], (("median", med), ("worst", worst))):
                draw_seed(ax, result, k, title=f"|error| {what} seed {k} "
                                               f"(MSE {result.final_mse[k]:.1e})")
        else:  # the solutions themselves, and the residual in the titles
            for ax, (what, k) in zip(axes, (("best", order[0]), ("median", med),
                                            ("worst", worst))):
                draw_seed(ax, result, k, title=f"{what} seed {k} (no reference; residual "
                                               f"{result.final_mse[k]:.1e})")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def plot_curves(result: Result, path: str | Path | None = None):  # noqa: ANN201
    """MSE per seed (log scale) and G / D losses over iterations."""
    plt = _pyplot()
    c = result.curves
    it = c["iteration"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    metric = c[f"eval/{result.metric}"]
    if np.all(metric[np.isfinite(metric)] > 0):  # counts (classes or modes missed) reach 0: linear
        axes[0].set_yscale("log")
    for k in range(result.final_mse.shape[0]):
        axes[0].plot(it, metric[:, k], lw=1, color=seed_color(k), label=f"seed {k}")
        axes[1].plot(it, c["train/g_loss"][:, k], lw=1, color=seed_color(k))
        if result.config.adversarial:
            axes[1].plot(it, c["train/d_loss"][:, k], lw=1, ls="--", color=seed_color(k))
    axes[0].axhline(result.failure_threshold, color="r", ls=":", label="failure threshold")
    axes[0].set_title(f"eval/{result.metric} per seed")
    axes[1].set_title("train/g_loss (solid), train/d_loss (dashed)")
    for ax in axes:
        ax.set_xlabel("iteration")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def seed_color(k: int) -> str:
    """Seed k's colour in every per-seed figure (matplotlib's C0-C9, cycled past 10 seeds)."""
    return f"C{k % 10}"


def error_limits(errors: np.ndarray, span: float = 1e8) -> tuple[float, float] | None:
    """y limits of a log-scale |error| panel: from the positive finite errors' decade range,
    at most `span` below the largest (the error falls to 0 at the initial value, and a few
    points next to it would stretch the axis to round-off); None when there is no positive
    finite error (every seed exact, or diverged)."""
    e = errors[np.isfinite(errors) & (errors > 0)]
    if e.size == 0:
        return None
    top = 10.0 ** (np.floor(np.log10(e.max())) + 1)
    low = 10.0 ** np.floor(np.log10(max(np.percentile(e, 1), e.max() / span)))
    return float(min(low, top / 10)), float(top)  # at least one decade


def draw_seed(ax, result: Result, k: int, title: str | None = None,  # noqa: ANN001
              legend: bool = True) -> None:
    """Seed `k` of `result` on the axes `ax`: the one way gansweep draws a single seed (the
    per-trial figures here, the report's best and worst runs in ``analysis.plots``).

    ODEs: its x(t) (every component) over the reference; PDEs: its |error| map; distributions:
    its samples over the held-out real ones (a scatter coloured by label or code for 2-D data,
    histograms for 1-D, a mosaic of its first 36 images for digits). Non-finite values are left
    out. title: default "seed k: <metric> <value>"."""
    problem = make_problem(result.config.problem, result.config.n_points)
    pred, ref = result.prediction[k], result.reference  # (n, n_out), (n, n_out)
    if hasattr(problem, "image_shape"):
        _draw_mosaic(ax, pred[np.isfinite(pred).all(axis=1)], problem.image_shape, side=6)
    elif problem.family == "dist":
        _draw_samples(ax, result, k, problem)
    elif problem.dim == 1:
        for c in range(ref.shape[1]):
            if result.metric != "residual":  # else there is no reference solution to draw
                ax.plot(result.grid[:, 0], ref[:, c], "k--", lw=2,
                        label="reference" if c == 0 else None)
            ax.plot(result.grid[:, 0], pred[:, c], color=f"C{c}", lw=1.5,
                    label=f"{problem.outputs[c]}, seed {k}")
        ax.set_xlabel(problem.axes[0])
    elif result.metric == "residual":  # no reference solution: the solution itself
        _draw_field(ax, problem, pred[:, 0])
    else:
        _draw_field(ax, problem, np.abs(pred[:, 0] - ref[:, 0]))
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, markerscale=4)
    ax.set_title(title or f"seed {k}: {result.metric} {result.final_mse[k]:.3g}", fontsize=9)


def _draw_samples(ax, result: Result, k: int, problem) -> None:  # noqa: ANN001
    """Distribution problems: seed k's samples over the held-out real ones."""
    # cGAN / InfoGAN: the evaluation asks for label (or code) i % labels of sample i; colour by it
    n_labels = problem.labels if problem.label_use != "none" else 1
    show = slice(0, 3000)  # a scatter of more points only hides the shape (gauss2d keeps 20000)
    ref, pred = result.reference[show], result.prediction[k, show]
    finite = np.isfinite(pred).all(axis=1)
    x, y = pred[finite], (np.arange(len(pred)) % n_labels)[finite]
    if ref.shape[1] == 1:
        bins = np.linspace(ref.min() - 1, ref.max() + 1, 50)
        ax.hist(ref[:, 0], bins=bins, density=True, alpha=0.4, color="grey", label="real")
        ax.hist(x[:, 0], bins=bins, density=True, histtype="step", color="C0", label="G")
        return
    ax.scatter(ref[:, 0], ref[:, 1], s=2, c="grey", alpha=0.4, label="real")
    for c in range(n_labels):
        kind = "label" if problem.label_use == "conditional" else "code"
        name = "G" if n_labels == 1 else f"G, {kind} {c}"
        ax.scatter(x[y == c, 0], x[y == c, 1], s=2, c=f"C{c}", alpha=0.6, label=name)


def _draw_field(ax, problem, z: np.ndarray) -> None:  # noqa: ANN001
    """PDEs: the values `z` (n * n,) on the problem's grid as a map with its colour bar (the grid's
    side from the data: without a reference solution the evaluation grid is finer)."""
    n = round(len(z) ** 0.5)
    im = ax.imshow(z.reshape(n, n), origin="lower", aspect="auto",
                   extent=[*problem.bounds[1], *problem.bounds[0]])
    ax.figure.colorbar(im, ax=ax)
    ax.set_xlabel(problem.axes[1])
    ax.set_ylabel(problem.axes[0])


def _draw_mosaic(ax, x: np.ndarray, shape: tuple[int, int], side: int) -> None:  # noqa: ANN001
    """Images: the first side x side rows of `x` (m, h * w) as one grey mosaic, one pixel of gap
    between tiles; NaN tiles stay blank."""
    h, w = shape
    mosaic = np.full((side * (h + 1), side * (w + 1)), np.nan)
    for j in range(min(side * side, len(x))):
        r, c = divmod(j, side)
        mosaic[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = x[j].reshape(h, w)
    ax.imshow(mosaic, cmap="gray_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.axis("off")


def _plot_samples(plt, result: Result, order: np.ndarray, problem):  # noqa: ANN001, ANN202
    """Distribution problems: each seed's samples over the held-out real ones, best first."""
    K = len(order)
    cols = min(K, 4)
    rows = -(-K // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.4 * rows), squeeze=False)
    for ax, k in zip(axes.ravel(), order):
        draw_seed(ax, result, k, legend=False)
    for ax in axes.ravel()[K:]:
        ax.axis("off")
    axes[0][0].legend(fontsize=7, markerscale=4)
    fig.suptitle(f"{problem.key} ({result.config.method})")
    return fig


def plot_digit_grid(result: Result, path: str | Path | None = None, per_seed: int = 25):  # noqa: ANN201
    """Digits / MNIST: for every seed (best first) a grid of `per_seed` generated digits, each
    tagged with the class the judge assigns (grey: not confident), over the histogram of the judge's
    classes on all evaluation samples with the coverage line. Saved to `path` when given."""
    from .problems.digits import CONFIDENT, N_CLASSES
    from .problems.distributions import COVERAGE_SHARE

    plt = _pyplot()
    problem = make_problem(result.config.problem, result.config.n_points)
    h, w = problem.image_shape
    K = result.final_mse.shape[0]
    order = np.argsort(np.where(np.isfinite(result.final_mse), result.final_mse, np.inf),
                       kind="stable")
    side = int(np.ceil(np.sqrt(per_seed)))
    cols = min(K, 4)
    rows = -(-K // cols)
    fig, axes = plt.subplots(2 * rows, cols, figsize=(3.2 * cols, 4.6 * rows), squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1.2] * rows})
    for i, k in enumerate(order):
        top, bottom = axes[2 * (i // cols)][i % cols], axes[2 * (i // cols) + 1][i % cols]
        x = result.prediction[k]  # (m, h * w)
        ok = np.isfinite(x).all(axis=1)
        m = len(x)
        label = np.full(m, -1)
        sure = np.zeros(m, dtype=bool)
        if ok.any():
            prob = problem.classifier().probabilities(x[ok])
            label[ok], sure[ok] = prob.argmax(axis=1), prob.max(axis=1) >= CONFIDENT
        # the first per_seed samples as one mosaic (NaN tiles stay blank), each with its class
        _draw_mosaic(top, x[:per_seed], (h, w), side)
        for j in range(min(per_seed, m)):
            r, c = divmod(j, side)
            top.text(c * (w + 1), r * (h + 1), str(label[j]) if label[j] >= 0 else "nan",
                     fontsize=7, va="top", color="C3" if sure[j] else "0.6")
        last = {name: result.curves[f"eval/{name}"][-1][k] for name in ("classes_covered", "frechet")}
        top.set_title(f"seed {k}: {last['classes_covered']:.0f}/{N_CLASSES} classes, "
                      f"Frechet {last['frechet']:.3g} ({result.seed_status()[k]})", fontsize=8)
        counts = np.bincount(label[label >= 0], minlength=N_CLASSES)
        sure_counts = np.bincount(label[sure], minlength=N_CLASSES)
        bottom.bar(range(N_CLASSES), counts, color="0.8", label="all")
        bottom.bar(range(N_CLASSES), sure_counts, color="C0", label=f"p >= {CONFIDENT}")
        bottom.axhline(COVERAGE_SHARE * m / N_CLASSES, color="r", ls=":", lw=1, label="covered")
        bottom.set_xticks(range(N_CLASSES))
        bottom.tick_params(labelsize=7)
    for i in range(K, rows * cols):
        axes[2 * (i // cols)][i % cols].axis("off")
        axes[2 * (i // cols) + 1][i % cols].axis("off")
    axes[1][0].legend(fontsize=6)
    fig.suptitle(f"{result.config.problem} ({result.config.method}): judge's class per digit "
                 f"(red: p >= {CONFIDENT}), class histogram of {m} samples")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
