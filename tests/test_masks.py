"""Padding masks: ``padding_mask`` against a loop over the lengths, and a padded batch under a key
mask giving each sequence the outputs it gets on its own."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from selfattention import MultiHeadAttention, SelfAttention, causal_and, causal_mask, padding_mask
from tests.conftest import DEVICES, assert_close, randn


def padding_reference(lengths: list[int], seq_len: int) -> torch.Tensor:
    """Row b: ``lengths[b]`` times True, then False up to ``seq_len``, written entry by entry."""
    return torch.tensor([[position < length for position in range(seq_len)] for length in lengths], dtype=torch.bool)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("lengths", "seq_len"), [([3, 1, 4], None), ([3, 1, 4], 6), ([0, 2], None), ([5], 5), ([0, 0], None)]
)
def test_padding_mask_equals_the_reference(device, lengths, seq_len):
    expected_len = max(lengths) if seq_len is None else seq_len
    expected = padding_reference(lengths, expected_len)
    for given in (
        lengths,
        tuple(lengths),
        torch.tensor(lengths, device=device),
        torch.tensor(lengths, dtype=torch.int32),
    ):
        mask = padding_mask(given, seq_len)
        assert mask.dtype == torch.bool
        assert mask.shape == (len(lengths), expected_len)
        assert torch.equal(mask.cpu(), expected)
    assert padding_mask(torch.tensor(lengths, device=device)).device.type == torch.device(device).type


def test_padding_mask_of_an_empty_batch():
    assert padding_mask([]).shape == (0, 0)
    assert padding_mask(torch.zeros(0, dtype=torch.long), 3).shape == (0, 3)


@pytest.mark.parametrize(
    ("lengths", "seq_len", "error", "message"),
    [
        (torch.tensor([2.0, 1.0]), None, TypeError, "lengths must be an integer tensor, got dtype torch.float32"),
        (torch.tensor([True, False]), None, TypeError, "lengths must be an integer tensor, got dtype torch.bool"),
        ([2, 1.5], None, TypeError, "lengths must be an int, got float"),
        ("ab", None, TypeError, "lengths must be a 1-D integer tensor or a sequence of ints, got str"),
        (3, None, TypeError, "lengths must be a 1-D integer tensor or a sequence of ints, got int"),
        (torch.tensor([[2, 1]]), None, ValueError, r"lengths must have shape \(batch,\).*got shape \(1, 2\)"),
        (torch.tensor([2, -1]), None, ValueError, r"lengths must be at least 0, got \[2, -1\]"),
        ([2, -1], None, ValueError, "lengths must be at least 0, got -1"),
        ([2, 5], 4, ValueError, "lengths must be at most seq_len=4, got a length of 5"),
        ([2, 1], -1, ValueError, "seq_len must be at least 0, got -1"),
        ([2, 1], 3.0, TypeError, "seq_len must be an int, got float"),
    ],
)
def test_padding_mask_refuses_bad_input_by_name(lengths, seq_len, error, message):
    with pytest.raises(error, match=message):
        padding_mask(lengths, seq_len)


def pad(sequences: list[torch.Tensor], seq_len: int, *, left: bool) -> torch.Tensor:
    """The sequences ``(length, d)`` stacked into ``(batch, seq_len, d)``, filled up with random vectors
    (not zeros: a key mask must hide whatever the padding holds)."""
    batch = randn(len(sequences), seq_len, sequences[0].shape[-1], seed=99) * 3
    for b, sequence in enumerate(sequences):
        length = sequence.shape[0]
        if left:
            batch[b, seq_len - length :] = sequence
        else:
            batch[b, :length] = sequence
    return batch


@pytest.mark.parametrize("left", [False, True], ids=["right", "left"])
@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_a_padded_batch_gives_each_sequence_its_outputs_alone(left, causal):
    lengths = [7, 3, 5, 1]
    sequences = [randn(length, 8, seed=length) for length in lengths]
    batch = pad(sequences, 7, left=left)
    keep = padding_mask(lengths, 7)
    keep = keep.flip(-1) if left else keep
    torch.manual_seed(0)
    attention = MultiHeadAttention(d_in=8, d_out=8, num_heads=2, causal=causal).eval()
    with torch.no_grad():
        padded = attention(batch, mask=keep[:, None, None, :])  # (batch, 1, 1, seq_len): a key mask
        for b, (sequence, length) in enumerate(zip(sequences, lengths, strict=True)):
            real = slice(7 - length, 7) if left else slice(0, length)
            assert_close(padded[b, real], attention(sequence))
            if causal and left:  # the padding's queries see only padding: zero outputs, no NaN
                assert torch.equal(padded[b, : 7 - length], torch.zeros(7 - length, 8) + attention.out_proj.bias)
        assert not padded.isnan().any()


@pytest.mark.parametrize("left", [False, True], ids=["right", "left"])
def test_a_key_mask_of_three_dimensions_and_causal_and(left):
    """The single-head form: a key mask ``(batch, 1, seq_len)`` with ``causal_and``, against
    ``F.scaled_dot_product_attention`` on each sequence alone."""
    lengths = [2, 5, 4]
    sequences = [randn(length, 3, seed=10 + length) for length in lengths]
    batch = pad(sequences, 5, left=left)
    keep = padding_mask(torch.tensor(lengths), 5)
    keep = keep.flip(-1) if left else keep
    torch.manual_seed(1)
    layer = SelfAttention(d_in=3, d_out=4)
    mask = causal_and(keep[:, None, :], 5)
    assert torch.equal(mask, causal_mask(5) & keep[:, None, :])
    with torch.no_grad():
        padded = layer(batch, mask=mask)
        for b, (sequence, length) in enumerate(zip(sequences, lengths, strict=True)):
            real = slice(5 - length, 5) if left else slice(0, length)
            queries, keys, values = layer.project(sequence)
            expected = F.scaled_dot_product_attention(queries, keys, values, is_causal=True, scale=layer.scale)
            assert_close(padded[b, real], expected)
