"""softmax_saturation: the spread of the scores, and the saturation of the softmax, scaled or not."""

import functools
import math

import numpy as np
import pytest
import torch

from selfattention import softmax_saturation


def seeded(d_k, **kwargs):
    return softmax_saturation(d_k, generator=torch.Generator().manual_seed(0), **kwargs)


@functools.cache
def run(d_k, scale=None):
    """The seeded measurement, made once per test process, over 500 queries of 16 keys each (the default 2000
    take four times as long at d_k = 1024; with 500 the variances still agree with d_k and 1 to within 3 %)."""
    return seeded(d_k, scale=scale, num_queries=500)


@pytest.mark.parametrize("d_k", [4, 64, 1024])
def test_variance_is_d_k_unscaled_and_one_scaled(d_k):
    assert run(d_k, scale=1.0).score_variance == pytest.approx(d_k, rel=0.05)
    assert run(d_k).score_variance == pytest.approx(1.0, rel=0.05)


def test_unscaled_softmax_saturates_as_d_k_grows_and_scaled_does_not():
    unscaled = [run(d_k, scale=1.0) for d_k in (4, 64, 1024)]
    scaled = [run(d_k) for d_k in (4, 64, 1024)]
    assert unscaled[0].max_weight < unscaled[1].max_weight < unscaled[2].max_weight
    assert unscaled[2].max_weight > 0.9
    assert unscaled[0].jacobian_norm > unscaled[1].jacobian_norm > unscaled[2].jacobian_norm
    assert unscaled[2].jacobian_norm < 0.1
    for stats in scaled:
        assert stats.max_weight == pytest.approx(scaled[0].max_weight, abs=0.02)
        assert stats.jacobian_norm == pytest.approx(scaled[0].jacobian_norm, abs=0.02)


def test_unscaled_query_gradient_grows_but_comes_through_fewer_keys():
    # The gradient reaching the queries does not vanish without scaling: it grows with d_k, while the share of
    # the keys it comes through falls. Scaled, both stay where they are.
    unscaled = [run(d_k, scale=1.0) for d_k in (4, 64, 1024)]
    scaled = [run(d_k) for d_k in (4, 64, 1024)]
    assert unscaled[0].query_gradient_norm < unscaled[1].query_gradient_norm < unscaled[2].query_gradient_norm
    assert unscaled[0].gradient_key_fraction > unscaled[1].gradient_key_fraction > unscaled[2].gradient_key_fraction
    assert unscaled[2].gradient_key_fraction < 0.25
    for stats in scaled:
        assert 0.2 < stats.query_gradient_norm < 0.35
        assert stats.gradient_key_fraction > 0.9


def test_jacobian_norm_is_that_of_the_softmax_jacobian():
    # Uniform weights over n keys: the Jacobian norm ||diag(w) - w w^T||_F is sqrt((n - 1) / n^2).
    stats = softmax_saturation(8, scale=1e-12, num_keys=4, num_queries=3, generator=torch.Generator().manual_seed(0))
    assert stats.max_weight == pytest.approx(0.25)
    assert stats.jacobian_norm == pytest.approx(math.sqrt(3 / 16))


def numpy_reference(d_k, scale, num_keys, num_queries, seed):
    """The same draws, in the same order, and the gradients in closed form with NumPy: for the loss
    L = sum_j w_j u_j, dL/ds_j = w_j (u_j - sum_i w_i u_i) and dL/dq = scale * sum_j dL/ds_j k_j."""
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(num_queries, 1, d_k, generator=generator, dtype=torch.float64).numpy()[:, 0]  # (Q, d_k)
    k = torch.randn(num_queries, num_keys, d_k, generator=generator, dtype=torch.float64).numpy()  # (Q, K, d_k)
    u = torch.randn(num_queries, num_keys, generator=generator, dtype=torch.float64).numpy()  # (Q, K)
    s = np.einsum("qd,qkd->qk", q, k) * scale
    w = np.exp(s - s.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    ds = w * (u - (w * u).sum(axis=1, keepdims=True))  # (Q, K)
    dq = scale * np.einsum("qk,qkd->qd", ds, k)  # (Q, d_k)
    jacobians = np.stack([np.diag(row) - np.outer(row, row) for row in w])  # (Q, K, K)
    largest = np.abs(ds).max(axis=1, keepdims=True)
    reached = (np.abs(ds) > 0) & (np.abs(ds) >= 0.01 * largest)
    return {
        "max_weight": w.max(axis=1).mean(),
        "jacobian_norm": np.sqrt((jacobians**2).sum(axis=(1, 2))).mean(),
        "query_gradient_norm": np.linalg.norm(dq, axis=1).mean(),
        "gradient_key_fraction": reached.mean(),
    }


@pytest.mark.parametrize(("d_k", "scale"), [(4, None), (64, 1.0), (256, 1.0), (16, 0.5)])
def test_gradients_agree_with_a_numpy_reference(d_k, scale):
    stats = softmax_saturation(d_k, scale=scale, num_keys=7, num_queries=50, generator=torch.Generator().manual_seed(3))
    reference = numpy_reference(d_k, 1 / math.sqrt(d_k) if scale is None else scale, 7, 50, seed=3)
    for name, value in reference.items():
        assert getattr(stats, name) == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_one_key_gets_all_the_weight_and_passes_no_gradient():
    stats = softmax_saturation(8, num_keys=1, num_queries=5, generator=torch.Generator().manual_seed(0))
    assert stats.max_weight == 1.0
    assert stats.jacobian_norm == 0.0
    assert stats.query_gradient_norm == 0.0
    assert stats.gradient_key_fraction == 0.0


def test_measures_gradients_inside_no_grad():
    with torch.no_grad():
        inside = seeded(16, num_queries=20)
    assert inside == seeded(16, num_queries=20)


def test_seeded_runs_repeat_exactly():
    assert seeded(16) == seeded(16)


def test_bad_arguments():
    with pytest.raises(ValueError, match="d_k must be at least 1, got 0"):
        softmax_saturation(0)
    with pytest.raises(ValueError, match="scale must be a finite number"):
        softmax_saturation(4, scale=float("inf"))


def test_the_defaults_and_the_arguments_named():
    default = softmax_saturation(4, generator=torch.Generator().manual_seed(3))
    explicit = softmax_saturation(4, num_keys=16, num_queries=2000, generator=torch.Generator().manual_seed(3))
    assert default == explicit
    assert default.d_k == 4 and default.score_variance > 0
    with pytest.raises(ValueError, match=r"^num_keys must be at least 1, got 0"):
        softmax_saturation(4, num_keys=0)
    with pytest.raises(ValueError, match=r"^num_queries must be at least 1, got 0"):
        softmax_saturation(4, num_queries=0)
