"""Each text's matrix products on their own (``quality/exact_products.py``): inside ``per_text`` a
linear layer gives a text the same bits in a pass of any size as alone; outside, it is unchanged."""

from __future__ import annotations

import os

import pytest

from llmgate.quality.exact_products import per_text

# as the embedder does before loading a model: MKL takes it at its first product, not later
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
torch = pytest.importorskip("torch")


def test_a_text_gets_the_same_bits_alone_and_in_a_pass_of_any_size() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(384, 1536), torch.nn.GELU(), torch.nn.Linear(1536, 384))
    with torch.inference_mode():
        for length in (1, 3, 5, 12, 33):
            texts = torch.randn(32, length, 384)
            with per_text(model, torch):
                alone = [model(texts[i : i + 1]) for i in range(32)]
                for size in (2, 3, 8, 14, 32):
                    together = model(texts[:size])
                    assert all(torch.equal(together[i : i + 1], alone[i]) for i in range(size)), (
                        length,
                        size,
                    )
            # outside the block the layers compute as torch does (the padded embedder shares them)
            usual = torch.nn.functional.linear(texts[:8], model[0].weight, model[0].bias)
            assert torch.equal(model[0](texts[:8]), usual)
            # and inside, within float rounding of it
            with per_text(model, torch):
                assert torch.allclose(model[0](texts[:8]), usual, atol=1e-5)


def test_two_dimensional_inputs_take_the_usual_path() -> None:
    layer = torch.nn.Linear(16, 4)
    inputs = torch.randn(5, 16)
    with per_text(layer, torch), torch.inference_mode():
        assert torch.equal(layer(inputs), torch.nn.functional.linear(inputs, layer.weight, layer.bias))
