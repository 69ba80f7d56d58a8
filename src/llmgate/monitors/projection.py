"""A 2-D picture of prompt drift: reference and current prompt embeddings on the reference's PCA plane.

The reference is the one evaluations use (``evaluate.reference_window``: the pinned baseline, or
the first ``reference_size`` samples); the current window is the last ``window`` of samples
without the reference's. Each side is bounded (``limit`` samples, evenly spread over its window),
so the picture costs the same on a busy gateway. By default the principal axes are fitted on the
reference alone, so the picture stays put from one window to the next and a shift in the mix of
the reference's topics shows as the current cloud moving across it. A topic the reference never
had may lie off that plane; ``fit="pooled"`` fits the axes on both windows together, which shows
it (at the price of a picture that changes with the current window). Only numpy; the statistics
that decide drift are in ``drift.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from llmgate.config.monitors import parse_window
from llmgate.monitors.evaluate import current_window, reference_window

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from llmgate.config.monitors import MonitorSettings

__all__ = ["FITS", "MAX_POINTS", "pca_fit", "project_prompts"]

MAX_POINTS = 500
FITS = ("reference", "pooled")
EXCERPT_CHARS = 140

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def pca_fit(reference: FloatArray, components: int = 2) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(mean, axes as rows, explained variance ratios) of ``reference``'s top principal components.

    Each axis's sign is fixed (its largest loading positive), so the same data gives the same
    picture. Fewer rows or dimensions than ``components`` give zero axes for the missing ones."""
    mean = reference.mean(axis=0)
    centred = reference - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    axes = np.zeros((components, reference.shape[1]))
    found = min(components, vt.shape[0])
    axes[:found] = vt[:found]
    for axis in axes:
        if axis.any() and axis[np.argmax(np.abs(axis))] < 0:
            axis *= -1.0
    power = singular**2
    total = float(power.sum())
    ratios = np.zeros(components)
    if total > 0:
        ratios[:found] = power[:found] / total
    return mean, axes, ratios


def _spread(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    if len(rows) <= limit:
        return rows
    picks = np.linspace(0, len(rows) - 1, limit).round().astype(int)
    return [rows[i] for i in sorted(set(picks.tolist()))]


def _vectors(rows: list[dict[str, Any]]) -> FloatArray:
    return np.stack([np.frombuffer(row["prompt_vector"], dtype=np.float32) for row in rows]).astype(
        np.float64
    )


def _side(rows: list[dict[str, Any]], points: FloatArray) -> dict[str, Any]:
    return {
        "n": len(rows),
        "points": [[round(float(x), 5), round(float(y), 5)] for x, y in points],
        "ids": [row["record_id"] for row in rows],
        "excerpts": [(row["prompt_excerpt"] or "")[:EXCERPT_CHARS] for row in rows],
    }


def _current_rows(
    engine: Engine,
    settings: MonitorSettings,
    model: str,
    route: str,
    reference_rows: list[dict[str, Any]],
    reference: dict[str, Any],
    *,
    now: datetime,
    window: str | None,
) -> tuple[list[dict[str, Any]], str]:

    spec = parse_window(window or settings.drift.window)
    rows, _ = current_window(engine, settings, model, route, reference_rows, reference, spec, now=now)
    return rows, spec.text


def project_prompts(
    engine: Engine,
    settings: MonitorSettings,
    model: str,
    route: str,
    *,
    now: datetime,
    window: str | None = None,
    limit: int = MAX_POINTS,
    fit: str = "reference",
) -> dict[str, Any]:
    """Reference and current prompt embeddings of ``model`` on ``route`` projected on the first
    two principal components of the reference (``fit="reference"``) or of both windows
    (``"pooled"``), at most ``limit`` points each.

    ``separation``: the distance between the two clouds' centres on that plane, in units of the
    reference's spread (its root-mean-square distance from its centre): about 0 when the current
    prompts look like the reference, 1 or more when they sit apart."""

    if fit not in FITS:
        raise ValueError(f"fit must be one of {', '.join(FITS)}, got {fit!r}")
    limit = max(2, min(limit, MAX_POINTS))
    reference_rows, reference = reference_window(engine, settings, model, route)
    current_rows, window_text = _current_rows(
        engine, settings, model, route, reference_rows, reference, now=now, window=window
    )
    reference_rows, current_rows = _spread(reference_rows, limit), _spread(current_rows, limit)
    result: dict[str, Any] = {
        "model": model,
        "route": route,
        "at": now.isoformat(),
        "window": window_text,
        "reference_kind": reference["kind"],
        "fit": fit,
        "explained_variance": [],
        "separation": None,
        "reference": _side([], np.zeros((0, 2))),
        "current": _side([], np.zeros((0, 2))),
    }
    if len(reference_rows) < 3:
        return result
    ref = _vectors(reference_rows)
    cur = _vectors(current_rows) if current_rows else np.zeros((0, ref.shape[1]))
    if cur.shape[1] != ref.shape[1]:  # an embedder change leaves nothing to compare
        current_rows, cur = [], np.zeros((0, ref.shape[1]))
    mean, axes, ratios = pca_fit(np.vstack([ref, cur]) if fit == "pooled" and len(cur) else ref)
    ref_points = (ref - mean) @ axes.T
    cur_points = (cur - mean) @ axes.T
    result["explained_variance"] = [round(float(r), 5) for r in ratios]
    result["reference"] = _side(reference_rows, ref_points)
    result["current"] = _side(current_rows, cur_points)
    if len(cur_points):
        centred = ref_points - ref_points.mean(axis=0)
        spread = float(np.sqrt((centred**2).sum(axis=1).mean()))
        gap = float(np.linalg.norm(cur_points.mean(axis=0) - ref_points.mean(axis=0)))
        result["separation"] = round(gap / spread, 5) if spread > 0 else None
    return result
