"""The hand-written backward pass of blockwise attention, against autograd through the naive form.

The reference is ``softmax(Q K^T * scale + mask) V`` written out here with torch operations,
differentiated by torch.autograd: independent of the package's code.
"""

import math

import pytest
import torch

from selfattention import BlockwiseGradients, blockwise_attention, blockwise_attention_gradients, checks
from selfattention.blockwise import _BlockwiseAttention
from tests.conftest import assert_close, randn


def naive_attention(queries, keys, values, *, causal=False, scale=None):
    """softmax(Q K^T * scale) V, written out, with the causal mask when asked."""
    scale = 1.0 / math.sqrt(queries.shape[-1]) if scale is None else scale
    scores = queries @ keys.transpose(-2, -1) * scale
    if causal:
        n_q, n_k = scores.shape[-2:]
        blocked = torch.ones(n_q, n_k, dtype=torch.bool).triu(diagonal=1)
        scores = scores.masked_fill(blocked, float("-inf"))
    return torch.softmax(scores, dim=-1) @ values


def random_inputs(*batch, n_q=37, n_k=37, d_k=16, d_v=12, dtype=torch.float64, seed=0):
    """queries, keys, values and the output's gradient dO, of shapes (*batch, n, d)."""
    return [
        randn(*batch, n_q, d_k, seed=seed, dtype=dtype),
        randn(*batch, n_k, d_k, seed=seed + 1000, dtype=dtype),
        randn(*batch, n_k, d_v, seed=seed + 2000, dtype=dtype),
        randn(*batch, n_q, d_v, seed=seed + 3000, dtype=dtype),  # dO
    ]


def gradients(function, queries, keys, values, grad_output):
    leaves = [t.detach().clone().requires_grad_() for t in (queries, keys, values)]
    output = function(*leaves)
    output.backward(grad_output)
    return output.detach(), [leaf.grad for leaf in leaves]


def assert_gradients_equal(block_size, causal, queries, keys, values, grad_output, *, dtype=None, scale=None):
    """Output and gradients of blockwise_attention equal autograd's through the naive form, within the
    tolerance of ``dtype`` (by default the inputs' dtype). float32: the gradients are sums over up to n_k
    terms in another order than autograd's; relative to their size they agree to about 1e-6 at n = 37."""
    expected_output, expected = gradients(
        lambda q, k, v: naive_attention(q, k, v, causal=causal, scale=scale), queries, keys, values, grad_output
    )
    output, actual = gradients(
        lambda q, k, v: blockwise_attention(q, k, v, block_size=block_size, is_causal=causal, scale=scale),
        queries,
        keys,
        values,
        grad_output,
    )
    assert_close(output, expected_output, dtype)
    for name, got, want in zip(("queries", "keys", "values"), actual, expected, strict=True):
        assert got.shape == want.shape, name
        try:
            assert_close(got, want, dtype)
        except AssertionError as error:
            raise AssertionError(f"d{name}: {error}") from None


# n = 37. Block sizes: 1 (a block per row), 5 (the last block partial), 37 (one block, exactly n),
# 100 (one block, larger than n); causal or not (the causal backward skips the tiles above the diagonal).
# Block size 1 without the mask (1,369 tiles) runs no code that block size 5 does not run.
@pytest.mark.parametrize(("block_size", "causal"), [(1, True), (5, False), (5, True), (37, True), (100, False)])
def test_float64_gradients_equal_autograd_through_the_naive_form(block_size, causal):
    inputs = random_inputs(2, 3)  # (batch, heads, n, d)
    assert_gradients_equal(block_size, causal, *inputs)


# More keys than queries, fewer, and a single query; block sizes that do not divide n_k, and one larger.
@pytest.mark.parametrize(("n_q", "n_k", "block_size"), [(9, 40, 4), (40, 9, 9), (1, 17, 64)])
def test_more_or_fewer_keys_than_queries(block_size, n_q, n_k):
    inputs = random_inputs(3, n_q=n_q, n_k=n_k, seed=1)
    assert_gradients_equal(block_size, False, *inputs, scale=0.3)


