"""``python -m benchmarks``: the command line (``--help``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from benchmarks.decoding import SIZES, measure_decoding, save_decode_speed
from benchmarks.results import DEFAULT_LENGTHS, FORMS, HEADER, TRAINING_HEADER, TRAINING_LENGTHS, Results, save
from benchmarks.timing import run, worker
from benchmarks.training import run_training
from benchmarks.versus_torch import RATIO_HEADER, compare_with_torch
from selfattention.data import the_verdict

PROG = "python -m benchmarks"


def _print(line: str) -> None:
    print(line, flush=True)


def parser() -> argparse.ArgumentParser:
    """The command line's options."""
    from benchmarks import __doc__ as description

    parser = argparse.ArgumentParser(prog=PROG, description=(description or "").split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=list(DEFAULT_LENGTHS))
    parser.add_argument("--forms", nargs="+", choices=FORMS, default=list(FORMS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--block-size", type=int, default=256)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64", "bfloat16", "float16"])
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per CPU case")
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"))
    parser.add_argument("--name", help="file name stem (default: DEVICE-DATE)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and one repeat: checks that it runs")
    parser.add_argument(
        "--backward",
        action="store_true",
        help="measure training: the forward and the backward pass (default lengths 512 to 16384, 3 repeats)",
    )
    parser.add_argument("--threads", type=int, help="with --backward: torch threads per case (default: torch's)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument(
        "--versus-torch",
        action="store_true",
        help="time MultiHeadAttention against nn.MultiheadAttention (batch 4, d 256, 8 heads, n 64 and 256) "
        "and scaled_dot_product_attention against torch's, on one thread, as ratios",
    )
    parser.add_argument("--rounds", type=int, default=21, help="with --versus-torch: interleaved rounds")
    parser.add_argument(
        "--decode",
        action="store_true",
        help="tokens of text per second of a TinyGPT with random weights (--decode-size) generating characters "
        "greedily after a prompt of --text, with and without the KV cache, on one thread; "
        "writes OUT/NAME.json (default name decode-SIZE-cpu-DATE)",
    )
    parser.add_argument(
        "--decode-size",
        choices=list(SIZES),
        default="tiny-gpt",
        help="with --decode: the model of the tiny-GPT page (context 32, d 32, 2 blocks of 2 heads; 24 tokens "
        "after 8, and 96 after 32, past the context), or one 8 times wider (context 256, d 256, 4 blocks of "
        "4 heads; 224 tokens after 32)",
    )
    parser.add_argument(
        "--text",
        type=Path,
        help="with --decode: the text whose characters are the vocabulary and whose start is the prompt "
        '(default: Edith Wharton\'s "The Verdict", the text of the tiny-GPT page)',
    )
    return parser


def _decode(args: argparse.Namespace, command: str) -> int:
    """``--decode``: measure generation with and without the KV cache, write ``NAME.json``."""
    if args.text is None:
        text, name = the_verdict(), "The Verdict (selfattention.data.the_verdict)"
    else:
        text, name = args.text.read_text(encoding="utf-8"), args.text.name
    if args.smoke:  # a one-block model, one round: checks that it runs
        result = measure_decoding(
            text,
            text_name=name,
            context_len=8,
            d_model=16,
            num_layers=1,
            runs=((4, 4), (8, 4)),
            rounds=1,
            command=command,
            log=_print,
        )
    else:
        result = measure_decoding(text, text_name=name, **SIZES[args.decode_size], command=command, log=_print)
    for measured in result.runs:
        speed = measured.tokens_per_s
        print(
            f"prompt {measured.prompt_len}, {measured.new_tokens} new tokens, context {result.model['context_len']}: "
            f"tokens per second: cache {speed['cache']:.1f}, no cache {speed['no_cache']:.1f}, "
            f"speedup {measured.speedup:.2f} (in CPU time {measured.cpu_speedup:.2f}), same ids {measured.same_ids}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.name or f'decode-{args.decode_size}-cpu-{result.date}'}.json"
    save_decode_speed(result, path)
    print(f"wrote {path}")
    return 0 if all(measured.same_ids for measured in result.runs) else 1


def _sweep(args: argparse.Namespace, given: set[str], command: str) -> Results:
    """The forward sweep, or with ``--backward`` the training sweep with its own defaults."""
    sizes = {
        "lengths": args.lengths,
        "forms": args.forms,
        "device": args.device,
        "batch": args.batch,
        "heads": args.heads,
        "head_dim": args.head_dim,
        "block_size": args.block_size,
        "causal": args.causal,
        "dtype": args.dtype,
        "warmup": args.warmup,
        "timeout": args.timeout,
    }
    if not args.backward:
        _print(HEADER)
        return run(**sizes, repeats=args.repeats, command=command, log=_print)
    if "--lengths" not in given and not args.smoke:
        sizes["lengths"] = list(TRAINING_LENGTHS)
    repeats = 3 if "--repeats" not in given and not args.smoke else args.repeats
    if args.threads:
        torch.set_num_threads(args.threads)  # so that the machine's record says so too
    _print(TRAINING_HEADER)
    return run_training(**sizes, repeats=repeats, threads=args.threads, command=command, log=_print)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    command = " ".join([PROG, *argv])
    if args.decode:
        return _decode(args, command)
    if args.versus_torch:
        _print(RATIO_HEADER)
        rounds, calls = (2, 1) if args.smoke else (args.rounds, 10)
        compare_with_torch(rounds=rounds, calls=calls, log=_print)
        return 0
    if args.worker:  # one CPU case, in its own process; prints one JSON line
        form, seq_len, config = args.worker
        print(worker(form, int(seq_len), json.loads(config)))
        return 0
    if args.smoke:
        args.lengths = [n for n in args.lengths if n <= 128] or [64, 128]
        args.repeats, args.warmup, args.heads, args.head_dim = 2, 1, 2, 16
        args.block_size = min(args.block_size, 32)
    results = _sweep(args, set(argv), command)
    device = args.device.split(":")[0]
    name = args.name or (f"{device}-fwdbwd-{results.date}" if args.backward else f"{device}-{results.date}")
    for path in save(results, args.out, name):
        print(f"wrote {path}")
    return 1 if any(case.error for case in results.cases) and args.smoke else 0


if __name__ == "__main__":
    raise SystemExit(main())
