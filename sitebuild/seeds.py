"""The examples the site's figures are drawn from, as the pages write them.

The figure modules (figures.py, attention_maps.py, attention_variants.py) import them from here;
tests/seeds.py keeps its own copy, and tests/test_figures.py and tests/test_attention_maps.py check
that the figures show the values computed from that copy.
"""

from __future__ import annotations

import torch

# docs/simplified.md, docs/causal.md, docs/multihead.md: "Your journey starts with one step"
# (Sebastian Raschka, Build a Large Language Model (From Scratch), ch. 3).
JOURNEY_TOKENS = ["Your", "journey", "starts", "with", "one", "step"]
JOURNEY_INPUTS = torch.tensor(
    [
        [0.43, 0.15, 0.89],
        [0.55, 0.87, 0.66],
        [0.57, 0.85, 0.64],
        [0.22, 0.58, 0.33],
        [0.77, 0.25, 0.10],
        [0.05, 0.80, 0.55],
    ]
)

# docs/trainable.md: the three inputs and weights of Raimi Karim's "Illustrated: Self-Attention".
QKV_INPUTS = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 2.0], [1.0, 1.0, 1.0, 1.0]])
W_KEY = torch.tensor([[0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
W_QUERY = torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
W_VALUE = torch.tensor([[0.0, 2.0, 0.0], [0.0, 3.0, 0.0], [1.0, 0.0, 3.0], [1.0, 1.0, 0.0]])
# The article's softmax weights, approximated to one decimal so that each row sums to 1 (the page prints both).
ROUNDED_WEIGHTS = torch.tensor([[0.0, 0.5, 0.5], [0.0, 1.0, 0.0], [0.0, 0.9, 0.1]])
