"""Each text's matrix products computed on their own: what makes a batch-invariant pass exact.

A forward pass of ``Embedder(batch_invariant=True)`` holds texts of one length (``forward_passes.
exact_passes``), so nothing is padded; what is left is the model's linear layers, which multiply
every token of every text of the pass in one matrix product of ``texts x length`` rows. Whether a
row of that product comes out to the same bits for 1 row or 42 is the BLAS's choice: MKL's strict
reproducibility (``MKL_CBWR=AUTO,STRICT``) gave it on the machine this was first measured on,
and not on an AVX2 AMD EPYC (torch 2.13: a 3-word-piece text alone and in a pass of 14 differed
by up to 2.5e-7, from the first layer's query on). ``per_text(model, torch)`` makes each linear
layer, while inside it, multiply a pass one text at a time: one ``torch.mm`` of the same shape
per text, so the same bits whether the text is alone or not. That takes MKL's strict
reproducibility too, which MKL reads at its first product: the embedder sets ``MKL_CBWR`` before
it loads torch (without it, a pass of 5-word-piece texts differed even so).

A batched product (``torch.bmm``) of the texts was enough on that AMD CPU (every length 1-64 and
pass size 2-32 tried, none differed, against 60 of 280 with one product). On an Intel Xeon with
AVX-512 and AMX, 2 cores, it was not: 59 of 295 texts (lengths 1-33 in passes of 2-32) came out
different from the same text alone, and none with one ``mm`` per text.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

__all__ = ["per_text"]

_PER_TEXT: ContextVar[bool] = ContextVar("llmgate_per_text_products", default=False)
_MARK = "_llmgate_per_text"


@contextlib.contextmanager
def per_text(model: Any, torch: Any) -> Iterator[None]:
    """Within this block (this thread's calls), ``model``'s linear layers multiply each text of a
    ``(texts, length, features)`` input on its own. ``torch``: the module, imported by the caller
    (optional and heavy: kept off this module's import)."""
    _prepare(model, torch)
    token = _PER_TEXT.set(True)
    try:
        yield
    finally:
        _PER_TEXT.reset(token)


def _prepare(model: Any, torch: Any) -> None:
    """Give every linear layer of ``model`` the per-text path (once; a model may be shared by
    embedders that batch either way, so the path is taken only inside ``per_text``)."""
    for module in model.modules():
        if isinstance(module, torch.nn.Linear) and not getattr(module, _MARK, False):
            module.forward = _forward(module, module.forward, torch)
            setattr(module, _MARK, True)


def _forward(layer: Any, usual: Any, torch: Any) -> Any:
    def forward(inputs: Any) -> Any:
        if not _PER_TEXT.get() or inputs.dim() != 3:
            return usual(inputs)
        weight = layer.weight.t().to(inputs.dtype)
        product = torch.stack([torch.mm(text, weight) for text in inputs.unbind(0)])
        return product if layer.bias is None else product + layer.bias.to(product.dtype)

    return forward
