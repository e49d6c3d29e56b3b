"""Finding a problem by name. ``Config(problem=...)``, ``python -m gan_core``, ``gansweep run`` and
the Ray workers of a sweep all resolve the same text:

    sho                               a built-in problem (gan_core.problems.BUILTIN)
    mine                              a problem registered in this process (``register_problem``)
                                      or by an installed package's entry point (group
                                      ``gansweep.problems``: ``mine = my_package.module:Mine``)
    path/to/my_problem.py:Logistic    a class (or a module-level instance) in a file
    my_package.module:Logistic        the same in an importable module
    path/to/points.npy                a data set (.npy or .csv of points): a PointCloud

Each user problem is checked once per process when first found (``check``): a file that does not
exist, no such name in it, something that is not a problem, an ``equation`` (or ODE ``f``) that
returns the wrong shape on a few points, a data file with NaNs or of the wrong shape: each is one
line (``ProblemError``) before anything trains.

A Ray worker resolves the same text. Where the file is not on its machine (a cluster), the sweep
ships the file's folder with Ray's runtime environment (``runtime_env``); ``find_file`` then
finds the shipped copy.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from ..errors import first_line
from .base import Problem, ProblemBase, ProblemError
from .data import SUFFIXES, PointCloud
from .ivp import ODE

ENTRY_POINT_GROUP = "gansweep.problems"
ProblemLike = Union[type, ProblemBase]  # a problem class or instance

BUILTIN: dict[str, type] = {}  # filled by gan_core.problems
_REGISTERED: dict[str, ProblemLike] = {}  # register_problem(...): name -> class or instance
_FOUND: dict[str, ProblemLike] = {}  # references resolved (and checked) in this process
_FILES: dict[str, str] = {}  # module name -> the file it was imported from, as referenced
_PACKAGE = Path(__file__).resolve().parents[2]  # the checkout holding gan_core, sweeps, analysis


# -- looking up --------------------------------------------------------------------------------------
def lookup(name: str) -> ProblemLike:
    """The problem class (or instance) that `name` names; ProblemError if none."""
    if not isinstance(name, str) or not name:
        raise ProblemError(f"problem = {name!r}: expected a problem key, a 'file.py:Class' or "
                           "'module:Class' reference, a .npy/.csv data file, or a problem class")
    for table in (BUILTIN, _REGISTERED, _FOUND):
        if name in table:
            return table[name]
    obj = _load(name)
    check(obj, name)
    _FOUND[name] = obj
    return obj


def canonical(problem: ProblemLike | str) -> str:
    """The name a config keeps: a class or instance registered (``register_problem``), a file
    reference made absolute (Ray workers run elsewhere); anything else as it is."""
    if not isinstance(problem, str):
        return register_problem(problem)
    where, sep, attr = problem.rpartition(":")
    if sep and (where.endswith(".py") or "/" in where):
        return f"{Path(where).expanduser().resolve()}:{attr}"
    if not sep and problem.endswith(SUFFIXES):
        return str(Path(problem).expanduser().resolve())
    return problem


def problem_class(name: str) -> type:
    """The class of the problem `name` names (for a module-level instance: its class)."""
    obj = lookup(name)
    return obj if isinstance(obj, type) else type(obj)


def make(name: str, n_points: int | None = None, **constants: float) -> ProblemBase:
    """An instance of the problem `name` with `n_points` and some of its constants changed."""
    obj = lookup(name)
    if isinstance(obj, type):
        return obj(n_points, **constants) if issubclass(obj, Problem) else obj(n_points)
    inst = copy.copy(obj)  # an instance: the user's own object is never changed
    if n_points:
        inst.n = n_points
    if constants:
        fresh = type(obj)(n_points or obj.n, **constants)  # validates the names, sets bounds
        inst.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "n"})
    return inst


def known() -> list[str]:
    """Every name that needs no reference: built-in, registered, and packages' entry points."""
    return sorted({*BUILTIN, *_REGISTERED, *(ep.name for ep in _entry_points())})


