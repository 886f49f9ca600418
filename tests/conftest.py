"""Helpers shared by the tests of the package and of the pages (tier 1, `make test`).

- `randn`: a seeded random tensor, the same numbers on every device;
- `DEVICES`: the devices a test runs on, for ``pytest.mark.parametrize("device", DEVICES)``: the CPU,
  and CUDA under the ``gpu`` marker (skipped where no CUDA device is present); `GPU` is that mark;
- `allowed_keys`: a random boolean mask, with or without a query that may attend to no key;
- `TOLERANCES` and `assert_close`: one table of tolerances per dtype, those docs/methods.md states;
- `CountSyncs`: counts the reads of a tensor's value back to the host;
- the session fixture `trained_induction_model`: the model of docs/trained.md, trained once per process.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from selfattention.toy import InductionModel, InductionTask, train_induction_model

#: The marks of a case that needs a CUDA device: the ``gpu`` marker (``-m gpu`` selects those cases,
#: ``-m "not gpu"`` leaves them out), skipped where no CUDA device is present.
GPU = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]

#: The devices a test that compares against a reference runs on.
DEVICES = ["cpu", pytest.param("cuda", marks=GPU, id="cuda")]

#: Absolute and relative tolerance per dtype, against a float64 reference (docs/methods.md, "Tolerances").
#: float16 (11-bit mantissa) is used by few tests: our output against torch's float16 output, and blockwise
#: attention's forward-mode derivatives against float64.
TOLERANCES: dict[torch.dtype, dict[str, float]] = {
    torch.float64: {"atol": 1e-12, "rtol": 1e-12},
    torch.float32: {"atol": 1e-5, "rtol": 1e-5},
    torch.float16: {"atol": 1e-3, "rtol": 1e-3},
    torch.bfloat16: {"atol": 3e-2, "rtol": 3e-2},
}


def randn(
    *shape: int, seed: int = 0, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Standard normal numbers of ``shape``, drawn on the CPU from a generator seeded with ``seed``, then
    moved to ``device``: the same numbers on every device, and the global random state is left alone."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=generator, dtype=dtype).to(device)


def allowed_keys(seq_len: int, *, empty_row: bool = False) -> torch.Tensor:
    """A random boolean mask (seq_len, seq_len), ``True`` where a query may attend to a key, under which every
    query keeps at least itself; with ``empty_row``, query 1 may attend to no key."""
    generator = torch.Generator().manual_seed(7)
    allowed = (torch.rand(seq_len, seq_len, generator=generator) > 0.4) | torch.eye(seq_len, dtype=torch.bool)
    if empty_row:
        allowed[1] = False
    return allowed


def assert_close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype | None = None) -> None:
    """``actual`` equals ``expected`` within the tolerance of ``dtype`` (by default ``actual``'s dtype);
    tensors of booleans or integers must be equal.

    Both are compared on the CPU in ``expected``'s dtype, so a float32 or bfloat16 result on any device
    can be compared with a float64 reference."""
    dtype = actual.dtype if dtype is None else dtype
    tolerance = TOLERANCES[dtype] if dtype.is_floating_point else {"atol": 0, "rtol": 0}
    torch.testing.assert_close(actual.detach().cpu().to(expected.dtype), expected.detach().cpu(), **tolerance)


class CountSyncs(TorchDispatchMode):
    """Counts the ATen operations that read a tensor's value back to the host (``aten._local_scalar_dense``,
    behind ``.item()``, ``bool(tensor)`` and ``.tolist()``): on a GPU each is a stall.

    A dispatch mode (PyTorch's "Extending all torch API with Modes"); use it as a context manager."""

    def __init__(self) -> None:
        super().__init__()
        self.syncs = 0

    def __torch_dispatch__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
    ) -> Any:
        if func is torch.ops.aten._local_scalar_dense.default:
            self.syncs += 1
        return func(*args, **(kwargs or {}))


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`make test` starts one worker per core), each worker's torch computes on its share
    of the cores. Otherwise every worker's thread pool starts a thread per core, and on 2 cores the 2 workers'
    4 threads compete for the same cores: `make test` measured 145 CPU-s with the default, 106 with one thread a
    worker (CONTRIBUTING.md, "Tier 1's time"). What the tests compare does not depend on the thread count."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        torch.set_num_threads(max(1, cores // workers))


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Readable test ids: a dtype by its name ("float32", not "dtype0"), a batch shape by its sizes ("2x4",
    or "unbatched"); anything else as pytest names it."""
    if isinstance(val, torch.dtype):
        return str(val).removeprefix("torch.")
    if argname == "batch" and isinstance(val, tuple):
        return "x".join(map(str, val)) or "unbatched"
    return None


@pytest.fixture
def two_threads():
    """torch on 2 threads during the test, as before it afterwards. Code that must leave the caller's thread
    count alone while it computes on one thread shows that it does only if the caller's count is not 1 (and
    `pytest_configure` gives each worker of `make test` one thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield 2
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def trained_induction_model() -> InductionModel:
    """The model of docs/trained.md, trained as the page trains it (``train_induction_model(task, seed=0)``
    with ``task = InductionTask()``), once per test process. Shared: a test must not change its weights."""
    return train_induction_model(InductionTask(), seed=0)
