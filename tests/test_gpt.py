"""TransformerBlock, TinyGPT and generate: against PyTorch's own layers and a plain decoding loop.

- the block equals ``nn.TransformerEncoderLayer(norm_first=True, activation="gelu")`` given the same
  weights, causal and not;
- the model equals embeddings + blocks + norm + head computed by hand, and no logit depends on a
  later token;
- cached forward passes give the logits of the full forward pass, one token or several at a time;
- generate gives the tokens of a plain loop over ``model(window)[-1]``, with and without the cache,
  greedy and seeded sampling, with GQA, RoPE and learned positions, past ``context_len``.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from selfattention import MultiHeadAttention, TinyGPT, TransformerBlock, causal_mask, generate, to_torch_attn_mask
from selfattention.interop import to_torch_multihead
from tests.conftest import assert_close, randn


def torch_layer(block: TransformerBlock) -> nn.TransformerEncoderLayer:
    """PyTorch's pre-norm encoder layer holding ``block``'s weights."""
    layer = nn.TransformerEncoderLayer(
        block.d_model,
        block.attention.num_heads,
        dim_feedforward=block.d_ff,
        dropout=0.0,
        activation="gelu",
        batch_first=True,
        norm_first=True,
        dtype=torch.float64,
    )
    layer.self_attn = to_torch_multihead(block.attention)
    first, _, second = block.mlp
    pairs = [(layer.norm1, block.norm_1), (layer.norm2, block.norm_2), (layer.linear1, first), (layer.linear2, second)]
    with torch.no_grad():
        for theirs, ours in pairs:
            theirs.weight.copy_(ours.weight)
            theirs.bias.copy_(ours.bias)
    return layer.eval()


@pytest.mark.parametrize("causal", [False, True])
def test_block_equals_torch_pre_norm_encoder_layer(causal: bool) -> None:
    torch.manual_seed(0)
    block = TransformerBlock(16, 4, d_ff=24, causal=causal).double().eval()
    x = randn(3, 7, 16, dtype=torch.float64)
    mask = to_torch_attn_mask(causal_mask(7)) if causal else None
    expected = torch_layer(block)(x, src_mask=mask, is_causal=causal)
    assert_close(block(x), expected)


def test_block_is_the_residual_sum_of_its_sub_layers() -> None:
    torch.manual_seed(1)
    block = TransformerBlock(8, 2, num_kv_heads=1, rope=True).double().eval()
    x = randn(2, 5, 8, dtype=torch.float64)
    after_attention = x + block.attention(nn.functional.layer_norm(x, (8,), block.norm_1.weight, block.norm_1.bias))
    hidden = nn.functional.gelu(block.mlp[0](nn.functional.layer_norm(after_attention, (8,))))
    assert_close(block(x), after_attention + block.mlp[2](hidden))
    assert block.d_ff == 32  # 4 * d_model by default


def test_block_dropout_only_while_training() -> None:
    torch.manual_seed(2)
    block = TransformerBlock(8, 2, dropout=0.5)
    x = randn(2, 6, 8)
    assert not torch.equal(block(x), block(x))  # training: random
    block.eval()
    assert torch.equal(block(x), block(x))


def reference_logits(model: TinyGPT, ids: torch.Tensor) -> torch.Tensor:
    """Embeddings, blocks, final norm and head, written out."""
    stream = model.token_embedding.weight[ids]
    if model.position_embedding is not None:
        stream = stream + model.position_embedding.weight[: ids.shape[-1]]
    for block in model.blocks:
        stream = block(stream)
    normed = nn.functional.layer_norm(stream, stream.shape[-1:], model.final_norm.weight, model.final_norm.bias)
    return normed @ model.head.weight.T


MODELS: dict[str, dict[str, Any]] = {
    "rope": {"rope": True},
    "learned-positions": {"rope": False},
    "gqa-rope": {"rope": True, "num_kv_heads": 2},
    "mqa-learned": {"rope": False, "num_kv_heads": 1},
}


def tiny(seed: int = 0, **options: Any) -> TinyGPT:
    torch.manual_seed(seed)
    return TinyGPT(vocab_size=11, context_len=8, d_model=16, num_layers=2, num_heads=4, **options).double().eval()


@pytest.mark.parametrize("options", MODELS.values(), ids=MODELS.keys())
def test_model_logits_equal_the_written_out_model(options: dict[str, Any]) -> None:
    model = tiny(**options)
    ids = torch.randint(0, 11, (3, 8), generator=torch.Generator().manual_seed(0))
    logits = model(ids)
    assert logits.shape == (3, 8, 11)
    assert_close(logits, reference_logits(model, ids))


@pytest.mark.parametrize("options", MODELS.values(), ids=MODELS.keys())
def test_model_logits_do_not_depend_on_later_tokens(options: dict[str, Any]) -> None:
    model = tiny(**options)
    ids = torch.randint(0, 11, (2, 8), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[:, 5] = (changed[:, 5] + 1) % 11
    before, after = model(ids), model(changed)
    assert torch.equal(before[:, :5], after[:, :5])
    assert not torch.allclose(before[:, 5:], after[:, 5:])


def test_learned_positions_only_without_rope() -> None:
    assert tiny(rope=True).position_embedding is None
    with_positions = tiny(rope=False)
    assert with_positions.position_embedding is not None
    assert with_positions.position_embedding.weight.shape == (8, 16)
    assert not any(block.attention.rope for block in with_positions.blocks)


@pytest.mark.parametrize("options", MODELS.values(), ids=MODELS.keys())
@pytest.mark.parametrize("chunks", [[8], [1] * 8, [3, 1, 4], [5, 3]])
def test_cached_logits_equal_the_full_forward_at_every_step(options: dict[str, Any], chunks: list[int]) -> None:
    model = tiny(**options)
    ids = torch.randint(0, 11, (2, 8), generator=torch.Generator().manual_seed(2))
    caches = model.new_caches()
    pieces, start = [], 0
    for size in chunks:  # a prefill of several tokens, then one or more at a time
        pieces.append(model(ids[:, start : start + size], caches=caches))
        start += size
    assert [cache.seq_len for cache in caches] == [8, 8]
    assert_close(torch.cat(pieces, dim=1), model(ids))


def plain_loop(model: TinyGPT, ids: torch.Tensor, steps: int, temperature: float = 0.0, seed: int = 0) -> torch.Tensor:
    """Decoding written out: the last ``context_len`` tokens, the last position's logits, one token."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _ in range(steps):
            logits = model(ids[:, -model.context_len :])[:, -1]
            if temperature == 0.0:
                token = logits.argmax(-1, keepdim=True)
            else:
                token = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=generator)
            ids = torch.cat((ids, token), dim=1)
    return ids


