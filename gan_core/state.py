"""What a run carries from one iteration to the next besides its networks: every seed's best and
divergence, its lives under residual monitoring, the monitor's window, the curves so far, the
last losses. ``RunState.checkpoint`` and ``RunState.resume`` turn a run into a resumable state
and back (``Progress.checkpoint()`` in train.py): a resumed run continues exactly.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .config import Config
from .optim import lr_factor
from .steps import Nets

Tensor = torch.Tensor


@dataclass
class RunState:
    iteration: int  # iterations completed
    best: np.ndarray  # (K,) each seed's best metric so far
    diverged: np.ndarray  # (K,) bool: NaN/inf seen
    diverged_at: np.ndarray  # (K,) the iteration it was first seen, -1: never
    # residual monitoring: each seed's restarts, whether it was abandoned, the iteration its
    # current life began (its schedule's origin), and the last window of its mean |residual|
    restarts: np.ndarray
    abandoned: np.ndarray
    born: np.ndarray
    window: Tensor  # (monitor_window, K)
    curves: dict[str, list]
    loss_G: Tensor  # (K,) the last step's losses
    loss_D: Tensor
    elapsed: float  # seconds trained before this process (a resumed run's earlier part)

    @classmethod
    def fresh(cls, cfg: Config, metric: str, device: torch.device, dtype: torch.dtype
              ) -> "RunState":
        K = cfg.seeds
        return cls(
            iteration=0, best=np.full(K, np.inf), diverged=np.zeros(K, dtype=bool),
            diverged_at=np.full(K, -1), restarts=np.zeros(K, dtype=int),
            abandoned=np.zeros(K, dtype=bool), born=np.zeros(K, dtype=int),
            window=torch.zeros(cfg.monitor_window, K, dtype=dtype, device=device),
            curves={k: [] for k in ("iteration", f"eval/{metric}", "train/g_loss",
                                    "train/d_loss", "train/lr_g")},
            loss_G=torch.zeros(K, dtype=dtype, device=device),
            loss_D=torch.zeros(K, dtype=dtype, device=device), elapsed=0.0)

    @classmethod
    def resume(cls, state: dict[str, Any], nets: Nets, rng: torch.Generator,
               device: torch.device, dtype: torch.dtype, seed: int) -> "RunState":
        """The run a ``checkpoint`` saved, its networks and generator loaded in place."""
        state = copy.deepcopy(state)  # we adopt the tensors we load: keep the caller's intact
        nets.G.load_state_dict(state["G"])
        nets.opt_G.load_state_dict(state["opt_G"])
        if nets.D is not None:
            nets.D.load_state_dict(state["D"])
            nets.opt_D.load_state_dict(state["opt_D"])
        if state["rng"].numel() == rng.get_state().numel():
            rng.set_state(state["rng"])
        else:  # saved on another device type (a GPU checkpoint resumed on a CPU node): CUDA and
            # CPU generator states differ, so continue on a stream derived from (seed, iteration)
            rng.manual_seed(int(np.random.SeedSequence([seed, state["iteration"]])
                                .generate_state(1)[0]))
        return cls(
            iteration=state["iteration"], best=state["best"].copy(),
            diverged=state["diverged"].copy(), diverged_at=state["diverged_at"].copy(),
            restarts=state["restarts"].copy(), abandoned=state["abandoned"].copy(),
            born=state["born"].copy(), window=state["window"].to(device, dtype),
            curves={k: list(v) for k, v in state["curves"].items()},
            loss_G=state["loss_G"].to(device, dtype), loss_D=state["loss_D"].to(device, dtype),
            elapsed=state["elapsed"])

    def checkpoint(self, it: int, nets: Nets, rng: torch.Generator, elapsed: float
                   ) -> dict[str, Any]:
        """A resumable state after iteration `it` (a deep copy: training may go on)."""
        return copy.deepcopy({
            "iteration": it, "G": nets.G.state_dict(), "opt_G": nets.opt_G.state_dict(),
            "D": nets.D.state_dict() if nets.D is not None else None,
            "opt_D": nets.opt_D.state_dict() if nets.opt_D is not None else None,
            "rng": rng.get_state(), "best": self.best, "diverged": self.diverged,
            "diverged_at": self.diverged_at, "restarts": self.restarts,
            "abandoned": self.abandoned, "born": self.born, "window": self.window,
            "curves": self.curves, "loss_G": self.loss_G, "loss_D": self.loss_D,
            "elapsed": elapsed,
        })

    def set_learning_rates(self, cfg: Config, nets: Nets, it: int) -> None:
        """Each seed's schedule runs from the start of its current life; abandoned seeds freeze."""
        if cfg.lr_decay == "none" and not self.abandoned.any():
            return
        device = nets.opt_G.scale.device
        age = torch.as_tensor(it - 1 - self.born, dtype=torch.float64, device=device)
        f = lr_factor(cfg.lr_decay, cfg.gamma, cfg.lr_step, age)
        f = f * torch.as_tensor(~self.abandoned, dtype=torch.float64, device=device)
        nets.opt_G.scale.copy_(f)
        if nets.opt_D is not None:
            nets.opt_D.scale.copy_(f.repeat_interleave(nets.opt_D.scale.shape[0] // cfg.seeds))

    def record(self, it: int, mse: np.ndarray, extras: dict[str, np.ndarray], metric: str,
               lr_g: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """An evaluation after iteration `it`: a non-finite metric or loss marks a seed diverged
        (from then on its metric is inf, as an abandoned seed's), each seed's best, the curves.
        Returns the metric so masked and the (K,) G and D losses."""
        g, d = self.loss_G.cpu().numpy(), self.loss_D.cpu().numpy()
        bad = (~np.isfinite(mse) | ~np.isfinite(g) | ~np.isfinite(d)) & ~self.abandoned
        self.diverged_at[bad & ~self.diverged] = it
        self.diverged |= bad
        mse = np.where(self.diverged | self.abandoned, np.inf, mse)
        self.best = np.minimum(self.best, mse)
        for key, value in (("iteration", it), (f"eval/{metric}", mse), ("train/g_loss", g),
                           ("train/d_loss", d), ("train/lr_g", lr_g),
                           *((f"eval/{k}", v) for k, v in extras.items() if k != metric)):
            self.curves.setdefault(key, []).append(value)
        return mse, g, d
