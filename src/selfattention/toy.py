"""A tiny attention-only model trained on an induction task, small enough to train on a CPU in
seconds, whose right attention pattern is known in advance.

The task (`InductionTask`, `induction_batch`): each sequence holds a segment of distinct tokens
twice, among filler tokens that are not in the segment; the segment's length, its position and
the offset between the two copies are drawn anew for every sequence. Inside the second copy the
next token is predictable: it is the token that followed the current token in the first copy.
A 2-layer attention-only transformer (`InductionModel`) solves it with an *induction circuit*: a
head of layer 1 attends to the previous token (so each position learns which token came before
it), and a head of layer 2 attends, from the current token, to the position right after its
earlier occurrence and copies that token. Because the offset varies, no fixed positional offset
works: the model has to look the token up. Explained on the page "A trained model".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfattention._checks import check_positive_int, check_tensor
from selfattention.multihead import MultiHeadAttention

__all__ = [
    "InductionBatch",
    "InductionModel",
    "InductionTask",
    "accuracy",
    "argmax_on_target",
    "attention_maps",
    "head_scores",
    "induction_batch",
    "induction_model",
    "induction_targets",
    "previous_token_targets",
    "train_induction_model",
    "training_batches",
]


@dataclass(frozen=True)
class InductionTask:
    """The sizes of the induction task.

    Attributes:
        vocab_size: number of distinct tokens.
        seq_len: length of every sequence.
        min_length: shortest repeated segment.
        max_length: longest repeated segment; its tokens are distinct and the filler uses the
            others, so ``max_length < vocab_size``; both copies fit: ``2 * max_length <= seq_len``.
    """

    vocab_size: int = 20
    seq_len: int = 24
    min_length: int = 3
    max_length: int = 8

    def __post_init__(self) -> None:
        for name in ("vocab_size", "seq_len", "min_length", "max_length"):
            check_positive_int(name, getattr(self, name))
        if not (2 <= self.min_length <= self.max_length < self.vocab_size and 2 * self.max_length <= self.seq_len):
            raise ValueError(
                "need 2 <= min_length <= max_length < vocab_size and 2 * max_length <= seq_len, got "
                f"min_length={self.min_length}, max_length={self.max_length}, "
                f"vocab_size={self.vocab_size}, seq_len={self.seq_len}"
            )


@dataclass(frozen=True)
class InductionBatch:
    """A batch of induction sequences: filler tokens, a segment, more filler, the segment again.

    Attributes:
        tokens: ``(batch, seq_len)`` token ids.
        starts: ``(batch,)`` where the first copy of the segment starts.
        offsets: ``(batch,)`` how far after the first copy the second one starts.
        lengths: ``(batch,)`` the length of the segment.
        predictable: ``(batch, seq_len)`` ``True`` at the positions ``t`` whose *next* token is
            determined by the earlier part of the sequence: inside the second copy, but not its
            last token.
    """

    tokens: Tensor
    starts: Tensor
    offsets: Tensor
    lengths: Tensor
    predictable: Tensor

    @property
    def first_copy(self) -> Tensor:
        """``(batch, seq_len)`` ``True`` inside the first copy of the segment, after its first
        token: the positions whose *previous* token the induction head looks up."""
        positions = torch.arange(self.tokens.shape[-1], device=self.tokens.device)
        return (positions > self.starts[:, None]) & (positions < (self.starts + self.lengths)[:, None])


def _uniform(low: Tensor, high: Tensor, generator: torch.Generator) -> Tensor:
    """One integer in ``[low, high]`` (inclusive) for each entry."""
    return low + (torch.rand(low.shape, generator=generator) * (high - low + 1)).long()


def induction_batch(task: InductionTask, batch_size: int, generator: torch.Generator) -> InductionBatch:
    """Draw ``batch_size`` sequences of ``task`` from ``generator`` (reproducible for a seeded one).

    Each sequence holds a segment of ``min_length`` to ``max_length`` distinct tokens twice,
    at random positions; every other position is a filler token drawn from the tokens that are
    not in the segment, so no filler token equals a segment token (filler tokens may repeat
    among themselves).

    Shapes: ``-> tokens (batch_size, seq_len)``, ``starts``, ``offsets``, ``lengths``
    ``(batch_size,)``, ``predictable (batch_size, seq_len)``.
    """
    check_positive_int("batch_size", batch_size)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    size, vocab = task.seq_len, task.vocab_size
    zero = torch.zeros(batch_size, dtype=torch.long)
    lengths = _uniform(zero + task.min_length, zero + task.max_length, generator)
    starts = _uniform(zero, size - 2 * lengths, generator)
    seconds = _uniform(starts + lengths, size - lengths, generator)
    shuffled = torch.rand(batch_size, vocab, generator=generator).argsort(dim=-1)  # a random permutation
    filler_index = _uniform(lengths[:, None].expand(-1, size), torch.full((batch_size, size), vocab - 1), generator)
    positions = torch.arange(size)
    first = (positions >= starts[:, None]) & (positions < (starts + lengths)[:, None])
    second = (positions >= seconds[:, None]) & (positions < (seconds + lengths)[:, None])
    in_segment = torch.where(first, positions - starts[:, None], positions - seconds[:, None])
    index = torch.where(first | second, in_segment, filler_index)  # segment: the first `length` entries
    tokens = shuffled.gather(1, index)
    predictable = second & (positions < (seconds + lengths - 1)[:, None])
    return InductionBatch(
        tokens=tokens, starts=starts, offsets=seconds - starts, lengths=lengths, predictable=predictable
    )


class InductionModel(nn.Module):
    """An attention-only transformer: token and position embeddings, ``num_layers`` causal
    `MultiHeadAttention` layers added to a residual stream, and a linear read-out to the
    vocabulary. No MLP, no layer norm: everything it computes, attention computes.

    Args:
        vocab_size: number of distinct tokens.
        seq_len: the longest sequence (the number of learned positions).
        d_model: width of the residual stream.
        num_heads: heads per layer.
        num_layers: attention layers.

    Shapes: ``forward(tokens (..., seq_len)) -> logits (..., seq_len, vocab_size)``; the logits
    at position ``t`` predict the token at ``t + 1``.
    """

    def __init__(
        self, vocab_size: int, seq_len: int, *, d_model: int = 32, num_heads: int = 2, num_layers: int = 2
    ) -> None:
        super().__init__()
        sizes = {
            "vocab_size": vocab_size,
            "seq_len": seq_len,
            "d_model": d_model,
            "num_heads": num_heads,
            "num_layers": num_layers,
        }
        for name, value in sizes.items():
            check_positive_int(name, value)
        self.vocab_size, self.seq_len = vocab_size, seq_len
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(seq_len, d_model)
        self.layers = nn.ModuleList(
            MultiHeadAttention(d_model, d_model, num_heads, causal=True) for _ in range(num_layers)
        )
        self.unembedding = nn.Linear(d_model, vocab_size)

    def embed(self, tokens: Tensor) -> Tensor:
        """``(..., seq_len) -> (..., seq_len, d_model)``: token plus position embedding."""
        tokens = check_tensor("tokens", tokens)
        if tokens.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"tokens must be integer token ids (torch.int64), got {tokens.dtype}")
        if tokens.dim() < 1 or not 1 <= tokens.shape[-1] <= self.seq_len:
            raise ValueError(
                f"tokens must have shape (..., seq_len) with 1 <= seq_len <= {self.seq_len}, "
                f"got shape {tuple(tokens.shape)}"
            )
        positions = torch.arange(tokens.shape[-1], device=tokens.device)
        embedded: Tensor = self.token_embedding(tokens) + self.position_embedding(positions)
        return embedded

    def _attention_layers(self) -> list[MultiHeadAttention]:
        """The attention layers, in order (``self.layers``, typed)."""
        return [layer for layer in self.layers if isinstance(layer, MultiHeadAttention)]

    def forward(self, tokens: Tensor, *, ablate: Iterable[tuple[int, int]] = ()) -> Tensor:
        """The logits; ``ablate`` lists ``(layer, head)`` pairs whose output is set to zero."""
        ablated = set(ablate)
        layers = self._attention_layers()
        for at, head in ablated:
            if not (0 <= at < len(layers) and 0 <= head < layers[0].num_heads):
                raise ValueError(
                    f"ablate: no head ({at}, {head}); layers are 0..{len(layers) - 1} "
                    f"and heads 0..{layers[0].num_heads - 1}"
                )
        stream = self.embed(tokens)  # (..., seq_len, d_model)
        for index, layer in enumerate(layers):
            heads = [head for (at, head) in ablated if at == index]
            if heads:
                steps = layer.steps(stream)
                keep = torch.ones(layer.num_heads, 1, 1, device=stream.device, dtype=stream.dtype)
                keep[heads] = 0.0
                stream = stream + layer.out_proj(layer.merge_heads(steps.context * keep))
            else:
                stream = stream + layer(stream)
        logits: Tensor = self.unembedding(stream)  # (..., seq_len, vocab_size)
        return logits

    def attention_weights(self, tokens: Tensor) -> Tensor:
        """Every head's attention weights, from `MultiHeadAttention.steps`.

        Shapes: ``tokens (..., seq_len) -> (num_layers, ..., num_heads, seq_len, seq_len)``.
        """
        stream = self.embed(tokens)
        weights = []
        for layer in self._attention_layers():
            steps = layer.steps(stream)
            weights.append(steps.weights)
            stream = stream + steps.output
        return torch.stack(weights)


def attention_maps(model: InductionModel, tokens: Tensor) -> Tensor:
    """The attention weights of every layer and head of ``model`` on ``tokens``, without
    gradients. Shapes: ``(..., seq_len) -> (num_layers, ..., num_heads, seq_len, seq_len)``."""
    with torch.no_grad():
        return model.attention_weights(tokens)


def accuracy(model: InductionModel, batch: InductionBatch, *, ablate: Iterable[tuple[int, int]] = ()) -> float:
    """The fraction of the predictable positions (see `InductionBatch`) at which the model's
    most likely next token is the right one, optionally with some heads ablated: ``ablate``
    lists ``(layer, head)`` pairs, counted from 0, whose output is set to zero."""
    with torch.no_grad():
        logits = model(batch.tokens, ablate=ablate)
    predicted = logits[:, :-1].argmax(dim=-1)  # position t predicts the token at t + 1
    mask = batch.predictable[:, :-1]
    return float((predicted == batch.tokens[:, 1:])[mask].float().mean())


def previous_token_targets(batch: InductionBatch) -> Tensor:
    """``(batch, seq_len, seq_len)`` boolean: ``True`` at key ``t - 1`` for every query ``t``
    (query 0 has no previous token: its row is all ``False``)."""
    batch_size, seq_len = batch.tokens.shape
    targets = torch.ones(seq_len, seq_len, dtype=torch.bool).tril(-1).triu(-1)  # the sub-diagonal
    return targets.expand(batch_size, seq_len, seq_len)


def induction_targets(batch: InductionBatch) -> Tensor:
    """``(batch, seq_len, seq_len)`` boolean: ``True`` at key ``j`` for query ``t`` when
    ``1 <= j <= t`` and the token at ``j - 1`` is the token at ``t``: key ``j`` holds the token
    that followed an earlier occurrence of the current token. At a predictable position exactly
    one key qualifies, ``t - offset + 1``."""
    tokens = batch.tokens
    seq_len = tokens.shape[-1]
    before = torch.cat([torch.full_like(tokens[:, :1], -1), tokens[:, :-1]], dim=1)  # token at j - 1
    same = tokens[:, :, None] == before[:, None, :]  # (batch, query t, key j)
    return same & torch.ones(seq_len, seq_len, dtype=torch.bool).tril()


def argmax_on_target(weights: Tensor, targets: Tensor, queries: Tensor) -> float:
    """The fraction of the selected queries whose largest attention weight falls on a target key.

    Shapes: ``weights (..., seq_len, seq_len)`` of one head, ``targets`` the same shape
    (boolean, ``True`` = a key the pattern predicts), ``queries (..., seq_len)`` (boolean, the
    queries to count) -> a number in ``[0, 1]`` (NaN when no query is selected).
    """
    if weights.shape != targets.shape or weights.shape[:-1] != queries.shape:
        raise ValueError(
            f"weights {tuple(weights.shape)} and targets {tuple(targets.shape)} must have one shape "
            f"(..., seq_len, seq_len), and queries {tuple(queries.shape)} the shape (..., seq_len)"
        )
    strongest = weights.argmax(dim=-1, keepdim=True)  # (..., seq_len, 1)
    hits = targets.gather(-1, strongest).squeeze(-1)
    return hits[queries].float().mean().item()


def head_scores(weights: Tensor, targets: Tensor, queries: Tensor) -> list[float]:
    """`argmax_on_target` for each head of one layer.

    Shapes: ``weights (batch, num_heads, seq_len, seq_len)``, ``targets (batch, seq_len,
    seq_len)``, ``queries (batch, seq_len)`` -> one fraction per head.
    """
    if weights.dim() != 4:
        raise ValueError(f"weights must have shape (batch, num_heads, seq_len, seq_len), got {tuple(weights.shape)}")
    return [argmax_on_target(weights[:, head], targets, queries) for head in range(weights.shape[1])]


def induction_model(
    task: InductionTask = InductionTask(), *, seed: int = 0, d_model: int = 32, num_heads: int = 2
) -> InductionModel:
    """A fresh, untrained `InductionModel` for ``task`` whose weights come from ``seed``
    (without touching the caller's global random state)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return InductionModel(task.vocab_size, task.seq_len, d_model=d_model, num_heads=num_heads)


def training_batches(task: InductionTask, *, seed: int, steps: int, batch_size: int) -> Iterator[InductionBatch]:
    """The batches `train_induction_model` trains on, in order: fresh sequences drawn from a
    ``torch.Generator`` seeded with ``seed``."""
    check_positive_int("steps", steps)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        yield induction_batch(task, batch_size, generator)


def train_induction_model(
    task: InductionTask = InductionTask(),
    *,
    seed: int = 0,
    steps: int = 1000,
    batch_size: int = 64,
    learning_rate: float = 3e-3,
    d_model: int = 32,
    num_heads: int = 2,
) -> InductionModel:
    """Train an `InductionModel` to predict the next token of induction sequences.

    Deterministic on one machine and PyTorch build: the initial weights come from ``seed``
    (`induction_model`), the sequences from `training_batches` with the same seed, and training
    runs on one CPU thread, which fixes the order of every sum (another CPU may still round
    some sums differently). The loss is the cross-entropy at the predictable positions; the optimiser is
    AdamW. The caller's random state and thread count are left as they were. Returns the model
    in evaluation mode.
    """
    model = induction_model(task, seed=seed, d_model=d_model, num_heads=num_heads)
    optimiser = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.train()
        for batch in training_batches(task, seed=seed, steps=steps, batch_size=batch_size):
            logits = model(batch.tokens)[:, :-1]  # position t predicts the token at t + 1
            mask = batch.predictable[:, :-1]
            loss = nn.functional.cross_entropy(logits[mask], batch.tokens[:, 1:][mask])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()