@pytest.mark.parametrize("options", MODELS.values(), ids=MODELS.keys())
@pytest.mark.parametrize("temperature", [0.0, 1.5])
def test_generate_gives_the_same_ids_with_and_without_the_cache(options: dict[str, Any], temperature: float) -> None:
    model = tiny(**options)
    prompt = torch.tensor([[1, 2, 3], [4, 5, 6]])
    expected = plain_loop(model, prompt, 12, temperature, seed=3)  # 15 tokens: past context_len = 8
    for use_cache in (True, False):
        generator = torch.Generator().manual_seed(3)
        ids = generate(model, prompt, 12, use_cache=use_cache, temperature=temperature, generator=generator)
        assert torch.equal(ids, expected), use_cache
    assert torch.equal(ids[:, :3], prompt)


def test_generate_sampling_draws_only_from_its_generator() -> None:
    model = tiny()
    prompt = torch.tensor([3, 1, 4])
    first = generate(model, prompt, 6, temperature=2.0, generator=torch.Generator().manual_seed(7))
    torch.manual_seed(123)  # the global generator does not matter
    again = generate(model, prompt, 6, temperature=2.0, generator=torch.Generator().manual_seed(7))
    assert torch.equal(first, again)
    assert first.shape == (9,)
    other = [generate(model, prompt, 6, temperature=2.0, generator=torch.Generator().manual_seed(s)) for s in range(4)]
    assert len({tuple(ids.tolist()) for ids in other}) > 1  # the seed does change the draws


