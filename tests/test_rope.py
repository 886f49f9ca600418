"""RoPE against the formula pair by pair, the complex formulation and the split-halves layout."""

from __future__ import annotations

import pytest
import torch

from selfattention import KVCache, MultiHeadAttention, apply_rope, halves_to_pairs, rope_angles
from tests.conftest import DEVICES, assert_close, randn
from tests.references import rope_complex, rope_halves, rope_pairs


# Each dtype once; the default base, a larger one (Llama 3) and a small one (fast rotations).
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    ("dtype", "base"), [(torch.float64, 10000.0), (torch.float32, 500000.0), (torch.float64, 10.0)]
)
def test_equals_the_pairwise_formula_and_the_complex_formulation(device, dtype, base):
    x = randn(2, 3, 9, 8, seed=1, dtype=dtype, device=device)  # (batch, heads, seq_len, head_dim)
    positions = torch.arange(9)
    result = apply_rope(x, base=base).cpu()
    assert_close(result, rope_pairs(x.cpu(), positions, base), dtype)
    assert_close(result, rope_complex(x.cpu(), positions, base), dtype)
    explicit = apply_rope(x, torch.arange(9, device=device), base=base).cpu()
    torch.testing.assert_close(explicit, result, atol=0, rtol=0)


def test_given_positions_and_float_positions():
    x = randn(4, 6, seed=1, dtype=torch.float64)
    positions = torch.tensor([5, 0, 17, 3])
    assert_close(apply_rope(x, positions), rope_pairs(x, positions))
    assert_close(apply_rope(x, positions.double()), rope_pairs(x, positions))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_norm_is_preserved(dtype):
    x = randn(3, 50, 16, seed=1, dtype=dtype)
    rotated = apply_rope(x)
    assert_close(rotated.norm(dim=-1), x.norm(dim=-1))
    pairs = rotated.unflatten(-1, (8, 2)).norm(dim=-1)  # each pair keeps its own length too
    assert_close(pairs, x.unflatten(-1, (8, 2)).norm(dim=-1))


# Each dtype once, with a small and a large shift (float32 angles of about 100 radians).
@pytest.mark.parametrize(("dtype", "shift"), [(torch.float64, 7), (torch.float32, 100)])
def test_scores_depend_only_on_the_offset(dtype, shift):
    q, k = randn(6, 8, seed=2, dtype=dtype), randn(6, 8, seed=3, dtype=dtype)
    positions = torch.tensor([0, 1, 2, 5, 9, 20])
    scores = apply_rope(q, positions) @ apply_rope(k, positions).T
    shifted = apply_rope(q, positions + shift) @ apply_rope(k, positions + shift).T
    # Angles of up to about 120 radians: float32 rounds them to about 1e-5, float64 to about 1e-14.
    tol = 1e-11 if dtype == torch.float64 else 5e-5
    torch.testing.assert_close(shifted, scores, atol=tol, rtol=tol)
    # and the score of q at m with k at n is that of q at m - n with k at 0
    m, n = 9, 5
    one = apply_rope(q[:1], torch.tensor([m])) @ apply_rope(k[:1], torch.tensor([n])).T
    offset = apply_rope(q[:1], torch.tensor([m - n])) @ k[:1].T
    torch.testing.assert_close(one, offset, atol=tol, rtol=tol)


def test_position_zero_is_the_identity_and_the_angles():
    x = randn(1, 10, seed=1, dtype=torch.float64)
    assert torch.equal(apply_rope(x), x)
    angles = rope_angles(torch.arange(3, dtype=torch.float64), 4, base=100.0)
    expected = torch.tensor([[0.0, 0.0], [1.0, 0.1], [2.0, 0.2]], dtype=torch.float64)
    torch.testing.assert_close(angles, expected, atol=1e-15, rtol=0)


def test_halves_to_pairs_converts_between_the_conventions():
    d = 8
    perm = halves_to_pairs(d)
    assert perm.tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    assert torch.equal(perm.argsort()[perm], torch.arange(d))
    x = randn(2, 5, d, seed=1, dtype=torch.float64)
    positions = torch.arange(5)
    # rotating the reordered vector with interleaved pairs = reordering the split-halves rotation
    assert_close(apply_rope(x[..., perm]), rope_halves(x, positions)[..., perm])
    # without the conversion the two conventions disagree
    assert not torch.allclose(apply_rope(x), rope_halves(x, positions))


def test_converted_weights_give_the_same_scores():
    """A query/key projection trained for split halves, its rows reordered per head."""
    heads, d, d_in = 2, 6, 5
    w_q, w_k = randn(heads * d, d_in, seed=4, dtype=torch.float64), randn(heads * d, d_in, seed=5, dtype=torch.float64)
    x = randn(7, d_in, seed=6, dtype=torch.float64)
    positions = torch.arange(7)

    def scores(q_rows, k_rows, rotate):
        q = (x @ q_rows.T).view(7, heads, d).transpose(0, 1)
        k = (x @ k_rows.T).view(7, heads, d).transpose(0, 1)
        return rotate(q) @ rotate(k).transpose(-2, -1)

    halves = scores(w_q, w_k, lambda t: rope_halves(t, positions))
    perm = halves_to_pairs(d)

    def convert(w):
        return w.view(heads, d, d_in)[:, perm].reshape(heads * d, d_in)

    pairs = scores(convert(w_q), convert(w_k), apply_rope)
    assert_close(pairs, halves)


def test_module_rope_rotates_queries_and_keys_by_position():
    torch.manual_seed(0)
    attention = MultiHeadAttention(4, 8, 2, rope=True).double()
    x = randn(5, 4, seed=1, dtype=torch.float64)
    steps = attention.steps(x)
    q = (x @ attention.w_query.weight.detach().T).view(5, 2, 4).transpose(0, 1)
    assert_close(steps.queries, rope_pairs(q, torch.arange(5)))


@pytest.mark.parametrize("rope_base", [10000.0, 100.0])  # the default base, and another
def test_module_rope_base_sets_the_angles_of_queries_and_keys(rope_base):
    """rope_base reaches both rotations, in one call and through a KV cache (positions continue)."""
    torch.manual_seed(0)
    attention = MultiHeadAttention(4, 8, 2, causal=True, rope=True, rope_base=rope_base).double()
    x = randn(5, 4, seed=1, dtype=torch.float64)
    steps = attention.steps(x)
    q = (x @ attention.w_query.weight.detach().T).view(5, 2, 4).transpose(0, 1)
    k = (x @ attention.w_key.weight.detach().T).view(5, 2, 4).transpose(0, 1)
    assert_close(steps.queries, rope_pairs(q, torch.arange(5), rope_base))
    assert_close(steps.keys, rope_pairs(k, torch.arange(5), rope_base))
    cache = KVCache()
    with torch.no_grad():
        stepped = torch.cat([attention(x[:3], cache=cache), attention(x[3:], cache=cache)], dim=-2)
        assert_close(stepped, attention(x))
    assert (f", rope_base={rope_base:g}" in repr(attention)) == (rope_base != 10000.0)


def test_module_rope_base_changes_the_output():
    """A module built with another base gives other outputs from the same weights."""
    torch.manual_seed(0)
    default = MultiHeadAttention(4, 8, 2, rope=True).double()
    other = MultiHeadAttention(4, 8, 2, rope=True, rope_base=500000.0).double()
    other.load_state_dict(default.state_dict())
    x = randn(6, 4, seed=1, dtype=torch.float64)
    with torch.no_grad():
        assert not torch.allclose(default(x), other(x), atol=1e-6)
