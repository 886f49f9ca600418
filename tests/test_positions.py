"""The sinusoidal position encoding against a NumPy reference written from the formula of
Vaswani et al. (2017), section 3.5, and its relative-offset property."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from selfattention import sinusoidal_positions
from tests.conftest import DEVICES


def sinusoidal_reference(seq_len: int, d_model: int, base: float = 10000.0) -> np.ndarray:
    """PE(pos, 2i) = sin(pos / base^(2i / d_model)), PE(pos, 2i + 1) = cos(pos / base^(2i / d_model)),
    entry by entry in float64."""
    table = np.zeros((seq_len, d_model))
    for pos in range(seq_len):
        for i in range(d_model // 2):
            angle = pos / base ** (2 * i / d_model)
            table[pos, 2 * i] = math.sin(angle)
            table[pos, 2 * i + 1] = math.cos(angle)
    return table


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("seq_len", "d_model", "base"), [(50, 16, 10000.0), (7, 2, 10000.0), (12, 6, 100.0)])
def test_equals_the_formula_of_the_paper(device, seq_len, d_model, base):
    expected = sinusoidal_reference(seq_len, d_model, base)
    exact = sinusoidal_positions(seq_len, d_model, base=base, dtype=torch.float64, device=device)
    assert exact.shape == (seq_len, d_model) and exact.dtype == torch.float64
    np.testing.assert_allclose(exact.cpu().numpy(), expected, rtol=0, atol=1e-12)
    default = sinusoidal_positions(seq_len, d_model, base=base, device=device)
    assert default.dtype == torch.float32 and default.device.type == torch.device(device).type
    np.testing.assert_allclose(default.cpu().double().numpy(), expected, rtol=0, atol=1e-7)


def test_far_positions_keep_float32_accuracy():
    """The angles are computed in float64: position 100000 is as accurate as position 1."""
    far = sinusoidal_positions(100_001, 8)[-1].double().numpy()
    np.testing.assert_allclose(far, sinusoidal_reference(100_001, 8)[-1], rtol=0, atol=1e-7)


def test_empty_and_pairs_interleaved():
    assert sinusoidal_positions(0, 4).shape == (0, 4)
    first = sinusoidal_positions(1, 6)
    assert torch.equal(first, torch.tensor([[0.0, 1.0, 0.0, 1.0, 0.0, 1.0]]))  # sin 0, cos 0 in each pair


@pytest.mark.parametrize("offset", [1, 5, 37])
def test_an_offset_is_one_rotation_per_pair_for_every_position(offset):
    """PE[pos + k] = M_k PE[pos] with M_k block-diagonal, the same for every pos."""
    d_model = 10
    table = sinusoidal_positions(80, d_model, dtype=torch.float64)
    omega = 10000.0 ** -(torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    rotation = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i, w in enumerate(omega.tolist()):
        c, s = math.cos(offset * w), math.sin(offset * w)
        rotation[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor([[c, s], [-s, c]], dtype=torch.float64)
    torch.testing.assert_close(table[:-offset] @ rotation.T, table[offset:], rtol=0, atol=1e-12)
    dots = (table[:-offset] * table[offset:]).sum(-1)  # depends on the offset only
    torch.testing.assert_close(dots, torch.full_like(dots, torch.cos(offset * omega).sum().item()), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((4, 5), {}, ValueError, "d_model must be even .*got 5"),
        ((4, 0), {}, ValueError, "d_model must be at least 2, got 0"),
        ((-1, 4), {}, ValueError, "seq_len must be at least 0, got -1"),
        ((4.0, 4), {}, TypeError, "seq_len must be an int, got float"),
        ((4, 4), {"base": 1.0}, ValueError, "base must be a finite number greater than 1, got 1.0"),
        ((4, 4), {"base": "10000"}, TypeError, "base must be a float, got str"),
        ((4, 4), {"dtype": torch.int64}, TypeError, "dtype must be a floating torch.dtype"),
    ],
)
def test_bad_input_is_refused_by_name(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        sinusoidal_positions(*args, **kwargs)