def test_top_k_draws_only_among_the_k_most_likely() -> None:
    model = tiny()
    prompt = torch.tensor([[2, 7]])
    allowed = set(model(prompt)[0, -1].topk(2).indices.tolist())
    drawn = {
        int(generate(model, prompt, 1, temperature=5.0, top_k=2, generator=torch.Generator().manual_seed(s))[0, -1])
        for s in range(20)
    }
    assert drawn == allowed
    greedy = generate(model, prompt, 3)
    assert torch.equal(generate(model, prompt, 3, top_k=1, temperature=1.0), greedy)  # top-1 is greedy


def test_generate_zero_tokens_and_a_long_prompt() -> None:
    model = tiny(rope=False)  # learned positions: only 8 of them
    prompt = torch.arange(11).remainder(11).unsqueeze(0).repeat(1, 2)[:, :20]  # 20 tokens > context_len
    assert torch.equal(generate(model, prompt, 0), prompt)
    assert torch.equal(generate(model, prompt, 5), plain_loop(model, prompt, 5))


def test_generate_with_a_cache_refills_it_when_the_window_slides() -> None:
    model = tiny()
    prompt = torch.tensor([[1, 2, 3, 4, 5, 6, 7]])
    calls: list[tuple[int, bool]] = []
    model.register_forward_pre_hook(
        lambda _, args, kwargs: calls.append((args[0].shape[-1], "caches" in kwargs)), with_kwargs=True
    )
    generate(model, prompt, 4)
    # prefill, one token, then the full window: the cache is refilled
    assert calls == [(7, True), (1, True), (8, True), (8, True)]
    calls.clear()
    generate(model, prompt[:, :5], 4, use_cache=False)
    assert calls == [(5, False), (6, False), (7, False), (8, False)]  # the whole window, no cache


def test_generate_from_one_token_with_one_block() -> None:
    torch.manual_seed(4)
    model = TinyGPT(vocab_size=7, context_len=4, d_model=8, num_layers=1, num_heads=2).double().eval()
    prompt = torch.tensor([5])
    expected = plain_loop(model, prompt[None], 6)[0]
    assert torch.equal(generate(model, prompt, 6), expected)
    assert torch.equal(generate(model, prompt, 6, use_cache=False), expected)


def test_bad_input_is_refused_with_named_errors() -> None:
    model = tiny()
    ids = torch.tensor([[1, 2]])
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: generate(nn.Linear(2, 2), ids, 1), TypeError, "^model must be a TinyGPT, got Linear$"),  # type: ignore[arg-type]
        (lambda: generate(model, [1, 2], 1), TypeError, "^ids must be a torch.Tensor, got list$"),  # type: ignore[arg-type]
        (lambda: generate(model, ids, 1, temperature="hot"), TypeError, "^temperature must be a float >= 0, got str$"),  # type: ignore[arg-type]
        (lambda: generate(model, ids, 1, temperature=True), TypeError, "^temperature must be a float >= 0, got bool$"),
        (lambda: generate(model, ids, 1, temperature=float("inf")), ValueError, "temperature must be a finite float"),
        (lambda: generate(model, ids.float(), 1), TypeError, "ids must be integer"),
        (lambda: generate(model, ids[None], 1), ValueError, r"ids must have shape \(seq_len,\)"),
        (lambda: generate(model, ids, -1), ValueError, "max_new_tokens must be at least 0"),
        (lambda: generate(model, ids, 1, temperature=-1.0), ValueError, "temperature must be"),
        (lambda: generate(model, ids, 1, temperature=float("nan")), ValueError, "temperature must be"),
        (lambda: generate(model, ids, 1, top_k=0), ValueError, "top_k must be at least 1"),
        (lambda: generate(model, ids, 1, use_cache=1), TypeError, "use_cache must be True or False"),  # type: ignore[arg-type]
        (
            lambda: generate(model, ids, 1, generator=3),
            TypeError,
            "^generator must be a torch.Generator or None, got int$",
        ),  # type: ignore[arg-type]
        (lambda: model(torch.zeros(1, 9, dtype=torch.long)), ValueError, "more than context_len=8"),
        (lambda: model(ids, caches=[]), ValueError, "one KVCache per block"),
        (lambda: model(ids, caches=3), TypeError, "caches must be a list of KVCache"),  # type: ignore[arg-type]
        (
            lambda: TinyGPT(10, 8, 16, 2, 3),
            ValueError,
            (
                r"^num_heads=3 must divide d_model=16: each head gets d_model // num_heads dimensions "
                r"\(try num_heads in \[1, 2, 4, 8, 16\]\)$"
            ),
        ),
        (lambda: TinyGPT(10, 0, 16, 2, 2), ValueError, "context_len must be at least 1"),
        (lambda: TransformerBlock(16, 2, d_ff=0), ValueError, "d_ff must be at least 1"),
        (
            lambda: TransformerBlock(16, 2)(torch.zeros(2, 8)),
            ValueError,
            r"x must have shape \(..., seq_len, d_model=16\)",
        ),
        (lambda: TransformerBlock(16, 2, causal="yes"), TypeError, "causal must be True or False"),  # type: ignore[arg-type]
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    dropping = TinyGPT(10, 8, 16, 1, 2, dropout=0.1)
    with pytest.raises(ValueError, match=r"call model.eval\(\) first"):
        generate(dropping, ids, 1)
    caches = model.new_caches()
    model(torch.tensor([[1, 2, 3, 4, 5, 6]]), caches=caches)
    with pytest.raises(ValueError, match="after the 6 positions the caches hold"):
        model(ids.repeat(1, 2), caches=caches)


