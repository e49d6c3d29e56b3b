"""Handwritten digits: a classic GAN learns 8x8 digits (scikit-learn's, offline) or MNIST (28x28).

Seeds 001 and 004 train an MLP GAN on MNIST and watch it collapse onto a few digit types; here the
same game runs on scikit-learn's 1797 8x8 digits, which ship with the package, and on MNIST when the
user points ``GANSWEEP_MNIST`` at its idx files. Pixels are scaled to [-1, 1] (G ends in tanh).

Quality is judged by a small classifier trained once on the real digits and cached on disk (the
same cache as the Burgers reference: $GANSWEEP_CACHE, else ~/.cache/gansweep). Of m generated
samples it assigns a class to each, and

  confident         fraction of samples the judge is sure of (probability >= 0.9; real digits
                    ~99%, uniform noise ~14%): the "high-quality sample" of the mixtures
  classes_covered   classes that get at least a fifth of their fair share (m / 10) of the samples
                    as confident predictions, so noise that the judge spreads over every class
                    does not count as coverage
  classes_missed    10 - classes_covered: the primary metric; more than 2 missed (fewer than 8 of
                    10 covered) is mode collapse, a failed seed
  class_kl          KL(histogram of all predicted classes || uniform): 0 balanced, log 10 for one
  frechet           Frechet distance between the Gaussians fitted to real and generated samples in
                    the classifier's hidden layer (FID with this classifier in place of Inception)

Any non-finite sample gives the worst value of every metric.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np

from .distributions import Distribution, covered
from .pdes import cache_dir

N_CLASSES = 10
CONFIDENT = 0.9  # a prediction counts towards coverage when the judge gives it >= this probability
CLASSIFIER_HIDDEN = 64  # units of the judge's one hidden (relu) layer: the Frechet features
CLASSIFIER_MAX_TRAIN = 20000  # the judge sees at most this many real digits (MNIST: 60000)


class DigitImages(Distribution):
    """Greyscale digit images flattened to (n, H*W) in [-1, 1], with labels for the judge."""

    noise_dim = 100  # seeds 001/004: z of 100 numbers
    n_default = 128  # batch: real and fake images per seed and step
    eval_samples = 1000
    metric = "classes_missed"
    failure_threshold = 2.0  # more than 2 of 10 classes missed = fewer than 8 covered = collapse
    plot = "digits"  # each seed's digit grid and class histogram
    study = "digits"
    image_shape: ClassVar[tuple[int, int]]

    def images(self) -> tuple[np.ndarray, np.ndarray]:
        """(x (N, H*W) float in [-1, 1], labels (N,) int): the whole real data set."""
        raise NotImplementedError

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        x, _ = self.images()
        return x[rng.choice(len(x), size=n, replace=n > len(x))]

    # -- the judge: a small classifier trained once on the real digits ---------------------------
    def classifier(self) -> "Classifier":
        """The judge: kept on the instance, else from memory, the disk cache, or trained now (~1 s
        for digits; MNIST at most ~1 min: 0.2 s per epoch on 20000 images, <= 300 epochs). The
        cache key hashes the data itself."""
        if getattr(self, "_judge", None) is None:
            x, y = self.images()
            tag = hashlib.sha1(repr((self.key, CLASSIFIER_HIDDEN, CLASSIFIER_MAX_TRAIN)).encode()
                               + x.tobytes() + y.tobytes()).hexdigest()[:12]
            if tag not in _JUDGES:
                path = cache_dir() / f"{self.key}_classifier_{tag}.npz"
                _JUDGES[tag] = Classifier.cached(path, x, y)
            self._judge = _JUDGES[tag]
        return self._judge

    def classify(self, x: np.ndarray) -> np.ndarray:
        """(m,) predicted class of each sample x (m, H*W); -1 for a non-finite sample."""
        labels = np.full(len(x), -1)
        ok = np.isfinite(x).all(axis=1)
        if ok.any():
            labels[ok] = self.classifier().predict(x[ok])
        return labels

    def quality(self, x: np.ndarray, real: np.ndarray) -> dict[str, float]:
        if len(x) == 0 or not np.isfinite(x).all():
            return {"classes_missed": float(N_CLASSES), "classes_covered": 0.0, "confident": 0.0,
                    "class_kl": float(np.log(N_CLASSES)), "frechet": float("inf")}
        from scipy.stats import entropy

        judge = self.classifier()
        prob = judge.probabilities(x)  # (m, 10)
        label, sure = prob.argmax(axis=1), prob.max(axis=1) >= CONFIDENT
        counts = np.bincount(label, minlength=N_CLASSES)
        n_covered = covered(np.bincount(label[sure], minlength=N_CLASSES), len(x))  # confident ones
        return {"classes_missed": float(N_CLASSES - n_covered), "classes_covered": float(n_covered),
                "confident": float(sure.mean()),
                "class_kl": float(entropy(counts / counts.sum(), np.full(N_CLASSES, 0.1))),
                "frechet": frechet_distance(judge.features(x), judge.features(real))}


_JUDGES: dict[str, "Classifier"] = {}


class Classifier:
    """One-hidden-layer relu MLP (scikit-learn's MLPClassifier), kept as plain arrays so the cache
    is an npz of weights (no pickle) and the forward pass is two numpy matmuls."""

    def __init__(self, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray):
        self.W1, self.b1, self.W2, self.b2 = W1, b1, W2, b2

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, seed: int = 0) -> "Classifier":
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
        from threadpoolctl import threadpool_limits  # scikit-learn's own dependency

        if len(x) > CLASSIFIER_MAX_TRAIN:  # MNIST: a subset is plenty for a judge, and quick
            keep = np.random.default_rng(seed).choice(len(x), CLASSIFIER_MAX_TRAIN, replace=False)
            x, y = x[keep], y[keep]
        # one BLAS thread: these matrices are small, and on a loaded 2-core box OpenBLAS's threads
        # made the digits fit take 38 s instead of 1 s
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter is a time budget here
            mlp = MLPClassifier(hidden_layer_sizes=(CLASSIFIER_HIDDEN,), max_iter=300,
                                random_state=seed).fit(x, y)
        if list(mlp.classes_) != list(range(N_CLASSES)):
            raise ValueError(f"the digit labels must be 0..9, got classes {list(mlp.classes_)}")
        return cls(mlp.coefs_[0], mlp.intercepts_[0], mlp.coefs_[1], mlp.intercepts_[1])

    @classmethod
    def cached(cls, path: Path, x: np.ndarray, y: np.ndarray) -> "Classifier":
        """Load from `path`, or fit on (x, y) and save there (atomically, like the Burgers cache)."""
        if path.exists():
            with np.load(path) as z:
                return cls(z["W1"], z["b1"], z["W2"], z["b2"])
        judge = cls.fit(x, y)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, W1=judge.W1, b1=judge.b1, W2=judge.W2, b2=judge.b2)
        os.replace(tmp, path)  # parallel trials never read a half-written file
        return judge

    def features(self, x: np.ndarray) -> np.ndarray:
        """(m, CLASSIFIER_HIDDEN) hidden-layer activations: the Frechet features."""
        return np.maximum(x @ self.W1 + self.b1, 0.0)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(m, 10) class probabilities (softmax of the logits)."""
        from scipy.special import softmax

        return softmax(self.features(x) @ self.W2 + self.b2, axis=1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(m,) most likely class."""
        return (self.features(x) @ self.W2 + self.b2).argmax(axis=1)


def frechet_distance(f: np.ndarray, g: np.ndarray) -> float:
    """|mu_f - mu_g|^2 + tr(S_f + S_g - 2 (S_f S_g)^(1/2)) between Gaussians fitted to f and g.

    The FID formula (Heusel et al. 2017) as pytorch-fid computes it, on our own features;
    pytorch-fid and torchmetrics tie it to Inception or are not installed here.
    """
    from scipy.linalg import LinAlgWarning, sqrtm

    if not (np.isfinite(f).all() and np.isfinite(g).all()):
        return float("inf")
    mu_f, mu_g = f.mean(axis=0), g.mean(axis=0)
    S_f, S_g = np.cov(f, rowvar=False), np.cov(g, rowvar=False)
    with warnings.catch_warnings():
        # relu features have dead units, so the covariances are singular: expected, not a fault
        warnings.simplefilter("ignore", LinAlgWarning)
        covmean = sqrtm(S_f @ S_g)
        if not np.isfinite(covmean).all():  # regularise as pytorch-fid does
            eps = 1e-6 * np.eye(len(S_f))
            covmean = sqrtm((S_f + eps) @ (S_g + eps))
    d = np.sum((mu_f - mu_g) ** 2) + np.trace(S_f) + np.trace(S_g) - 2 * np.trace(covmean.real)
    return float(max(d, 0.0))  # round-off can take identical samples a hair below zero


class Digits(DigitImages):
    """scikit-learn's 8x8 handwritten digits (1797 images, 16 grey levels), scaled to [-1, 1]."""

    key = "digits"
    data_dim = 64
    image_shape = (8, 8)
    train_size = 1797  # the whole set, shuffled
    # a trial (4 seeds, 2000 iterations) is ~40 s-1 min on one core; the time budget ends the run
    sweep_budget = {"trials": 20, "seeds": 4, "iterations": 2000, "time_budget": 480}

    def images(self) -> tuple[np.ndarray, np.ndarray]:
        if "digits" not in _DATA:
            from sklearn.datasets import load_digits

            d = load_digits()
            _DATA["digits"] = (d.data / 8.0 - 1.0, d.target.astype(np.int64))  # 0..16 -> [-1, 1]
        return _DATA["digits"]


_DATA: dict[str, tuple[np.ndarray, np.ndarray]] = {}


# -- MNIST from the user's idx files ---------------------------------------------------------------
MNIST_ENV = "GANSWEEP_MNIST"
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """An idx file (MNIST's format; gzipped when the name ends in .gz) as a numpy array.

    Layout: two zero bytes, a type code (0x08 ubyte ... 0x0E float64), the number of dimensions,
    one big-endian int32 per dimension, then the data, big-endian, row-major.
    """
    path = Path(path)
    raw = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an idx file (magic bytes {raw[:4].hex() or 'missing'})")
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, ">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    data = np.frombuffer(raw, dtype, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but holds {data.size} values")
    return data.reshape(shape).astype(dtype.newbyteorder("="))


def _find_idx(folder: Path, stem: str) -> Path:
    """`stem`-idx?-ubyte[.gz], also with a dot before idx (both spellings are in circulation)."""
    for name in sorted(folder.iterdir()):
        plain = name.name.replace(".idx", "-idx").removesuffix(".gz")
        if plain.startswith(stem) and "-idx" in plain:
            return name
    raise FileNotFoundError(f"{MNIST_ENV}={folder} has no {stem}-idx*-ubyte[.gz] file; point it at "
                            "the folder holding MNIST's train-images-idx3-ubyte.gz and "
                            "train-labels-idx1-ubyte.gz")


def load_mnist(folder: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """MNIST's training set: (images (N, 784) in [-1, 1], labels (N,)), from `folder` or $GANSWEEP_MNIST."""
    where = folder if folder is not None else os.environ.get(MNIST_ENV)
    if not where or not Path(where).is_dir():
        raise FileNotFoundError(
            f"{MNIST_ENV} is {'unset' if not where else repr(str(where)) + ', not a folder'}: "
            f"set {MNIST_ENV}=/path/to/mnist, the folder with train-images-idx3-ubyte.gz and "
            "train-labels-idx1-ubyte.gz (gzipped or not)")
    folder = Path(where)
    x = read_idx(_find_idx(folder, "train-images"))
    y = read_idx(_find_idx(folder, "train-labels"))
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise ValueError(f"{folder}: images {x.shape} and labels {y.shape} do not match "
                         "(expected (N, 28, 28) and (N,))")
    # float32: 60000 x 784 doubles would take 376 MB for no gain (pixels have 256 levels)
    return (x.reshape(len(x), -1).astype(np.float32) / 127.5 - 1.0), y.astype(np.int64)


class MNIST(DigitImages):
    """MNIST's 60000 training digits (28x28) from the idx files in $GANSWEEP_MNIST, in [-1, 1]."""

    key = "mnist"
    data_dim = 784
    image_shape = (28, 28)
    train_size = 60000
    data_env: ClassVar[str] = MNIST_ENV  # the problem needs the user's files (see problems/__init__)

    def images(self) -> tuple[np.ndarray, np.ndarray]:
        where = os.environ.get(MNIST_ENV)
        key = f"mnist:{Path(where).resolve() if where else ''}"
        if key not in _DATA:
            _DATA[key] = load_mnist(where)
        return _DATA[key]
