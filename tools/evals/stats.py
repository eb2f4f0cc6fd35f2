"""Statistics of evaluation: bootstrap confidence intervals and Bradley-Terry ratings from pairwise votes."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

RESAMPLES = 1000
"""Bootstrap resamples of a score."""
SCALE, BASE, INIT = 400.0, 10.0, 1000.0
"""Chatbot Arena's Elo-like scale: 400 points is a 10:1 odds ratio; the mean model sits at 1000."""


def bootstrap_ci(values: Sequence[float], seed: int = 0, resamples: int = RESAMPLES) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean of per-item values, in percent."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return (0.0, 0.0)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return (float(lo) * 100, float(hi) * 100)


def _outcomes(battles: Sequence[tuple[str, str, str]], models: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Wins (ties count half to each side) and games between each pair of models."""
    index = {m: i for i, m in enumerate(models)}
    wins = np.zeros((len(models), len(models)))
    for a, b, winner in battles:
        i, j = index[a], index[b]
        if winner == "model_a":
            wins[i, j] += 1
        elif winner == "model_b":
            wins[j, i] += 1
        else:  # "tie" and "tie (bothbad)"
            wins[i, j] += 0.5
            wins[j, i] += 0.5
    return wins, wins + wins.T


def bradley_terry(battles: Sequence[tuple[str, str, str]], prior: float = 0.5) -> dict[str, float]:
    """Maximum-likelihood Bradley-Terry ratings on Chatbot Arena's scale.

    P(i beats j) = sigmoid(theta_i - theta_j), fitted by Newton's method on the log-likelihood
    (ties count as half a win for each side). Each model also plays ``prior`` virtual wins and
    ``prior`` virtual losses against a reference at 0, so a model that won (or lost) every vote
    gets a finite rating; with real vote counts the prior's pull is negligible.
    """
    models = sorted({m for a, b, _ in battles for m in (a, b)})
    if not models:
        return {}
    wins, games = _outcomes(battles, models)
    theta = np.zeros(len(models))
    for _ in range(100):
        p = 1 / (1 + np.exp(theta[None, :] - theta[:, None]))  # p[i, j] = P(i beats j)
        ref = 1 / (1 + np.exp(-theta))
        grad = (wins - games * p).sum(axis=1) + prior - 2 * prior * ref
        curve = games * p * (1 - p)
        hessian = curve - np.diag(curve.sum(axis=1) + 2 * prior * ref * (1 - ref))
        step = np.linalg.lstsq(hessian, grad, rcond=None)[0]
        theta = theta - step
        if np.max(np.abs(step)) < 1e-9:
            break
    theta -= theta.mean()  # the mean model sits at INIT
    ratings = INIT + SCALE * theta / math.log(BASE)
    return {m: float(r) for m, r in zip(models, ratings, strict=True)}


def bootstrap_ratings(battles: Sequence[tuple[str, str, str]], seed: int = 0,
                      resamples: int = 200) -> dict[str, tuple[float, float]]:
    """95 % intervals of each rating, refitting on battles resampled with replacement (as LMSYS does)."""
    if not battles:
        return {}
    rng = np.random.default_rng(seed)
    samples: dict[str, list[float]] = {}
    for _ in range(resamples):
        picked = [battles[k] for k in rng.integers(0, len(battles), size=len(battles))]
        for model, rating in bradley_terry(picked).items():
            samples.setdefault(model, []).append(rating)
    return {m: (float(np.percentile(r, 2.5)), float(np.percentile(r, 97.5))) for m, r in samples.items()}
