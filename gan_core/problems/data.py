"""A data set from a file as a distribution problem: G learns to sample points like the file's.

    class Stars(PointCloud):
        path = "stars.npy"          # (n, d) floats; or a .csv of n rows of d numbers

or no class at all: ``gansweep run path/to/stars.npy``, ``Config(problem="path/to/stars.npy")``.

The points are split once (the same split for every seed and trial): ``heldout`` of them (20%, at
most 2000) are kept apart, the rest is the training set. The metric is the energy distance of
G's samples to the held-out points (``distributions.energy_distance``; 0 iff same distribution).
Optional labels (``label_column`` of the file, or ``labels_path``: integers 0..L-1) make a
conditional GAN possible (``label_use = "conditional"``: G and D see the label; the metric is the
mean per-label energy distance). Without ``label_use``, labels name the modes of the data (a
ring of 8 Gaussians, labelled by Gaussian): the samples are then also judged by the mixtures'
mode metrics (``distributions.mode_metrics``: high-quality share, modes captured and missed,
reverse KL), each mode's centre and per-axis spread taken from its training points, and
``modes_missed`` or ``reverse_kl`` may be made the primary metric (``Config.metric``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar

import numpy as np

from .base import ProblemError
from .distributions import Distribution, energy_distance, label_energy, mode_metrics

SUFFIXES = (".npy", ".csv")
MAX_HELDOUT = 2000  # the energy distance's cost grows with the product of the sample sizes
_LOADED: dict[tuple, tuple[np.ndarray, np.ndarray | None]] = {}  # (path, ...) -> points, labels


class PointCloud(Distribution):
    """Points from a .npy or .csv file; see the module docstring."""

    path: ClassVar[str]  # the file; a relative path is taken from the folder of the module
    # that defines the class (else the working directory)
    label_column: ClassVar[int | None] = None  # a column of the file holding integer labels
    labels_path: ClassVar[str | None] = None  # or a separate file of labels, one per point
    heldout: ClassVar[float] = 0.2  # share of the points held out for the metric
    metric = "energy"
    # energy distance scales with the data: 0.02 suits data of unit spread (moons); set yours
    failure_threshold = 0.02
    noise_dim = 8
    sweep_budget = {"trials": 16, "seeds": 4, "time_budget": 480}

    def __init_subclass__(cls, **kwargs: object) -> None:
        if "metric" not in cls.__dict__ and cls.label_use == "conditional":
            cls.metric = "label_energy"
        if cls.has_modes() and "metric_thresholds" not in cls.__dict__:
            # as ring8's: more than one mode missed is mode collapse; KL: ring8's too
            cls.metric_thresholds = {"modes_missed": 1.0, "reverse_kl": 0.1}
        super().__init_subclass__(**kwargs)

    @classmethod
    def has_modes(cls) -> bool:
        """True when the labels name the data's modes (labels given, no ``label_use``)."""
        return (cls.label_column is not None or cls.labels_path is not None) \
            and cls.label_use == "none"

    def __init__(self, n_points: int | None = None):
        super().__init__(n_points)
        self.points, self.point_labels = load_points(self.file(self.path), self.label_column,
                                                     self.labels_path and self.file(
                                                         self.labels_path))
        self.data_dim = self.points.shape[1]  # type: ignore[misc]  # the file's, per instance
        self.labels = 0 if self.point_labels is None else int(self.point_labels.max()) + 1
        # one split for every seed and trial: the metric always compares with the same points
        order = np.random.default_rng(0).permutation(len(self.points))
        m = min(MAX_HELDOUT, max(1, round(self.heldout * len(self.points))))
        self._heldout, self._train = order[:m], order[m:]
        self.train_size, self.eval_samples = len(self._train), min(1000, MAX_HELDOUT)
        if self.has_modes():
            self.mode_stats = _modes(self.points[self._train], self.point_labels[self._train],
                                     self.labels, self.path)

    @classmethod
    def file(cls, name: str) -> Path:
        """`name` as a path: absolute, or next to the module that defines the class, else in the
        working directory; on a Ray worker also the copy the sweep shipped (see registry)."""
        from .registry import find_file

        path = Path(name).expanduser()
        if not path.is_absolute():
            module = sys.modules.get(cls.__module__)
            where = Path(getattr(module, "__file__", "") or ".").parent
            path = where / path if (where / path).exists() else Path.cwd() / path
        return find_file(path)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.points[self._train][rng.integers(len(self._train), size=n)]

    def datasets(self, train_rng: np.random.Generator, heldout_rng: np.random.Generator,
                 labelled: bool) -> tuple[np.ndarray, np.ndarray | None, np.ndarray,
                                          np.ndarray | None]:
        y = self.point_labels if labelled else None
        pick = (lambda idx: None) if y is None else (lambda idx: y[idx])
        return (self.points[self._train], pick(self._train), self.points[self._heldout],
                pick(self._heldout))

    def quality(self, x: np.ndarray, real: np.ndarray, **labels: np.ndarray) -> dict[str, float]:
        if self.label_use == "conditional":
            return label_energy(x, real, labels["y"], labels["y_real"], self.labels)
        if self.has_modes():
            return {"energy": energy_distance(x, real), **mode_metrics(x, *self.mode_stats)}
        return {"energy": energy_distance(x, real)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path}, {len(self.points)} points)"


