"""Benchmark: naive vs. blockwise attention vs. PyTorch's fused scaled_dot_product_attention.

Run ``python -m benchmarks --help`` from the repository's root. For each sequence length and
form it reports the median time over repeated runs after warm-up, the peak memory, the FLOP
count and the achieved FLOP/s, and writes ``NAME.json``, ``NAME.csv`` and ``NAME.svg`` (a plot).

Peak memory: on the CPU each case runs in a fresh subprocess and reports the process's real
peak resident memory (``ru_maxrss``), since Python-level tracing does not see torch's
allocations; the memory the inputs already occupy is reported beside it. On CUDA it is
``torch.cuda.max_memory_allocated``.

With ``--backward`` it measures training instead: the forward pass and the backward pass of
each form, with the peak of the worker process itself (``VmHWM`` in ``/proc/self/status``,
which unlike ``ru_maxrss`` is not inherited from the parent process). ``--versus-torch`` times
this package's modules against PyTorch's as ratios, and ``--decode`` measures the tokens of
text per second of a tiny GPT generating with and without the KV cache.

Modules: `benchmarks.results` (what a run records, the FLOP counts, the files),
`benchmarks.timing` (the forward sweep), `benchmarks.training` (the forward + backward sweep),
`benchmarks.versus_torch`, `benchmarks.decoding` and `benchmarks.plots`.
"""

from benchmarks.decoding import DecodeRun, DecodeSpeed, load_decode_speed, measure_decoding, save_decode_speed
from benchmarks.plots import plot_results, plot_training_ratios
from benchmarks.results import Case, Results, attention_flops, format_table, load_results, save, training_flops
from benchmarks.timing import run
from benchmarks.training import run_training
from benchmarks.versus_torch import Ratio, compare_with_torch, format_ratios

__all__ = [
    "Case",
    "DecodeRun",
    "DecodeSpeed",
    "Ratio",
    "Results",
    "attention_flops",
    "compare_with_torch",
    "format_ratios",
    "format_table",
    "load_decode_speed",
    "load_results",
    "measure_decoding",
    "plot_results",
    "plot_training_ratios",
    "run",
    "run_training",
    "save",
    "save_decode_speed",
    "training_flops",
]
