"""The induction task, the model, its training, and the checks of docs/trained.md."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from selfattention import toy
from selfattention.toy import (
    InductionModel,
    InductionTask,
    accuracy,
    argmax_on_target,
    attention_maps,
    head_scores,
    induction_batch,
    induction_model,
    induction_targets,
    previous_token_targets,
    train_induction_model,
    training_batches,
)
from tests.conftest import assert_close

TASK = InductionTask()


@pytest.fixture(scope="module")
def batch():
    return induction_batch(TASK, 300, torch.Generator().manual_seed(7))


def test_each_sequence_holds_its_segment_twice_and_nothing_else_repeats(batch):
    for tokens, start, offset, length, predictable in zip(
        batch.tokens.tolist(),
        batch.starts.tolist(),
        batch.offsets.tolist(),
        batch.lengths.tolist(),
        batch.predictable.tolist(),
        strict=True,
    ):
        segment = tokens[start : start + length]
        assert TASK.min_length <= length <= TASK.max_length and offset >= length
        assert start + offset + length <= TASK.seq_len
        assert tokens[start + offset : start + offset + length] == segment
        assert len(set(segment)) == length
        filler = [
            t
            for i, t in enumerate(tokens)
            if not (start <= i < start + length or start + offset <= i < start + offset + length)
        ]
        assert not set(filler) & set(segment)
        assert [i for i, p in enumerate(predictable) if p] == list(range(start + offset, start + offset + length - 1))
    assert set(batch.lengths.tolist()) == set(range(TASK.min_length, TASK.max_length + 1))
    assert len(set(batch.offsets.tolist())) > 8  # the offset varies: no positional shortcut
    assert batch.tokens.min() >= 0 and batch.tokens.max() < TASK.vocab_size


def test_batches_are_reproducible_from_the_generator():
    first = induction_batch(TASK, 5, torch.Generator().manual_seed(3))
    again = induction_batch(TASK, 5, torch.Generator().manual_seed(3))
    other = induction_batch(TASK, 5, torch.Generator().manual_seed(4))
    assert torch.equal(first.tokens, again.tokens) and not torch.equal(first.tokens, other.tokens)
    batches = list(training_batches(TASK, seed=0, steps=3, batch_size=4))
    generator = torch.Generator().manual_seed(0)
    for drawn in batches:
        assert torch.equal(drawn.tokens, induction_batch(TASK, 4, generator).tokens)


def test_pattern_targets_against_loops(batch):
    tokens = batch.tokens.numpy()
    previous = previous_token_targets(batch).numpy()
    induction = induction_targets(batch).numpy()
    n = TASK.seq_len
    for b in range(5):
        for t in range(n):
            assert [j for j in range(n) if previous[b, t, j]] == ([t - 1] if t else [])
            assert [j for j in range(n) if induction[b, t, j]] == [
                j for j in range(1, t + 1) if tokens[b, j - 1] == tokens[b, t]
            ]
    # At a predictable position exactly one key is the induction target: t - offset + 1.
    b, t = batch.predictable.nonzero(as_tuple=True)
    assert torch.equal(induction_targets(batch)[b, t].nonzero()[:, 1], t - batch.offsets[b] + 1)
    first = batch.first_copy.numpy()
    for b in range(5):
        start, length = batch.starts[b].item(), batch.lengths[b].item()
        assert [t for t in range(n) if first[b, t]] == list(range(start + 1, start + length))


def test_argmax_on_target_counts_hits_among_the_selected_queries():
    weights = torch.tensor([[[0.7, 0.3], [0.4, 0.6]], [[1.0, 0.0], [0.9, 0.1]]])
    targets = torch.tensor([[[True, False], [False, True]], [[False, True], [False, True]]])
    queries = torch.tensor([[True, True], [False, True]])
    strongest = np.argmax(weights.numpy(), axis=-1)
    hits = np.take_along_axis(targets.numpy(), strongest[..., None], axis=-1)[..., 0]
    assert (
        argmax_on_target(weights, targets, queries)
        == pytest.approx(hits[queries.numpy()].mean())
        == pytest.approx(2 / 3)
    )
    assert head_scores(weights[:, None].expand(2, 3, 2, 2), targets, queries) == [pytest.approx(2 / 3)] * 3
    with pytest.raises(ValueError, match="must have one shape"):
        argmax_on_target(weights, targets[0], queries)
    with pytest.raises(ValueError, match=r"weights must have shape \(batch, num_heads, seq_len, seq_len\)"):
        head_scores(weights, targets, queries)


def test_ablation_zeroes_one_heads_context_before_the_output_projection(batch):
    model = induction_model(TASK, seed=1)
    tokens = batch.tokens[:4]
    with torch.no_grad():
        assert torch.equal(model(tokens, ablate=[]), model(tokens))
        # Independently: the residual stream, with layer 0's head 1 slice of the concatenated
        # context set to zero before out_proj.
        stream = model.token_embedding(tokens) + model.position_embedding.weight
        first = model.layers[0]
        steps = first.steps(stream)
        concatenated = steps.concatenated.clone()
        concatenated[..., first.head_dim :] = 0
        stream = stream + first.out_proj(concatenated)
        stream = stream + model.layers[1](stream)
        assert_close(model(tokens, ablate=[(0, 1)]), model.unembedding(stream))
        assert not torch.allclose(model(tokens, ablate=[(0, 1)]), model(tokens))
    with pytest.raises(ValueError, match=r"ablate: no head \(2, 0\); layers are 0..1 and heads 0..1"):
        model(tokens, ablate=[(2, 0)])


def test_attention_maps_are_the_layers_steps(batch):
    model = induction_model(TASK, seed=1)
    tokens = batch.tokens[:3]
    maps = attention_maps(model, tokens)
    assert maps.shape == (2, 3, 2, 24, 24) and not maps.requires_grad
    with torch.no_grad():
        stream = model.embed(tokens)
        assert_close(maps[0], model.layers[0].steps(stream).weights)
        stream = stream + model.layers[0](stream)
        assert_close(maps[1], model.layers[1].steps(stream).weights)
    assert torch.all(maps.triu(diagonal=1) == 0)  # causal


def test_accuracy_scores_the_predictable_positions_only(batch):
    class Oracle(torch.nn.Module):
        """Predicts the true next token at every position (and garbage at the last)."""

        def forward(self, tokens, *, ablate=()):
            following = torch.cat([tokens[:, 1:], tokens[:, :1]], dim=1)
            return torch.nn.functional.one_hot(following, TASK.vocab_size).float()

    class WrongWherePredictable(Oracle):
        def forward(self, tokens, *, ablate=()):
            logits = super().forward(tokens)
            return torch.where(batch.predictable[..., None], logits.roll(1, dims=-1), logits)

    assert accuracy(Oracle(), batch) == 1.0
    assert accuracy(WrongWherePredictable(), batch) == 0.0


def test_training_is_deterministic_and_leaves_the_callers_state_alone(two_threads):
    torch.manual_seed(42)
    expected_next = torch.rand(3)
    torch.manual_seed(42)
    first = train_induction_model(TASK, seed=5, steps=3)
    assert torch.equal(torch.rand(3), expected_next) and torch.get_num_threads() == two_threads
    second = train_induction_model(TASK, seed=5, steps=3)
    other = train_induction_model(TASK, seed=6, steps=3)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert not torch.equal(first.layers[0].w_query.weight, other.layers[0].w_query.weight)
    assert not torch.equal(first.layers[0].w_query.weight, induction_model(TASK, seed=5).layers[0].w_query.weight)
    assert not first.training


def test_bad_arguments_are_refused():
    with pytest.raises(
        ValueError, match="need 2 <= min_length <= max_length < vocab_size and 2 \\* max_length <= seq_len"
    ):
        InductionTask(seq_len=10, max_length=8)
    with pytest.raises(TypeError, match=r"generator must be a torch.Generator, got int"):
        induction_batch(TASK, 2, 0)
    model = InductionModel(20, 24)
    with pytest.raises(TypeError, match="tokens must be integer token ids"):
        model(torch.zeros(2, 24))
    with pytest.raises(
        ValueError, match=r"tokens must have shape \(..., seq_len\) with 1 <= seq_len <= 24, got shape \(2, 25\)"
    ):
        model(torch.zeros(2, 25, dtype=torch.long))


def reference_batch(task: InductionTask, batch_size: int, seed: int) -> dict[str, np.ndarray]:
    """`induction_batch` by hand, one position at a time: the same draws from a generator seeded with
    ``seed``, in the same order (segment lengths, first starts, second starts, a permutation of the vocabulary,
    filler indices), each scaled to its integer range in float32 and truncated, as NumPy computes it."""
    generator = torch.Generator().manual_seed(seed)

    def draws(*shape: int) -> np.ndarray:
        return torch.rand(*shape, generator=generator).numpy()

    def uniform(draw: np.float32, low: int, high: int) -> int:  # an integer in [low, high]
        return low + int(np.float32(draw) * np.float32(high - low + 1))

    size, vocab = task.seq_len, task.vocab_size
    length_draws, start_draws, second_draws = draws(batch_size), draws(batch_size), draws(batch_size)
    permutation_draws, filler_draws = draws(batch_size, vocab), draws(batch_size, size)
    tokens = np.zeros((batch_size, size), dtype=np.int64)
    predictable = np.zeros((batch_size, size), dtype=bool)
    starts, offsets, lengths = (np.zeros(batch_size, dtype=np.int64) for _ in range(3))
    for b in range(batch_size):
        length = uniform(length_draws[b], task.min_length, task.max_length)
        start = uniform(start_draws[b], 0, size - 2 * length)
        second = uniform(second_draws[b], start + length, size - length)
        permutation = np.argsort(permutation_draws[b])
        for i in range(size):
            if start <= i < start + length:
                tokens[b, i] = permutation[i - start]
            elif second <= i < second + length:
                tokens[b, i] = permutation[i - second]
                predictable[b, i] = i < second + length - 1
            else:
                tokens[b, i] = permutation[uniform(filler_draws[b, i], length, vocab - 1)]
        starts[b], offsets[b], lengths[b] = start, second - start, length
    return {"tokens": tokens, "starts": starts, "offsets": offsets, "lengths": lengths, "predictable": predictable}


@pytest.mark.parametrize(
    "sizes",
    [
        {},
        {"vocab_size": 3, "seq_len": 4, "min_length": 2, "max_length": 2},  # every bound reached
        {"vocab_size": 9, "seq_len": 16, "min_length": 4, "max_length": 8},  # 2 * max_length == seq_len
        {"vocab_size": 9, "seq_len": 16, "min_length": 8, "max_length": 8},  # no filler, one place
        {"vocab_size": 4, "seq_len": 9, "min_length": 2, "max_length": 3},  # few tokens, much filler
    ],
    ids=["default", "smallest", "longest", "no-filler", "few-tokens"],
)
def test_batches_are_the_documented_draws(sizes):
    """Also the tasks at the bounds `InductionTask` accepts."""
    task = InductionTask(**sizes)
    drawn = induction_batch(task, 50, torch.Generator().manual_seed(11))
    for name, expected in reference_batch(task, 50, 11).items():
        assert np.array_equal(getattr(drawn, name).numpy(), expected), name
    if task.min_length == task.max_length == task.seq_len // 2:  # both copies fill the sequence
        assert torch.all(drawn.starts == 0) and torch.all(drawn.offsets == task.max_length)


def test_tasks_past_their_bounds_are_refused():
    message = "^need 2 <= min_length <= max_length < vocab_size and 2 \\* max_length <= seq_len, got {}$"
    for sizes in (
        {"vocab_size": 8, "seq_len": 16, "min_length": 3, "max_length": 8},  # max_length == vocab_size
        {"vocab_size": 20, "seq_len": 15, "min_length": 3, "max_length": 8},  # 2 * max_length > seq_len
        {"vocab_size": 20, "seq_len": 24, "min_length": 1, "max_length": 8},
        {"vocab_size": 20, "seq_len": 24, "min_length": 5, "max_length": 4},
    ):
        got = ", ".join(f"{name}={sizes[name]}" for name in ("min_length", "max_length", "vocab_size", "seq_len"))
        with pytest.raises(ValueError, match=message.format(got)):
            InductionTask(**sizes)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: InductionTask(vocab_size=0), ValueError, "vocab_size must be at least 1, got 0"),
        (lambda: InductionTask(seq_len=2.5), TypeError, "seq_len must be an int, got float"),
        (lambda: induction_batch(TASK, 0, torch.Generator()), ValueError, "batch_size must be at least 1, got 0"),
        (lambda: list(training_batches(TASK, seed=0, steps=0, batch_size=4)), ValueError, "steps must be at least 1"),
        (lambda: InductionModel(0, 24), ValueError, "vocab_size must be at least 1, got 0"),
        (lambda: InductionModel(20, 0), ValueError, "seq_len must be at least 1, got 0"),
        (lambda: InductionModel(20, 24, d_model=0), ValueError, "d_model must be at least 1, got 0"),
        (lambda: InductionModel(20, 24, num_heads=0), ValueError, "num_heads must be at least 1, got 0"),
        (lambda: InductionModel(20, 24, num_layers=0), ValueError, "num_layers must be at least 1, got 0"),
        (lambda: InductionModel(20, 24)([1, 2, 3]), TypeError, "tokens must be a torch.Tensor, got list"),
    ],
    ids=[
        "task-vocab_size",
        "task-seq_len",
        "batch_size",
        "steps",
        *(f"model-{name}" for name in ("vocab_size", "seq_len", "d_model", "num_heads", "num_layers", "tokens")),
    ],
)
def test_refusals_name_the_argument(call, error, message):
    with pytest.raises(error, match=f"^{message}"):
        call()


def test_tokens_of_any_batch_shape_and_length(batch):
    model = induction_model(TASK, seed=1)
    tokens = batch.tokens[:6]
    with torch.no_grad():
        logits = model(tokens)
        assert_close(model(tokens[0]), logits[0])  # unbatched
        assert_close(model(tokens.reshape(2, 3, 24)), logits.reshape(2, 3, 24, 20))
        wide = batch.tokens[:30, :5].reshape(1, 30, 5)  # a batch axis longer than seq_len
        assert_close(model(wide)[0], model(batch.tokens[:30, :5]))
        # Causal: a prefix's logits are the full sequence's first logits, down to one token.
        for length in (1, 2, 7):
            assert_close(model(tokens[:, :length]), logits[:, :length])


def test_the_model_follows_its_tokens_device_not_the_default_one(batch):
    """Under another default device (CUDA: where it is absent, creating a tensor there fails; where it is
    present, the model and tokens are elsewhere), a model and tokens on the CPU compute on the CPU."""
    model = induction_model(TASK, seed=1)
    tokens = batch.tokens[:2]
    with torch.no_grad():
        expected, ablated = model(tokens), model(tokens, ablate=[(1, 0)])
        with torch.device("cuda"):
            assert torch.equal(model(tokens), expected)
            assert torch.equal(model(tokens, ablate=[(1, 0)]), ablated)


def ablated_reference(model: InductionModel, tokens: torch.Tensor, ablate: set[tuple[int, int]]) -> torch.Tensor:
    """The logits with the heads in ``ablate`` zeroed: each such head's slice of the concatenated context
    set to zero before the layer's output projection."""
    stream = model.token_embedding(tokens) + model.position_embedding.weight[: tokens.shape[-1]]
    for index, layer in enumerate(model.layers):
        heads = [head for at, head in ablate if at == index]
        if not heads:
            stream = stream + layer(stream)
            continue
        concatenated = layer.steps(stream).concatenated.clone()
        for head in heads:
            concatenated[..., head * layer.head_dim : (head + 1) * layer.head_dim] = 0
        stream = stream + layer.out_proj(concatenated)
    return model.unembedding(stream)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_head_can_be_ablated(batch, dtype):
    model = induction_model(TASK, seed=2).to(dtype)
    tokens = batch.tokens[:4]
    with torch.no_grad():
        for ablate in ({(0, 0)}, {(1, 0), (1, 1)}, {(0, 1), (1, 0)}):
            logits = model(tokens, ablate=ablate)
            assert logits.dtype == dtype
            assert_close(logits, ablated_reference(model, tokens, ablate))
    with pytest.raises(ValueError, match=r"ablate: no head \(0, 2\); layers are 0..1 and heads 0..1"):
        model(tokens, ablate=[(0, 2)])