def register_problem(problem: ProblemLike, name: str | None = None) -> str:
    """Make `problem` (a Problem / ODE / Distribution / PointCloud subclass or instance) known in
    this process as `name`, and return the name to use in ``Config(problem=...)``.

    Without `name`: its reference (``module:Class`` or ``/path/file.py:Class``) when it has one,
    which Ray workers can import too; else (an instance, a class made in a function or a
    notebook) its ``key``, which only this process knows."""
    _check_kind(problem, repr(problem))
    name = name or reference(problem) or problem.key
    if _REGISTERED.get(name) is problem:
        return name
    if name in BUILTIN and BUILTIN[name] is not problem:
        raise ProblemError(f"problem name {name!r} is a built-in problem's: register "
                           f"{problem!r} under another name")
    check(problem, name)
    _REGISTERED[name] = problem
    return name


def reference(problem: ProblemLike) -> str | None:
    """Text another process (a Ray worker) resolves to `problem`, or None if there is none (an
    instance made in code, a class made inside a function, a notebook's class)."""
    for table in (BUILTIN, _FOUND, _REGISTERED):
        for name, obj in table.items():
            if obj is problem and (table is not _REGISTERED or _importable(name)):
                return name
    return code_reference(problem) if isinstance(problem, type) else None


def code_reference(obj: Any) -> str | None:
    """``module:name`` or ``/path/file.py:name`` of a class or function defined at the top level
    of a module or file (a script's own file for ``__main__``); None for anything else."""
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "<locals>")
    if module is None or "<locals>" in name:
        return None
    if module in _FILES:
        return f"{_FILES[module]}:{name}"
    if module == "__main__":
        main = getattr(sys.modules["__main__"], "__file__", None)
        return f"{Path(main).resolve()}:{name}" if main else None
    return f"{module}:{name}"


def _importable(name: str) -> bool:
    return ":" in name or name.endswith(SUFFIXES)


# -- what a reference points at ----------------------------------------------------------------------
def _load(name: str) -> ProblemLike:
    if ":" not in name:
        if name.endswith(SUFFIXES):
            return _data_problem(name)
        for ep in _entry_points():
            if ep.name == name:
                try:
                    obj = ep.load()
                except Exception as e:  # noqa: BLE001  # any import error: one line
                    raise ProblemError(f"problem {name!r} (entry point {ep.value} of "
                                       f"{ENTRY_POINT_GROUP}) cannot be loaded: "
                                       f"{type(e).__name__}: {e}") from None
                _check_kind(obj, f"entry point {name} = {ep.value}")
                return obj
        raise ProblemError(f"problem = {name!r} is unknown: expected one of "
                           f"{', '.join(known())}, or your own as path/to/file.py:Class, "
                           "my_package.module:Class or a .npy/.csv data file")
    where, attr = name.rsplit(":", 1)
    module = _import_file(where) if where.endswith(".py") or "/" in where else \
        _import_module(where)
    if not hasattr(module, attr):
        found = ", ".join(_problems_in(module)) or "none (subclass gan_core.ODE, Problem or " \
                                                   "PointCloud)"
        raise ProblemError(f"{where} has no {attr!r}; the problems it defines: {found}")
    obj = getattr(module, attr)
    _check_kind(obj, name)
    return obj


def _data_problem(name: str) -> type:
    """A PointCloud class for the data file `name` (its reference is `name`)."""
    path = find_file(Path(name).expanduser().resolve())
    if not path.exists():
        raise ProblemError(f"data file {name} does not exist")
    return type(path.stem, (PointCloud,), {"path": str(path), "key": path.stem,
                                           "__module__": __name__,
                                           "__doc__": f"The points of {path}."})


