"""The induction task, the model, its training, and the checks of docs/trained.md."""

from __future__ import annotations

import numpy as np
import pytest
import torch

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


def test_training_is_deterministic_and_leaves_the_callers_state_alone():
    torch.manual_seed(42)
    expected_next = torch.rand(3)
    torch.manual_seed(42)
    threads = torch.get_num_threads()
    first = train_induction_model(TASK, seed=5, steps=3)
    assert torch.equal(torch.rand(3), expected_next) and torch.get_num_threads() == threads
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