def test_parameter_count_of_the_block() -> None:
    block = TransformerBlock(16, 4, num_kv_heads=2)
    attention = 16 * 16 + 2 * 16 * 8 + 16 * 16 + 16  # queries, keys and values of 2 kv heads, output + bias
    mlp = 16 * 64 + 64 + 64 * 16 + 16
    norms = 2 * 2 * 16
    assert sum(p.numel() for p in block.parameters()) == attention + mlp + norms
    assert isinstance(block.attention, MultiHeadAttention)


def test_the_model_passes_its_options_to_every_block() -> None:
    default = TinyGPT(vocab_size=11, context_len=8, d_model=16, num_layers=2, num_heads=4)
    assert default.rope is True
    assert all(block.attention.rope for block in default.blocks)
    model = TinyGPT(11, 8, 16, 2, 4, num_kv_heads=2, rope=False, dropout=0.25)
    assert model.rope is False
    for block in model.blocks:
        assert (block.attention.num_kv_heads, block.attention.rope, block.attention.dropout) == (2, False, 0.25)
        assert block.dropout.p == 0.25
    assert model.dropout.p == 0.25
    assert [cache.max_len for cache in model.new_caches()] == [8, 8]


def test_token_ids_of_any_batch_shape() -> None:
    model = tiny(rope=False)
    ids = torch.randint(0, 11, (2, 3, 5), generator=torch.Generator().manual_seed(5))
    logits = model(ids)
    assert logits.shape == (2, 3, 5, 11)
    assert_close(logits, model(ids.reshape(6, 5)).reshape(2, 3, 5, 11))
    assert_close(model(ids[0, 0]), logits[0, 0])  # unbatched (seq_len,)


def test_one_block_decodes_with_its_cache() -> None:
    torch.manual_seed(6)
    model = TinyGPT(vocab_size=7, context_len=6, d_model=8, num_layers=1, num_heads=2, rope=False).double().eval()
    ids = torch.tensor([[1, 4, 2, 6, 0]])
    caches = model.new_caches()
    stepwise = torch.cat([model(ids[:, :2], caches=caches), model(ids[:, 2:], caches=caches)], dim=1)
    assert_close(stepwise, model(ids))


def test_token_ids_are_scanned_only_when_checks_are_on() -> None:
    from selfattention import checks

    model = tiny()
    with checks():
        model(torch.tensor([[0, 10]]))  # the first and the last id
        for bad in (-1, 11):
            with pytest.raises(ValueError, match=r"^ids must be in \[0, vocab_size=11\), got values outside it$"):
                model(torch.tensor([[3, bad]]))
    with pytest.raises(IndexError):  # without checks, nn.Embedding's own error
        model(torch.tensor([[3, 11]]))