def test_a_one_layer_model_can_be_ablated(batch):
    one_layer = InductionModel(20, 24, num_layers=1)
    tokens = batch.tokens[:4]
    with torch.no_grad():
        assert_close(one_layer(tokens, ablate=[(0, 1)]), ablated_reference(one_layer, tokens, {(0, 1)}))
    with pytest.raises(ValueError, match=r"ablate: no head \(1, 0\); layers are 0..0 and heads 0..1$"):
        one_layer(tokens, ablate=[(1, 0)])


def test_accuracy_with_ablated_heads_against_numpy(batch):
    model = induction_model(TASK, seed=1)
    with torch.no_grad():
        logits = model(batch.tokens, ablate=[(0, 1)]).numpy()
    tokens, predictable = batch.tokens.numpy(), batch.predictable.numpy()
    right = logits[:, :-1].argmax(axis=-1) == tokens[:, 1:]
    expected = right[predictable[:, :-1]].mean()
    assert accuracy(model, batch, ablate=[(0, 1)]) == pytest.approx(expected, abs=1e-7)
    assert accuracy(model, batch, ablate=[(0, 1)]) != accuracy(model, batch)


def test_pattern_targets_are_boolean(batch):
    assert previous_token_targets(batch).dtype == torch.bool and induction_targets(batch).dtype == torch.bool


