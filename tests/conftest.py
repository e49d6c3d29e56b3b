import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the sweep drivers import `sweeps` from the checkout


# one thread: the tensors are tiny and extra threads only add synchronisation (2x slower seen on
# this 2-core box, far worse when it is loaded)
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    # computed references (Burgers) go to a per-session folder unless the user set one
    os.environ.setdefault("GANSWEEP_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