def test_messages_name_the_argument() -> None:
    model = tiny()
    caches = model.new_caches()
    model(torch.tensor([[1, 2, 3, 4, 5, 6]]), caches=caches)
    uneven = model.new_caches()
    model(torch.tensor([[1]]), caches=uneven[:1] + model.new_caches()[1:])
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: TinyGPT(0, 8, 16, 2, 2), ValueError, r"^vocab_size must be at least 1, got 0$"),
        (lambda: TinyGPT(10, 8, 16, 0, 2), ValueError, r"^num_layers must be at least 1, got 0$"),
        (lambda: TinyGPT(10, 8, 16, 2, 2, rope="yes"), TypeError, r"^rope must be True or False"),  # type: ignore[arg-type]
        (lambda: model([[1]]), TypeError, r"^ids must be a torch.Tensor, got list$"),  # type: ignore[arg-type]
        (
            lambda: model(torch.ones(1, 2)),
            TypeError,
            r"^ids must be integer token ids \(torch.int64\), got torch.float32$",
        ),
        (
            lambda: model(torch.zeros(2, 1, 0, dtype=torch.long)),
            ValueError,
            r"^ids must have shape \(\.\.\., seq_len\) with seq_len >= 1, got shape \(2, 1, 0\)$",
        ),
        (lambda: model(torch.tensor(3)), ValueError, r"^ids must have shape \(\.\.\., seq_len\) .* got shape \(\)$"),
        (
            lambda: model(torch.zeros(1, 2, 9, dtype=torch.long)),
            ValueError,
            r"^ids has 9 tokens, more than context_len=8: pass at most the last 8 \(generate\(\) slides a window\)$",
        ),
        (
            lambda: model(torch.zeros(1, 2, 3, dtype=torch.long), caches=caches),
            ValueError,
            r"^ids has 3 tokens after the 6 positions the caches hold, more than context_len=8: pass at most the "
            r"last 2 \(generate\(\) slides a window\)$",
        ),
        (lambda: model(torch.tensor([[1]]), caches=3), TypeError, r"\(model.new_caches\(\)\), got int$"),  # type: ignore[arg-type]
        (
            lambda: model(torch.tensor([[1]]), caches=uneven),
            ValueError,
            r"^caches must all hold the same number of positions; reset\(\) them for a new sequence$",
        ),
        (lambda: TransformerBlock(0, 2), ValueError, r"^d_model must be at least 1, got 0$"),
        (lambda: TransformerBlock(16, 0), ValueError, r"^num_heads must be at least 1, got 0$"),
        (lambda: TransformerBlock(4, 2, rope=1), TypeError, r"^rope must be True or False, got int 1$"),  # type: ignore[arg-type]
        (lambda: TransformerBlock(4, 2)(torch.ones(2, 4, dtype=torch.long)), TypeError, r"^x must have a floating"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
    from selfattention import checks

    with checks(), pytest.raises(ValueError, match=r"^x contains NaN or infinite values \(the first at index \(0, 1\)"):
        TransformerBlock(4, 2)(torch.tensor([[0.0, float("nan"), 0.0, 0.0]]))


def test_generate_needs_evaluation_mode_only_for_dropout() -> None:
    torch.manual_seed(8)
    dropping = TinyGPT(vocab_size=7, context_len=6, d_model=8, num_layers=1, num_heads=2, dropout=0.5)
    with pytest.raises(ValueError, match=r"^model is in training mode with dropout=0.5: .* call model.eval\(\) first$"):
        generate(dropping, torch.tensor([1, 2]), 2)
    assert generate(dropping.eval(), torch.tensor([1, 2]), 2).shape == (4,)
    plain = TinyGPT(vocab_size=7, context_len=6, d_model=8, num_layers=1, num_heads=2).train()
    assert torch.equal(generate(plain, torch.tensor([1, 2]), 3), generate(plain.eval(), torch.tensor([1, 2]), 3))


def test_generate_keeps_the_dtype_of_the_ids() -> None:
    model = tiny()
    prompt = torch.tensor([[1, 2, 3]], dtype=torch.int32)
    ids = generate(model, prompt, 4)
    assert ids.dtype == torch.int32
    assert torch.equal(ids.long(), generate(model, prompt.long(), 4))
