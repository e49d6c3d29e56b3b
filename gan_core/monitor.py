"""Residual monitoring (the DEQGAN paper, appendix A.7), per seed inside the batch: a seed whose
mean |residual| still varies by more than ``monitor_threshold`` over a window near the end of its
first quarter is restarted (fresh weights, optimiser state and schedule) or abandoned (frozen and
counted as failed).

Not earlier than ``monitor_from`` (20%): every healthy seed's residual falls fast at first, so a
window there trips the rule (measured on exp, Table 3's setting: every one of 191 healthy seeds),
while from 20% on the windows catch 48 of 49 failing seeds and 14 healthy ones.
"""

from __future__ import annotations

import numpy as np
import torch

from .config import Config
from .state import RunState
from .steps import Nets

Tensor = torch.Tensor


class Monitor:
    def __init__(self, cfg: Config):
        self.cfg = cfg
        # a seed is checked at the windows ending while its age is in [watch_from, watch_until]
        self.watch_from, self.watch_until = (round(f * cfg.iterations)
                                             for f in (cfg.monitor_from, cfg.monitor_until))

    def observe(self, run: RunState, nets: Nets, it: int, real: Tensor, fake: Tensor) -> None:
        """Iteration `it`'s residual (fake - real) into the window; at a window's end, restart
        or abandon the seeds that trip the rule."""
        cfg = self.cfg
        if cfg.monitor == "none":
            return
        run.window[(it - 1) % cfg.monitor_window] = _per_seed_mean_abs(fake - real)
        age = it - run.born
        due = ((age >= self.watch_from) & (age <= self.watch_until) & ~run.abandoned
               & (run.restarts < cfg.monitor_restarts))
        if it % cfg.monitor_window == 0 and due.any():
            var = run.window.var(dim=0, unbiased=False).cpu().numpy()
            tripped = np.flatnonzero(due & ~(var <= cfg.monitor_threshold))
            if len(tripped):
                self.trip(run, nets, tripped, it)

    def trip(self, run: RunState, nets: Nets, seeds: np.ndarray, it: int) -> None:
        """The rule tripped on `seeds`: a new life (restart), or frozen and failed (abandon)."""
        if self.cfg.monitor == "abandon":
            run.abandoned[seeds] = True
            run.best[seeds] = np.inf
            return
        K = self.cfg.seeds
        run.restarts[seeds] += 1
        run.born[seeds] = it
        run.best[seeds], run.diverged[seeds], run.diverged_at[seeds] = np.inf, False, -1
        for net, opt in nets.pairs():
            per = net.seeds // K  # replicas per seed (one D per equation: d_groups)
            rows = [k * per + j for k in seeds for j in range(per)]
            net.reinit(rows, [int(run.restarts[r // per]) for r in rows])
            opt.reset(torch.as_tensor(rows, device=run.loss_G.device))
        idx = torch.as_tensor(seeds, device=run.loss_G.device)
        run.loss_G = run.loss_G.index_fill(0, idx, 0.0)
        run.loss_D = run.loss_D.index_fill(0, idx, 0.0)

    def hopeless(self, run: RunState, it: int) -> bool:
        """Nothing left to train: every seed diverged or was abandoned, and no restart can come."""
        cfg = self.cfg
        return bool((run.diverged | run.abandoned).all()) and not (
            cfg.monitor == "restart" and ((run.restarts < cfg.monitor_restarts)
                                          & (it - run.born < self.watch_until)).any())


def _per_seed_mean_abs(r: Tensor) -> Tensor:
    """(K,) mean |residual| of each seed over its points and equations."""
    with torch.no_grad():
        return r.abs().reshape(r.shape[0], -1).mean(dim=1)
