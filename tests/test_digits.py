"""Digits and MNIST: the judge's metrics on samples with known answers, the idx loader, the figure."""

import gzip
import struct

import numpy as np
import pytest

from gan_core import DIST_PROBLEMS, PROBLEMS, Config, ConfigError, make_problem, train
from gan_core.plots import plot_digit_grid, plot_solutions
from gan_core.presets import preset
from gan_core.problems.digits import frechet_distance, load_mnist, read_idx


@pytest.fixture(scope="module")
def digits():
    p = make_problem("digits")
    p.classifier()  # trained once per session (GANSWEEP_CACHE is a session folder), then cached
    return p


def test_real_digits_cover_every_class_and_sit_close(digits):
    rng = np.random.default_rng(0)
    a, b = digits.sample(1000, rng), digits.sample(1000, rng)
    q = digits.quality(a, b)
    assert q["classes_covered"] == 10 and q["classes_missed"] == 0 and q["confident"] > 0.95
    assert q["class_kl"] < 0.01  # the 10 classes hold 174..183 digits each
    assert digits.quality(a, a)["frechet"] == pytest.approx(0.0, abs=1e-6)
    noise = digits.quality(rng.uniform(-1, 1, (1000, 64)), b)
    assert q["frechet"] < noise["frechet"] / 100  # measured 0.35 vs 140
    # noise the judge spreads over many classes is not coverage: few confident predictions
    assert noise["confident"] < 0.3 and noise["classes_missed"] > digits.failure_threshold


def test_one_class_dropped_and_collapse(digits):
    x, y = digits.images()
    rng = np.random.default_rng(1)
    real = digits.sample(1000, rng)
    nine = digits.quality(x[y != 3], real)
    assert nine["classes_covered"] == 9 and nine["classes_missed"] == 1
    assert nine["classes_missed"] <= digits.failure_threshold  # 9 of 10 is not collapse
    collapsed = digits.quality(x[y == 7], real)
    assert collapsed["classes_covered"] == 1
    assert collapsed["class_kl"] == pytest.approx(np.log(10), rel=0.02)
    assert collapsed["classes_missed"] > digits.failure_threshold  # fewer than 8 = failure
    assert collapsed["frechet"] > 20 * nine["frechet"]
    seven = digits.quality(x[np.isin(y, [0, 1, 2, 3, 4, 5, 6])], real)
    assert seven["classes_covered"] == 7 and seven["classes_missed"] > digits.failure_threshold


def test_non_finite_samples_give_the_worst_values(digits):
    real = digits.sample(500, np.random.default_rng(2))
    x = real.copy()
    x[3, 5] = np.nan
    for bad in (x, np.full((100, 64), np.inf)):
        q = digits.quality(bad, real)
        assert q == {"classes_missed": 10.0, "classes_covered": 0.0, "confident": 0.0,
                     "class_kl": pytest.approx(np.log(10)), "frechet": np.inf}
    assert frechet_distance(real, x) == np.inf
    assert (digits.classify(x)[3], digits.classify(x)[0] >= 0) == (-1, True)


def _idx_bytes(array: np.ndarray, code: int) -> bytes:
    """An idx file written by hand from the format: 0, 0, type code, ndim, big-endian sizes, data."""
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[code]
    head = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                      *array.shape)
    return head + array.astype(dtype).tobytes()


def _write_mnist(folder, n=60, gz=True):
    """A tiny MNIST look-alike: n 28x28 images, class c is a bright block in row band c."""
    rng = np.random.default_rng(3)
    labels = np.arange(n) % 10
    images = rng.integers(0, 30, size=(n, 28, 28))
    for i, c in enumerate(labels):
        images[i, 2 * c + 4:2 * c + 7, 4:24] = 255
    folder.mkdir(exist_ok=True)
    opener = gzip.open if gz else open
    suffix = ".gz" if gz else ""
    with opener(folder / f"train-images-idx3-ubyte{suffix}", "wb") as f:
        f.write(_idx_bytes(images, 0x08))
    with opener(folder / f"train-labels-idx1-ubyte{suffix}", "wb") as f:
        f.write(_idx_bytes(labels, 0x08))
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    images, labels = _write_mnist(tmp_path / "mnist", gz=gz)
    x, y = load_mnist(tmp_path / "mnist")
    assert x.shape == (60, 784) and x.min() == -1.0 and x.max() == 1.0
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(x, images.reshape(60, -1) / 127.5 - 1.0, atol=1e-6)
    for code, a in ((0x0B, np.array([[-2, 300], [7, -32768]])),
                    (0x0D, np.array([[0.5, -1.25, 3.0]]))):
        (tmp_path / "other-idx").write_bytes(_idx_bytes(a, code))
        np.testing.assert_array_equal(read_idx(tmp_path / "other-idx"), a)
    (tmp_path / "broken").write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(ValueError, match="not an idx file"):
        read_idx(tmp_path / "broken")
    (tmp_path / "short").write_bytes(_idx_bytes(labels, 0x08)[:-1])
    with pytest.raises(ValueError, match="header says shape"):
        read_idx(tmp_path / "short")


def test_mnist_needs_the_variable_and_says_so(tmp_path, monkeypatch):
    monkeypatch.delenv("GANSWEEP_MNIST", raising=False)
    assert "mnist" in PROBLEMS and "mnist" not in DIST_PROBLEMS
    with pytest.raises(FileNotFoundError, match="GANSWEEP_MNIST is unset: set GANSWEEP_MNIST="):
        make_problem("mnist").sample(4, np.random.default_rng(0))
    monkeypatch.setenv("GANSWEEP_MNIST", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_mnist()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no train-images-idx"):
        load_mnist(tmp_path / "empty")
    # a config says so too, in one line, before anything is trained
    with pytest.raises(ConfigError, match="problem = 'mnist'.*GANSWEEP_MNIST is '.*nowhere', not "
                                          "a folder; set GANSWEEP_MNIST"):
        Config(problem="mnist")
    monkeypatch.delenv("GANSWEEP_MNIST")
    with pytest.raises(ConfigError, match="GANSWEEP_MNIST is unset"):
        Config(problem="mnist")


def test_mnist_trains_from_the_users_files(tmp_path, monkeypatch):
    _write_mnist(tmp_path / "mnist", n=200)
    monkeypatch.setenv("GANSWEEP_MNIST", str(tmp_path / "mnist"))
    p = make_problem("mnist")
    x, y = p.images()
    q = p.quality(x, x[::-1])
    assert q["classes_covered"] == 10 and q["frechet"] == pytest.approx(0.0, abs=1e-6)
    r = train(Config(problem="mnist", seeds=2, iterations=3, eval_every=3, n_points=8))
    assert r.prediction.shape == (2, p.eval_samples, 784) and r.metric == "classes_missed"


def test_a_short_digits_run_makes_a_coverage_figure(tmp_path, digits):
    r = train(preset("digits", seeds=2, iterations=300, eval_every=150))
    assert r.metric == "classes_missed" and r.curves["eval/classes_missed"].shape == (2, 2)
    assert {"eval/classes_covered", "eval/class_kl", "eval/frechet"} <= set(r.curves)
    covered = r.curves["eval/classes_covered"][-1]
    np.testing.assert_array_equal(covered, 10 - r.final_mse)
    plot_solutions(r, tmp_path / "digits_solution.png")  # the CLI's call dispatches to the grid
    assert (tmp_path / "digits_solution.png").stat().st_size > 10_000
    fig = plot_digit_grid(r, per_seed=9)
    assert len(fig.axes) == 4  # per seed: the digit mosaic and the class histogram