def _import_file(where: str) -> Any:
    path = find_file(Path(where).expanduser().resolve())
    if not path.exists():
        raise ProblemError(f"problem file {where} does not exist")
    if path.suffix != ".py":
        raise ProblemError(f"problem file {where} is not a .py file")
    for name, f in _FILES.items():
        if f == str(Path(where).expanduser().resolve()) and name in sys.modules:
            return sys.modules[name]
    stem = path.stem
    name = stem if stem.isidentifier() and stem not in sys.modules else \
        f"gansweep_user_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}_{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: dataclasses and pickle look it up
    if str(path.parent) not in sys.path:  # its neighbours import as they do for a script
        sys.path.append(str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001  # the user's code: any error, as one line
        del sys.modules[name]
        raise ProblemError(f"problem file {where} failed to import: {type(e).__name__}: "
                           f"{first_line(e)}") from None
    _FILES[name] = str(Path(where).expanduser().resolve())
    return module


def _import_module(where: str) -> Any:
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as e:
        raise ProblemError(f"module {where} cannot be imported ({first_line(e)}): install it, add "
                           "its folder to PYTHONPATH, or give the file: path/to/file.py:Class"
                           ) from None
    except Exception as e:  # noqa: BLE001
        raise ProblemError(f"module {where} failed to import: {type(e).__name__}: "
                           f"{first_line(e)}") from None


def find_file(path: Path) -> Path:
    """`path`, or where a sweep shipped it to this Ray worker (Ray's ``py_modules`` puts the file's
    folder, by its name, on sys.path); `path` itself if neither exists."""
    if path.exists():
        return path
    for entry in sys.path:
        shipped = Path(entry or ".") / path.parent.name / path.name
        if shipped.exists():
            return shipped
    return path


def shipped_folder(name: str) -> str | None:
    """The folder a sweep ships to its Ray workers for the problem `name` (Ray's ``py_modules``):
    a user's file's folder, or the top package of a module outside site-packages and gansweep;
    None for built-in and installed problems."""
    if name in BUILTIN or ":" not in name and not name.endswith(SUFFIXES):
        return None  # built-in, registered in-process, or an entry point (installed)
    where = name.rsplit(":", 1)[0] if ":" in name else name
    if where.endswith(SUFFIXES + (".py",)) or "/" in where:
        return str(Path(where).expanduser().resolve().parent)
    spec = importlib.util.find_spec(where.split(".")[0])
    origin = Path(spec.origin or "") if spec else Path()
    top = origin.parent if origin.name == "__init__.py" else origin
    if not spec or not spec.origin or "-packages" in str(top) or _PACKAGE in top.parents:
        return None  # installed, or gansweep's own
    return str(top)


def _entry_points() -> list[Any]:
    """The installed packages' problems; read once per sys.path (a scan of every package's
    metadata costs ~0.1 s, and the analysis asks about every trial's problem)."""
    key = tuple(sys.path)
    if key not in _ENTRY_POINTS:
        _ENTRY_POINTS.clear()
        _ENTRY_POINTS[key] = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    return _ENTRY_POINTS[key]


_ENTRY_POINTS: dict[tuple[str, ...], list[Any]] = {}


# -- checks ------------------------------------------------------------------------------------------
def _problems_in(module: Any) -> list[str]:
    """The public names of the problem classes the module defines, and its problem instances."""
    return [k for k, v in vars(module).items() if not k.startswith("_") and (
        isinstance(v, ProblemBase) or isinstance(v, type) and issubclass(v, ProblemBase)
        and v.__module__ == module.__name__)]


def _check_kind(obj: Any, where: str) -> None:
    cls = obj if isinstance(obj, type) else type(obj)
    if not (isinstance(cls, type) and issubclass(cls, ProblemBase)):
        what = f"class {obj.__name__}" if isinstance(obj, type) else f"a {type(obj).__name__}"
        raise ProblemError(f"{where} is {what}, not a problem: subclass gan_core.ODE (y' = f(t, "
                           "y)), gan_core.Problem (any equation), gan_core.PointCloud (a data "
                           "file) or gan_core.Distribution")


def check(obj: ProblemLike, name: str) -> None:
    """Fail with one line if `obj` cannot be built or its maths has the wrong shapes, tried on a
    few points with a made-up network output."""
    if name in BUILTIN:
        return
    cls = obj if isinstance(obj, type) else type(obj)
    label = cls.__name__
    try:
        if issubclass(cls, Problem):
            for attr in ("bounds", "order"):
                if not hasattr(cls, attr):
                    raise ProblemError(f"{label} sets no {attr!r}" + (
                        ": an ODE needs interval and y0" if issubclass(cls, ODE) else ""))
            inst = make_instance(obj, 5)
            _check_equation(inst, label)
        else:
            inst = make_instance(obj, None)
            x = inst.sample(4, np.random.default_rng(0))
            if np.shape(x) != (4, inst.data_dim):
                raise ProblemError(f"{label}.sample(4, rng) returned shape {np.shape(x)}: "
                                   f"expected (4, data_dim) = (4, {inst.data_dim})")
    except ProblemError:
        raise
    except Exception as e:  # noqa: BLE001  # the user's code: any error, as one line
        raise ProblemError(f"problem {name}: {label} fails on a few points: "
                           f"{type(e).__name__}: {first_line(e)}") from None


def make_instance(obj: ProblemLike, n_points: int | None) -> ProblemBase:
    if isinstance(obj, type):
        return obj(n_points)
    inst = copy.copy(obj)
    inst.n = n_points or inst.n
    return inst


def _check_equation(p: Problem, label: str) -> None:
    from ..jets import Jet

    X = torch.as_tensor(p.grid(), dtype=torch.float64)[None]  # (1, n, dim)
    n = X.shape[1]
    coords = Jet.coordinates(X, p.order)
    weights = torch.linspace(0.5, 1.0, p.n_out, dtype=torch.float64)
    N = (coords[0] * 0.7 + 0.3).sin() * weights  # a made-up network output (1, n, n_out)
    u = p.solution(N, coords)
    if not isinstance(u, Jet) or tuple(u.value.shape) != (1, n, p.n_out):
        shape = tuple(u.value.shape) if isinstance(u, Jet) else type(u).__name__
        raise ProblemError(f"{label}.solution returned {shape} on {n} points: expected a Jet of "
                           f"shape (seeds, n, n_out) = (1, {n}, {p.n_out})")
    if isinstance(p, ODE):  # f itself, against y's shape
        y = u.value
        out = p.rhs(coords[0].value, y, u.d() if p.order == 2 else None)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(y.shape):
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ProblemError(f"{label}.f returned {got} for y of shape {tuple(y.shape)}: expected "
                               "a torch tensor of y's shape (write f with torch functions)")
    lhs, rhs = p.equation(u, coords)
    want = (1, n, p.n_eq)
    if not (isinstance(lhs, torch.Tensor) and tuple(lhs.shape) == want
            and isinstance(rhs, (torch.Tensor, float, int)) and _broadcasts(rhs, want)):
        shapes = [tuple(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
                  for s in (lhs, rhs)]
        raise ProblemError(f"{label}.equation returned lhs {shapes[0]} and rhs {shapes[1]} on "
                           f"{n} points: expected torch tensors of shape (seeds, n, n_eq) = "
                           f"{want} (n_eq = {p.n_eq})")
    if not torch.isfinite(lhs - rhs).all():
        raise ProblemError(f"{label}.equation is NaN or inf at some of {n} points of its domain "
                           f"{p.bounds}")
    if p.has_reference() and not isinstance(p, ODE):  # an ODE's reference is solve_ivp's
        ref = np.asarray(p.reference(p.grid()))
        if ref.shape != (n, p.n_out):
            raise ProblemError(f"{label}.reference returned shape {ref.shape} on {n} points: "
                               f"expected (n, n_out) = ({n}, {p.n_out})")


def _broadcasts(x: torch.Tensor | float, shape: tuple[int, ...]) -> bool:
    try:
        return torch.broadcast_shapes(torch.as_tensor(x).shape, shape) == shape
    except RuntimeError:
        return False