def test_argmax_on_target_with_a_head_axis_of_one():
    weights = torch.tensor([[[0.7, 0.3], [0.4, 0.6]], [[1.0, 0.0], [0.9, 0.1]]])
    targets = torch.tensor([[[True, False], [False, True]], [[False, True], [False, True]]])
    queries = torch.tensor([[True, True], [False, True]])
    assert argmax_on_target(weights[:, None], targets[:, None], queries[:, None]) == pytest.approx(2 / 3)


def test_induction_model_takes_its_sizes_and_seed():
    model = induction_model(TASK, d_model=12, num_heads=4)
    assert model.token_embedding.embedding_dim == 12 and model.layers[0].num_heads == 4
    default, zero, one = (induction_model(TASK, **seed).state_dict() for seed in ({}, {"seed": 0}, {"seed": 1}))
    assert all(torch.equal(default[name], zero[name]) for name in default)
    assert not torch.equal(default["token_embedding.weight"], one["token_embedding.weight"])


def test_training_is_adamw_on_the_predictable_positions():
    """Two steps of `train_induction_model` (its default learning rate and batch size, other sizes and seed)
    against the loop its docstring describes, written with torch's AdamW on one thread."""
    task = InductionTask(vocab_size=12, seq_len=16, min_length=2, max_length=5)
    sizes = {"d_model": 16, "num_heads": 4}
    trained = train_induction_model(task, seed=3, steps=2, **sizes)
    model = induction_model(task, seed=3, **sizes)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)  # AdamW's weight decay: 0.01
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for drawn in training_batches(task, seed=3, steps=2, batch_size=64):
            predictable = drawn.predictable[:, :-1]
            logits = model(drawn.tokens)[:, :-1][predictable]
            loss = torch.nn.functional.cross_entropy(logits, drawn.tokens[:, 1:][predictable])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    finally:
        torch.set_num_threads(threads)
    for actual, expected in zip(trained.parameters(), model.parameters(), strict=True):
        assert_close(actual, expected)


def test_training_defaults_are_the_pages(monkeypatch):
    """docs/trained.md: 1000 steps on batches of 64 sequences from the seed 0, on one CPU thread. The
    batches are recorded, and only two of them drawn."""
    calls, threads = [], []

    def recorded(task, *, seed, steps, batch_size):
        calls.append({"seed": seed, "steps": steps, "batch_size": batch_size})
        for drawn in training_batches(task, seed=seed, steps=2, batch_size=2):
            threads.append(torch.get_num_threads())
            yield drawn

    monkeypatch.setattr(toy, "training_batches", recorded)
    train_induction_model()
    assert calls == [{"seed": 0, "steps": 1000, "batch_size": 64}] and threads == [1, 1]