def load_points(path: Path, label_column: int | None = None, labels_path: Path | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """(points (n, d) float64, labels (n,) int or None) from a .npy or .csv file; ProblemError with
    one line for a file that is not that: missing, unreadable, not 2-D, NaN or inf, too few
    points, labels that are not integers 0..L-1 or not one per point."""
    key = (str(path), label_column, str(labels_path))
    if key in _LOADED:
        return _LOADED[key]
    x = _read(path)
    if x.ndim != 2:
        fix = " (one value per point? save it as shape (n, 1))" if x.ndim == 1 else ""
        raise ProblemError(f"{path}: expected a 2-D array of points (n, d), got shape "
                         f"{x.shape}{fix}")
    y = None
    if label_column is not None:
        if not -x.shape[1] <= label_column < x.shape[1] or x.shape[1] < 2:
            raise ProblemError(f"{path}: label_column {label_column} is not a column of its "
                             f"{x.shape[1]} (and a point needs one more)")
        y, x = x[:, label_column], np.delete(x, label_column, axis=1)
    elif labels_path is not None:
        y = _read(labels_path).reshape(-1)
    bad = ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise ProblemError(f"{path}: {int(bad.sum())} of {len(x)} points hold NaN or inf (the "
                         f"first is row {int(np.argmax(bad))}): remove or fill them")
    if len(x) < 10:
        raise ProblemError(f"{path}: {len(x)} points; need at least 10 (some are held out)")
    if y is not None:
        if len(y) != len(x) or not np.all(np.isfinite(y)) or np.any(y != np.round(y)) \
                or y.min() < 0:
            raise ProblemError(f"{labels_path or path}: labels must be one integer >= 0 per point "
                             f"({len(y)} values for {len(x)} points)")
        y = y.astype(int)
    _LOADED[key] = (x.astype(np.float64), y)
    return _LOADED[key]


def _modes(x: np.ndarray, y: np.ndarray, n_modes: int, path: str
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(centres (M, d), per-axis std (M, d), shares (M,)) of the modes labelled 0..M-1 among the
    training points x (n, d); ProblemError with one line for a mode too small to have a spread."""
    counts = np.bincount(y, minlength=n_modes)
    if counts.min() < 2:
        label = int(np.argmin(counts))
        raise ProblemError(f"{path}: mode (label) {label} has {counts[label]} training points; "
                           "each needs at least 2 (its spread sets what is within 3 std of it)")
    means = np.stack([x[y == c].mean(0) for c in range(n_modes)])
    scales = np.stack([x[y == c].std(0) for c in range(n_modes)])
    if not (scales > 0).all():
        label = int(np.argwhere(~(scales > 0))[0, 0])
        raise ProblemError(f"{path}: the points of mode (label) {label} are all equal on some "
                           "axis; a mode needs a spread on every axis")
    return means, scales, counts / counts.sum()


def _read(path: Path) -> np.ndarray:
    if not path.exists():
        raise ProblemError(f"data file {path} does not exist")
    if path.suffix not in SUFFIXES:
        raise ProblemError(f"{path}: expected a .npy or .csv file")
    try:
        if path.suffix == ".npy":
            return np.asarray(np.load(path, allow_pickle=False), dtype=float)
        x = np.genfromtxt(path, delimiter=",", dtype=float)
        if x.ndim == 2 and np.isnan(x[0]).all():  # a header line
            x = x[1:]
        return x
    except (OSError, ValueError) as e:
        raise ProblemError(f"{path}: cannot read it as numbers ({e})") from None