@pytest.mark.parametrize(("block_size", "causal"), [(3, False), (16, True)])
def test_float32_gradients_within_the_documented_tolerance(block_size, causal):
    inputs = random_inputs(2, 2, dtype=torch.float32, seed=2)
    assert_gradients_equal(block_size, causal, *inputs)


def test_unbatched_inputs():
    inputs = random_inputs(n_q=11, n_k=11, seed=3)
    assert_gradients_equal(4, True, *inputs)


def test_large_scores_give_finite_gradients():
    queries, keys, values, grad_output = random_inputs(2, seed=4)
    # Scores up to about 30 * 30 * 16 / 4: the gradients are large, and agree to 1e-12 relative to their size.
    assert_gradients_equal(8, True, queries * 30, keys * 30, values, grad_output)


@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck(causal):
    queries, keys, values, _ = random_inputs(2, n_q=6, n_k=6, d_k=4, d_v=3, seed=5)
    leaves = [t.requires_grad_() for t in (queries, keys, values)]
    assert torch.autograd.gradcheck(
        lambda q, k, v: blockwise_attention(q, k, v, block_size=4, is_causal=causal), leaves
    )


def test_gradcheck_with_more_keys_than_queries():
    queries, keys, values, _ = random_inputs(n_q=3, n_k=7, d_k=4, d_v=2, seed=6)
    leaves = [t.requires_grad_() for t in (queries, keys, values)]
    assert torch.autograd.gradcheck(lambda q, k, v: blockwise_attention(q, k, v, block_size=2), leaves)


def test_no_keys_gives_zero_output_and_zero_finite_gradients():
    # Every query fully masked: no key at all. The naive softmax is NaN here; blockwise gives 0.
    queries, keys, values, grad_output = random_inputs(2, n_q=5, n_k=0, seed=7)
    leaves = [t.requires_grad_() for t in (queries, keys, values)]
    output = blockwise_attention(*leaves, block_size=2)
    assert torch.equal(output, torch.zeros(2, 5, 12, dtype=torch.float64))
    output.backward(grad_output)
    assert torch.equal(leaves[0].grad, torch.zeros_like(queries))
    assert leaves[1].grad.shape == keys.shape and leaves[2].grad.shape == values.shape
    stats = blockwise_attention_gradients(queries.detach(), keys.detach(), values.detach(), grad_output, block_size=2)
    assert torch.isneginf(stats.logsumexp).all()
    assert torch.equal(stats.grad_queries, torch.zeros_like(queries))


def test_fully_masked_rows_in_the_backward_give_zero_not_nan():
    # A row with L = -inf (no key to attend to): P = 0, so the row adds nothing to dV and dK and
    # its dQ is 0. Rows 0 and 2 are fully masked here, by attn_mask.
    queries, keys, values, grad_output = random_inputs(n_q=4, n_k=6, seed=8)
    mask = torch.ones(4, 6, dtype=torch.bool)
    mask[[0, 2]] = False
    leaves = [t.clone().requires_grad_() for t in (queries, keys, values)]
    output = blockwise_attention(*leaves, mask, scale=1.0, block_size=4)
    output.backward(grad_output)
    dq, dk, dv = (leaf.grad for leaf in leaves)
    assert all(torch.isfinite(t).all() for t in (output, dq, dk, dv))
    assert torch.equal(output[[0, 2]], torch.zeros(2, output.shape[-1], dtype=torch.float64))
    assert torch.equal(dq[[0, 2]], torch.zeros(2, 16, dtype=torch.float64))
    kept = [1, 3]  # the gradients equal those of the two unmasked rows alone
    _, expected = gradients(
        lambda q, k, v: naive_attention(q, k, v, scale=1.0), queries[kept], keys, values, grad_output[kept]
    )
    assert_close(dq[kept], expected[0])
    assert_close(dk, expected[1])
    assert_close(dv, expected[2])
    stats = blockwise_attention_gradients(queries, keys, values, grad_output, mask, scale=1.0, block_size=4)
    assert torch.isneginf(stats.logsumexp[[0, 2]]).all() and torch.isfinite(stats.logsumexp[kept]).all()
    assert_close(stats.grad_keys, dk)


