"""Near-duplicate removal: a dataset keeps one case per question asked.

``drop_near_duplicates(items, embedder, threshold)`` embeds each item's user text
(``prompt.user_text``: the user messages' words, the latest turn first) in one batched
``encode`` call of the shared embedder, then walks the items and keeps an item unless its cosine
similarity with an item already kept reaches ``threshold``: the first of a group of
near-duplicates stays. The walk takes the items users rated first, then those with any score,
then the rest, each in order: of a group of near-duplicates the one that says most about its
answer is kept (a thumbs-down is worth more to a regression suite than an unrated copy).
Items without user text are compared by nothing and kept. The result
keeps the items' order; the second value is the number dropped. ``NearDuplicates`` is the same
walk continued over several calls (``select.py`` tops a sample up after dropping duplicates and
checks the new items against those kept before).

``DEFAULT_THRESHOLD`` = 0.85, measured on ``paraphrase_dev.jsonl`` (2,000 Quora question pairs
labelled by people as asking the same thing or not; all-MiniLM-L6-v2, the default embedder), a
pair being near-duplicates when its cosine is at least the threshold:

=========  =========  ======  ===============================  ============================
threshold  precision  recall  labelled non-duplicates dropped  any two other questions
=========  =========  ======  ===============================  ============================
0.75       0.633      0.860   29.4%                            9.8e-5
0.80       0.676      0.755   21.4%                            6.1e-5
**0.85**   **0.714**  **0.609** **14.4%**                      **3.6e-5**
0.90       0.753      0.411   7.9%                             1.5e-5
0.95       0.827      0.199   2.5%                             6.8e-6
=========  =========  ======  ===============================  ============================

The non-duplicates of that set are hard ones (pairs on one topic that Quora's users asked
apart, e.g. "top web development trends in 2017" and "major web development trends for 2017"),
so its precision is a floor: between unrelated questions (the last column: the share of the
other 4 million pairs at or above) a false drop is rare. 0.85 is the knee: above it precision
rises by 4 points for 20 points of recall. A lower threshold drops more topic-alike questions,
a higher one keeps more paraphrases.

Memory and time: the vectors (``dimension`` float32 each) of the items and those kept, and one
``block`` by kept matrix product at a time: tens of thousands of items in seconds with numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llmgate.datasets.item import DatasetItem
from llmgate.datasets.prompt import user_text
from llmgate.quality.embedding import TextEmbedder

__all__ = ["DEFAULT_THRESHOLD", "NearDuplicates", "drop_near_duplicates"]

DEFAULT_THRESHOLD = 0.85
_BLOCK = 512


class NearDuplicates:
    """Greedy keep-first near-duplicate removal carried across calls (see the module doc)."""

    def __init__(self, embedder: TextEmbedder, threshold: float = DEFAULT_THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"the near-duplicate threshold must be in (0, 1], got {threshold}")
        self.embedder = embedder
        self.threshold = threshold
        self._kept: np.ndarray | None = None  # the kept items' vectors, one a row

    def keep_new(self, items: Sequence[DatasetItem]) -> tuple[list[DatasetItem], int]:
        """``items`` without those near-duplicating one kept before or earlier here; and how many."""
        texts = [user_text(item.messages) for item in items]
        with_text = sorted(
            (i for i, text in enumerate(texts) if text.strip()),
            key=lambda i: (items[i].rating is None, not items[i].scores, i),
        )
        if not with_text:
            return list(items), 0
        vectors = np.asarray(self.embedder.encode([texts[i] for i in with_text]), dtype=np.float32)
        dropped: set[int] = set()
        for start in range(0, len(with_text), _BLOCK):
            block = vectors[start : start + _BLOCK]
            near_kept = (
                (block @ self._kept.T).max(axis=1) >= self.threshold
                if self._kept is not None and len(self._kept)
                else np.zeros(len(block), dtype=bool)
            )
            within = block @ block.T
            kept_here: list[int] = []
            for row in range(len(block)):
                if near_kept[row] or (kept_here and within[row, kept_here].max() >= self.threshold):
                    dropped.add(with_text[start + row])
                else:
                    kept_here.append(row)
            chosen = block[kept_here]
            self._kept = chosen if self._kept is None else np.vstack([self._kept, chosen])
        return [item for i, item in enumerate(items) if i not in dropped], len(dropped)


def drop_near_duplicates(
    items: Sequence[DatasetItem], embedder: TextEmbedder, threshold: float = DEFAULT_THRESHOLD
) -> tuple[list[DatasetItem], int]:
    """``items`` without their near-duplicates (the first of each group kept), and how many went."""
    return NearDuplicates(embedder, threshold).keep_new(items)
