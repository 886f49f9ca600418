"""This package's modules against PyTorch's, timed in one process, interleaved, as ratios."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F

from selfattention.attention import scaled_dot_product_attention
from selfattention.interop import from_torch_multihead

__all__ = ["RATIO_HEADER", "Ratio", "compare_with_torch", "format_ratios", "ratio_row", "time_pair"]


@dataclass
class Ratio:
    """This package against PyTorch on one case, timed in the same process, interleaved.

    Attributes:
        name: what is compared, e.g. ``"MultiHeadAttention vs nn.MultiheadAttention"``.
        seq_len: the sequence length n.
        mode: ``"no_grad"`` (inference) or ``"grad"`` (a training forward, autograd recording).
        ours_s: median time of one call of this package's form, in seconds.
        torch_s: median time of one call of PyTorch's, in seconds.
        ratio: median over the rounds of ``ours / torch`` within a round: above 1 is slower.
    """

    name: str
    seq_len: int
    mode: str
    ours_s: float
    torch_s: float
    ratio: float


def time_pair(
    ours: Callable[[], object], theirs: Callable[[], object], *, rounds: int, calls: int, grad: bool
) -> tuple[float, float, float]:
    """Median seconds per call of each, and the median of the per-round ratios. The two are
    interleaved round by round, so that load from other processes falls on both."""
    ours_times, theirs_times, ratios = [], [], []
    with torch.set_grad_enabled(grad):
        for function in (ours, theirs):  # warm-up
            function()
        for _ in range(rounds):
            pair = []
            for function in (ours, theirs):
                start = time.perf_counter()
                for _ in range(calls):
                    function()
                pair.append((time.perf_counter() - start) / calls)
            ours_times.append(pair[0])
            theirs_times.append(pair[1])
            ratios.append(pair[0] / pair[1])
    return (statistics.median(ours_times), statistics.median(theirs_times), statistics.median(ratios))


RATIO_HEADER = f"{'compared':<64} {'n':>5} {'mode':<8} {'ours':>10} {'torch':>10} {'ratio':>6}"


def ratio_row(ratio: Ratio) -> str:
    """One line of the ratio table: the times in microseconds and the ratio."""
    return (
        f"{ratio.name:<64} {ratio.seq_len:>5} {ratio.mode:<8} {ratio.ours_s * 1e6:>7.0f} us "
        f"{ratio.torch_s * 1e6:>7.0f} us {ratio.ratio:>6.2f}"
    )


def format_ratios(ratios: Sequence[Ratio]) -> str:
    """The ratios as a fixed-width text table."""
    return "\n".join([RATIO_HEADER, *(ratio_row(ratio) for ratio in ratios)])


def _ignore(line: str) -> None:
    """The default ``log``: print nothing."""


def compare_with_torch(
    *,
    multihead_lengths: Sequence[int] = (64, 256),
    sdpa_lengths: Sequence[int] = (8, 64),
    batch: int = 4,
    d_model: int = 256,
    heads: int = 8,
    rounds: int = 21,
    calls: int = 10,
    threads: int | None = 1,
    log: Callable[[str], None] = _ignore,
) -> list[Ratio]:
    """Time `selfattention.MultiHeadAttention` against ``nn.MultiheadAttention`` (same weights,
    no bias, evaluation mode, ``(batch, n, d_model)`` inputs) and the package's
    `selfattention.scaled_dot_product_attention` (the explicit form) against
    ``F.scaled_dot_product_attention`` (batch 1, one head, head size 16), as ratios.

    ``threads=1`` runs torch on one thread (``None`` leaves torch's setting).
    """
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(d_model, heads, bias=False, batch_first=True).eval()
    ours = from_torch_multihead(theirs).eval()
    results = []
    for seq_len in multihead_lengths:
        inputs = torch.randn(batch, seq_len, d_model)
        for mode in ("no_grad", "grad"):
            ours_s, torch_s, ratio = time_pair(
                partial(ours, inputs),
                partial(theirs, inputs, inputs, inputs, need_weights=False),
                rounds=rounds,
                calls=calls,
                grad=mode == "grad",
            )
            results.append(Ratio("MultiHeadAttention vs nn.MultiheadAttention", seq_len, mode, ours_s, torch_s, ratio))
            log(ratio_row(results[-1]))
    for seq_len in sdpa_lengths:
        queries, keys, values = (torch.randn(1, 1, seq_len, 16) for _ in range(3))
        ours_s, torch_s, ratio = time_pair(
            partial(scaled_dot_product_attention, queries, keys, values),
            partial(F.scaled_dot_product_attention, queries, keys, values),
            rounds=rounds,
            calls=calls,
            grad=False,
        )
        name = "scaled_dot_product_attention vs F.scaled_dot_product_attention"
        results.append(Ratio(name, seq_len, "no_grad", ours_s, torch_s, ratio))
        log(ratio_row(results[-1]))
    return results