def test_no_queries():
    queries, keys, values, grad_output = random_inputs(n_q=0, n_k=4, seed=9)
    leaves = [t.requires_grad_() for t in (queries, keys, values)]
    output = blockwise_attention(*leaves, block_size=2)
    assert output.shape == (0, 12)
    output.backward(grad_output)
    assert torch.equal(leaves[1].grad, torch.zeros_like(keys))
    assert torch.equal(leaves[2].grad, torch.zeros_like(values))


def test_causal_backward_skips_the_tiles_above_the_diagonal(monkeypatch):
    # With 4 blocks of queries and keys, the causal backward needs 4 + 3 + 2 + 1 = 10 tiles of 16.
    import selfattention.blockwise as blockwise

    tiles = []
    original = blockwise._scores_tile

    def counting(*args, **kwargs):
        tiles.append((kwargs["q_start"], kwargs["k_start"]))
        return original(*args, **kwargs)

    monkeypatch.setattr(blockwise, "_scores_tile", counting)
    queries, keys, values, grad_output = random_inputs(n_q=16, n_k=16, seed=10)
    blockwise_attention_gradients(queries, keys, values, grad_output, block_size=4, is_causal=True)
    backward = tiles[len(tiles) // 2 :]  # the forward visits the same 10 tiles first
    assert len(tiles) == 20
    assert sorted(backward) == [(q, k) for q in range(0, 16, 4) for k in range(0, q + 1, 4)]


def test_the_forward_saves_nothing_n_by_n():
    queries, keys, values, _ = random_inputs(1, n_q=64, n_k=64, seed=11)
    leaves = [t.requires_grad_() for t in (queries, keys, values)]
    output = blockwise_attention(*leaves, block_size=8)
    saved = output.grad_fn.saved_tensors
    assert [tuple(t.shape) for t in saved] == [(1, 64, 16), (1, 64, 16), (1, 64, 12), (1, 64, 12), (1, 64, 1)]


def test_the_statistics_are_the_log_sum_exp_and_delta():
    queries, keys, values, grad_output = random_inputs(2, n_q=10, n_k=13, seed=12)
    result = blockwise_attention_gradients(queries, keys, values, grad_output, block_size=4, scale=0.5)
    assert isinstance(result, BlockwiseGradients)
    scores = queries @ keys.transpose(-2, -1) * 0.5
    assert_close(result.logsumexp, torch.logsumexp(scores, dim=-1, keepdim=True))
    output = naive_attention(queries, keys, values, scale=0.5)
    assert_close(result.output, output)
    assert_close(result.delta, (grad_output * output).sum(-1, keepdim=True))
    _, expected = gradients(lambda q, k, v: naive_attention(q, k, v, scale=0.5), queries, keys, values, grad_output)
    for got, want in zip((result.grad_queries, result.grad_keys, result.grad_values), expected, strict=True):
        assert_close(got, want)


def test_gradients_function_refuses_a_bad_grad_output():
    queries, keys, values, grad_output = random_inputs(n_q=4, n_k=4, seed=13)
    with pytest.raises(
        ValueError, match=r"grad_output must have the output's shape \(\.\.\., n_q, d_v\) = \(4, 12\), got \(4, 11\)"
    ):
        blockwise_attention_gradients(queries, keys, values, grad_output[:, :11])
    with pytest.raises(TypeError, match=r"grad_output and query must have one dtype, got torch.float32 and torch.f"):
        blockwise_attention_gradients(queries, keys, values, grad_output.float())
    with pytest.raises(ValueError, match=r"grad_output and query must be on one device, got meta and cpu"):
        blockwise_attention_gradients(queries, keys, values, grad_output.to("meta"))
    with pytest.raises(TypeError, match=r"grad_output must be a torch.Tensor, got list"):
        blockwise_attention_gradients(queries, keys, values, grad_output.tolist())


def test_second_derivatives_differentiate_through_the_backward():
    # The backward is made of differentiable operations and handles a gradient of the
    # log-sum-exp, so create_graph=True and torch.func.hessian give the naive form's results.
    queries, keys, values, _ = random_inputs(n_q=5, n_k=6, d_k=3, d_v=2, seed=14)
    leaves = [t.clone().requires_grad_() for t in (queries, keys, values)]
    assert torch.autograd.gradgradcheck(lambda q, k, v: blockwise_attention(q, k, v, block_size=2), leaves)
    hessian = torch.func.hessian(lambda q: blockwise_attention(q, keys, values, is_causal=True, block_size=2).sum())
    expected = torch.func.hessian(lambda q: naive_attention(q, keys, values, causal=True).sum())
    assert_close(hessian(queries), expected(queries))


def test_inference_needs_no_saved_tensors():
    queries, keys, values, _ = random_inputs(n_q=5, n_k=5, seed=15)
    with torch.inference_mode():
        output = blockwise_attention(queries, keys, values, block_size=2)
    assert output.grad_fn is None
    assert_close(output, naive_attention(queries, keys, values))


def test_it_is_an_autograd_function():
    queries, keys, values, _ = random_inputs(n_q=5, n_k=5, seed=16)
    output = blockwise_attention(queries.requires_grad_(), keys, values)
    assert isinstance(output.grad_fn, torch.autograd.function.BackwardCFunction)
    assert type(output.grad_fn).__name__.startswith(_BlockwiseAttention.__name__)


# torch.func transforms, forward-mode AD and torch.compile, as with torch's own operations.


def test_torch_func_grad_vmap_jacrev_and_jacfwd_equal_autograd_through_the_naive_form():
    queries, keys, values, _ = random_inputs(3, n_q=6, n_k=7, d_k=4, d_v=3, seed=20)
    mask = torch.rand(6, 7, generator=torch.Generator().manual_seed(1)) > 0.3

    def blockwise(q, k=keys[0], v=values[0]):
        return blockwise_attention(q, k, v, mask, block_size=4)

    def naive(q, k=keys[0], v=values[0]):
        return torch.softmax((q @ k.T / 2).masked_fill(~mask, float("-inf")), dim=-1) @ v

    assert_close(
        torch.func.grad(lambda q: blockwise(q).sum())(queries[0]), torch.func.grad(lambda q: naive(q).sum())(queries[0])
    )
    assert_close(torch.func.vmap(blockwise)(queries), torch.stack([naive(q) for q in queries]))
    assert_close(torch.func.jacrev(blockwise)(queries[0]), torch.func.jacrev(naive)(queries[0]))
    for argnums in (0, 1, 2):
        got = torch.func.jacfwd(lambda *qkv: blockwise(*qkv), argnums=argnums)(queries[0], keys[0], values[0])
        want = torch.func.jacfwd(lambda *qkv: naive(*qkv), argnums=argnums)(queries[0], keys[0], values[0])
        assert_close(got, want)


def test_forward_mode_ad_and_batched_gradients_pass_gradcheck():
    queries, keys, values, _ = random_inputs(n_q=5, n_k=7, d_k=3, d_v=2, seed=21)
    leaves = [t.requires_grad_() for t in (queries, keys, values)]
    for is_causal in (False, True):
        assert torch.autograd.gradcheck(
            lambda q, k, v, is_causal=is_causal: blockwise_attention(q, k, v, is_causal=is_causal, block_size=2),
            leaves,
            check_forward_ad=True,
            check_batched_grad=True,
        )


def test_compiled_backward_works_when_one_tensor_is_passed_three_times():
    # Dynamo refuses an autograd.Function given one tensor twice; the eager backend, as in
    # tests/test_hot_path.py, compiles nothing else (the aot_eager and inductor backends pass too, slower).
    x = randn(2, 8, 4, seed=22).requires_grad_()
    compiled = torch.compile(lambda x: blockwise_attention(x, x, x, block_size=4), fullgraph=True, backend="eager")
    compiled(x).sum().backward()
    compiled_grad, x.grad = x.grad, None
    naive_attention(x, x, x).sum().backward()
    assert_close(compiled_grad, x.grad)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_finite_where_torch_is_and_as_accurate(dtype):
    # Scores of |q|, |k| ~ 200 overflow float16 if computed in it; the tiles are float32.
    large = randn(2, 16, 8, seed=23) * 200
    ours = blockwise_attention(large.to(dtype), large.to(dtype), large.to(dtype), block_size=4)
    theirs = torch.nn.functional.scaled_dot_product_attention(large.to(dtype), large.to(dtype), large.to(dtype))
    assert torch.isfinite(theirs).all() and torch.isfinite(ours).all()
    # n = 256, d = 64: the error against float64 is within 2x torch's, forward and backward.
    inputs = [randn(4, 256, 64, seed=seed, dtype=torch.float32) for seed in (24, 25, 26)]
    exact = [t.double().requires_grad_() for t in inputs]
    torch.nn.functional.scaled_dot_product_attention(*exact).sum().backward()
    errors = {}
    for name, attention in (
        ("ours", lambda q, k, v: blockwise_attention(q, k, v, block_size=64)),
        ("torch", torch.nn.functional.scaled_dot_product_attention),
    ):
        half = [t.to(dtype).requires_grad_() for t in inputs]
        output = attention(*half)
        output.float().sum().backward()
        reference = torch.nn.functional.scaled_dot_product_attention(*(t.detach() for t in exact))
        errors[name] = [(output.double() - reference).abs().max()] + [
            (h.grad.double() - e.grad).abs().max() for h, e in zip(half, exact, strict=True)
        ]
    for ours_error, torch_error in zip(errors["ours"], errors["torch"], strict=True):
        assert ours_error <= 2 * torch_error


def test_half_precision_keeps_the_log_sum_exp_in_float32():
    queries, keys, values, grad_output = (t.half() for t in random_inputs(n_q=4, n_k=4, seed=27))
    result = blockwise_attention_gradients(queries, keys, values, grad_output, block_size=2)
    assert result.logsumexp.dtype == torch.float32
    assert result.output.dtype == result.grad_queries.dtype == torch.float16
    assert result.grad_keys.dtype == result.grad_values.dtype == torch.float16


def test_a_mask_that_needs_gradients_is_refused():
    queries, keys, values, _ = random_inputs(n_q=4, n_k=4, seed=28)
    with pytest.raises(ValueError, match="attn_mask requires grad, but blockwise_attention does not differentiate"):
        blockwise_attention(queries, keys, values, torch.zeros(4, 4, dtype=torch.float64, requires_grad=True))


def test_gradients_function_with_a_mask():
    queries, keys, values, grad_output = random_inputs(2, n_q=6, n_k=7, seed=29)
    mask = torch.rand(6, 7, generator=torch.Generator().manual_seed(2)) > 0.4
    mask[:, 3] = True  # every query keeps a key

    def naive(q, k, v):
        return torch.softmax((q @ k.transpose(-2, -1) / 4).masked_fill(~mask, float("-inf")), dim=-1) @ v

    expected_output, expected = gradients(naive, queries, keys, values, grad_output)
    result = blockwise_attention_gradients(queries, keys, values, grad_output, mask, block_size=3)
    assert_close(result.output, expected_output)
    for got, want in zip((result.grad_queries, result.grad_keys, result.grad_values), expected, strict=True):
        assert_close(got, want)


@pytest.mark.parametrize("function", [blockwise_attention, blockwise_attention_gradients])
def test_the_default_block_size_is_256(monkeypatch, function):
    # 257 keys make two blocks of keys at the default block size: two tiles forward, and two backward.
    import selfattention.blockwise as blockwise

    starts = []
    original = blockwise._scores_tile

    def counting(*args, **kwargs):
        starts.append(kwargs["k_start"])
        return original(*args, **kwargs)

    monkeypatch.setattr(blockwise, "_scores_tile", counting)
    queries, keys, values, grad_output = random_inputs(n_q=1, n_k=257, d_k=2, d_v=2, seed=30)
    arguments = (queries, keys, values) + ((grad_output,) if function is blockwise_attention_gradients else ())
    function(*arguments)
    assert starts == [0, 256] * (len(arguments) - 2)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_forward_mode_derivatives_of_batched_inputs_equal_the_naive_form(dtype):
    # Batched inputs (torch.func.jacfwd hides the batch from the function), several blocks of queries and keys,
    # a causal mask; in float16 the tangents are computed in float32 and returned in float16.
    primals = tuple(t.to(dtype) for t in random_inputs(2, n_q=7, n_k=7, d_k=4, d_v=3, seed=31)[:3])
    tangents = tuple(t.to(dtype) for t in random_inputs(2, n_q=7, n_k=7, d_k=4, d_v=3, seed=32)[:3])
    output, tangent = torch.func.jvp(
        lambda q, k, v: blockwise_attention(q, k, v, is_causal=True, block_size=3), primals, tangents
    )
    expected_output, expected_tangent = torch.func.jvp(
        lambda q, k, v: naive_attention(q, k, v, causal=True),
        tuple(t.double() for t in primals),
        tuple(t.double() for t in tangents),
    )
    assert output.dtype == tangent.dtype == dtype
    assert_close(output, expected_output)
    assert_close(tangent, expected_tangent)


def test_forward_mode_derivatives_without_queries():
    queries, keys, values, _ = random_inputs(2, n_q=0, n_k=5, d_k=4, d_v=3, seed=33)
    tangents = tuple(torch.ones_like(t) for t in (queries, keys, values))
    output, tangent = torch.func.jvp(
        lambda q, k, v: blockwise_attention(q, k, v, block_size=2), (queries, keys, values), tangents
    )
    assert output.shape == tangent.shape == (2, 0, 3)


def test_the_tangent_of_a_blocked_key_does_not_count():
    # Key 2 is blocked for every query: the output does not depend on it, and even a non-finite tangent of it
    # leaves the output's tangent that of attention over the other keys.
    queries, keys, values, _ = random_inputs(n_q=4, n_k=5, d_k=3, d_v=2, seed=34)
    grad_queries, grad_keys, grad_values, _ = random_inputs(n_q=4, n_k=5, d_k=3, d_v=2, seed=35)
    grad_keys[2] = float("nan")
    mask = torch.ones(4, 5, dtype=torch.bool)
    mask[:, 2] = False
    _, tangent = torch.func.jvp(
        lambda q, k, v: blockwise_attention(q, k, v, mask, block_size=2),
        (queries, keys, values),
        (grad_queries, grad_keys, grad_values),
    )
    kept = [0, 1, 3, 4]
    _, expected = torch.func.jvp(
        naive_attention, (queries, keys[kept], values[kept]), (grad_queries, grad_keys[kept], grad_values[kept])
    )
    assert_close(tangent, expected)


def test_a_mask_with_a_tangent_is_refused():
    queries, keys, values, _ = random_inputs(n_q=3, n_k=3, seed=36)
    mask = torch.zeros(3, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^blockwise_attention does not differentiate with respect to attn_mask$"):
        torch.func.jvp(lambda m: blockwise_attention(queries, keys, values, m), (mask,), (torch.ones_like(mask),))


def test_value_checks_on_at_the_forward_scan_grad_output_in_the_backward():
    # The backward runs later, often outside the with block: it scans grad_output as the forward scanned its inputs.
    queries, keys, values, grad_output = random_inputs(n_q=3, n_k=3, seed=37)
    grad_output[0, 1] = float("nan")
    with checks():
        output = blockwise_attention(queries.requires_grad_(), keys, values, block_size=2)
    with pytest.raises(ValueError, match=r"grad_output contains NaN or infinite values \(the first at index \(0, 1\)"):
        output.backward(grad_output)
