"""The trained model of docs/trained.md beyond the page: its circuit on another held-out set, and the
maps the site build draws from it (sitebuild/attention_maps.py trains it as the page does).

Tier 2: training the model costs about 11 CPU-seconds, and tier 1 already trains it once, on the page."""

from __future__ import annotations

import torch

from selfattention.toy import (
    InductionTask,
    accuracy,
    attention_maps,
    head_scores,
    induction_batch,
    induction_targets,
    previous_token_targets,
)
from sitebuild import attention_maps as hook

TASK = InductionTask()


def test_the_trained_model_learns_the_circuit(trained_induction_model):
    """The claims of docs/trained.md, on another held-out set than the page's."""
    model = trained_induction_model
    held_out = induction_batch(TASK, 1000, torch.Generator().manual_seed(99))
    assert accuracy(model, held_out) >= 0.95
    weights = attention_maps(model, held_out.tokens)
    previous = head_scores(weights[0], previous_token_targets(held_out), held_out.first_copy)
    induction = head_scores(weights[1], induction_targets(held_out), held_out.predictable)
    assert max(previous) >= 0.95 and max(induction) >= 0.95
    head = previous.index(max(previous))
    assert accuracy(model, held_out, ablate=[(0, head)]) < 0.3
    assert accuracy(model, held_out, ablate=[(1, 0), (1, 1)]) < 0.1


def test_trained_maps_are_drawn_from_the_pages_model():
    """The maps of docs/trained.md: the model trained with the page's task, seed and function,
    its heads as the page finds them, on the page's example sequence, on one scale 0..1."""
    from selfattention.toy import InductionTask, attention_maps, induction_batch, train_induction_model

    task = InductionTask()
    example = induction_batch(task, 1, torch.Generator().manual_seed(1))
    assert hook.TASK == task and torch.equal(hook.EXAMPLE.tokens, example.tokens)
    weights = attention_maps(train_induction_model(task, seed=0), example.tokens)[:, 0]
    previous_head, induction_head = hook.trained_heads()
    assert torch.equal(hook.trained_weights(0), weights[0, previous_head])
    assert torch.equal(hook.trained_weights(1), weights[1, induction_head])
    positions = torch.arange(24)
    # What the page says the maps show: the previous token at queries 1 to 20 (where a first copy
    # can lie), and from the second copy on (queries 13 to 19), the key offset - 1 = 9 back.
    assert torch.equal(hook.trained_weights(0).argmax(-1)[1:21], positions[0:20])
    assert torch.equal(hook.trained_weights(1).argmax(-1)[13:20], positions[13:20] - 9)
    untrained = hook.untrained_weights()
    assert untrained[4:].max() < 0.5 and not torch.equal(untrained, hook.trained_weights(0))
    for name in ("trained-previous", "trained-induction", "untrained-previous"):
        compute, _, options = hook.MAPS[name]
        assert options["vmin"] == 0.0 and options["vmax"] == 1.0
        torch.testing.assert_close(compute().sum(-1), torch.ones(24))
        assert hook.tokens_for(name) == [str(token) for token in example.tokens[0].tolist()]


def test_the_trained_map_is_the_same_on_every_build():
    trained = hook.render("trained-induction", "dark")
    assert trained.startswith(b"<?xml") and b"<svg" in trained
    assert hook.render("trained-induction", "dark") == trained
