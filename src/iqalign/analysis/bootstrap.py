"""Grouped (cluster) bootstrap helpers: resample source images, not rows.

Rows of the analysis table are (source image x imaging condition).  Rows of
the same source image are strongly dependent (same content, same difficulty),
so the unit of resampling is the image: a bootstrap replicate draws ``G``
images with replacement out of the ``G`` images, and every row of a drawn
image comes along; an image drawn ``k`` times contributes its rows ``k``
times.  Such a replicate is fully described by a vector of per-image
multiplicities ``counts[g]`` (summing to ``G``), and a row's multiplicity is
the count of its image.  All estimators here work on those counts directly,
which is exactly equivalent to materialising the duplicated rows but needs no
variable-length index arrays and vectorises over replicates.

Pooled Spearman under multiplicities: in the multiset of duplicated rows, all
copies of a row carry the same value, so its average ("fractional") rank is::

    rank = (total multiplicity of strictly smaller values)
           + (total multiplicity of values equal to it + 1) / 2

and Spearman's rho is the Pearson correlation of these ranks with the
multiplicities as integer weights.  Sorting and tie detection are done once
per column (a sparse tie-block x image incidence matrix); each replicate then
only needs a sparse product, a cumulative sum and a gather.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = [
    "resample_counts",
    "percentile_interval",
    "RankPrep",
    "rank_prep",
    "weighted_centered_ranks",
    "pooled_spearman_boot",
    "grouped_mean_boot",
]

# Upper bound on the number of float64 elements held per chunk of replicates
# (all cached rank matrices together); ~25e6 elements is ~200 MB.
_DEFAULT_MAX_ELEMS = 25_000_000


def resample_counts(n_groups: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n_boot`` resamples of ``n_groups`` groups with replacement.

    Returns an ``(n_boot, n_groups)`` int array: ``counts[b, g]`` is how many
    times group ``g`` was drawn in replicate ``b`` (each row sums to
    ``n_groups``).
    """
    if n_groups <= 0 or n_boot <= 0:
        return np.zeros((max(n_boot, 0), max(n_groups, 0)), dtype=np.int64)
    draws = rng.integers(0, n_groups, size=(n_boot, n_groups))
    flat = draws + (np.arange(n_boot, dtype=np.int64) * n_groups)[:, None]
    return np.bincount(flat.ravel(), minlength=n_boot * n_groups).reshape(n_boot, n_groups)


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile bootstrap interval, ignoring NaN replicates (undefined statistics).

    Returns ``(nan, nan)`` if there is no finite replicate.
    """
    s = np.asarray(samples, dtype=float)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return float("nan"), float("nan")
    alpha = 1.0 - confidence
    lo, hi = np.quantile(s, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


@dataclass(frozen=True)
class RankPrep:
    """Tie blocks of one column (computed once, reused for every replicate)."""

    block_of: np.ndarray  # (n,) index of each row's block of tied values, blocks ascending
    incidence: sparse.csr_matrix  # (K, G): number of rows of group g in block k


def rank_prep(values: np.ndarray, codes: np.ndarray, n_groups: int) -> RankPrep:
    """Prepare weighted ranking of ``values`` (no NaN allowed) with row groups ``codes``."""
    v = np.asarray(values, dtype=float)
    codes = np.asarray(codes, dtype=np.int64)
    uniq, block_of = np.unique(v, return_inverse=True)
    block_of = block_of.reshape(-1)
    inc = sparse.csr_matrix((np.ones(v.size), (block_of, codes)), shape=(uniq.size, n_groups))
    inc.sum_duplicates()
    return RankPrep(block_of=block_of, incidence=inc)


def weighted_centered_ranks(counts_t: np.ndarray, prep: RankPrep, w: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Average ranks under per-group multiplicities, centred per replicate.

    Works in replicate-last layout: ``counts_t`` is ``(G, B)`` float (group
    multiplicities per replicate) and ``w`` the ``(n, B)`` row weights
    (``counts_t[codes]``).  Returns ``(rc, ss)``: the centred ranks ``(n, B)``
    (weighted mean zero per replicate) and the weighted sum of squares of the
    centred ranks ``(B,)``.
    """
    block_w = np.asarray(prep.incidence @ counts_t)  # (K, B) multiplicity of each tie block
    below = np.cumsum(block_w, axis=0)
    below -= block_w
    block_w += 1.0
    block_w *= 0.5
    below += block_w  # average rank of each block
    ranks = below[prep.block_of]  # (n, B)
    total = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.einsum("nb,nb->b", w, ranks) / total
    ranks -= mean
    ss = np.einsum("nb,nb,nb->b", w, ranks, ranks)
    return ranks, ss


def pooled_spearman_boot(columns: Mapping[str, np.ndarray], codes: np.ndarray,
                         pairs: Sequence[tuple[str, str]], counts: np.ndarray,
                         max_elems: int = _DEFAULT_MAX_ELEMS) -> dict[tuple[str, str], np.ndarray]:
    """Bootstrap distribution of pooled-row Spearman rho for several column pairs.

    ``columns`` maps a name to a 1-D float array over the same ``n`` rows (no
    NaN: the caller drops incomplete rows first); ``codes`` gives each row's
    group (image) index into the columns of ``counts`` ``(B, G)``.  For each
    ``(x, y)`` pair returns a ``(B,)`` array of Spearman rho of the pooled rows
    of each resample (NaN where a resample makes either column constant).

    Ranks of each column are computed once per chunk of replicates and shared
    by every pair using the column; chunking bounds memory to about
    ``max_elems`` float64 values.
    """
    codes = np.asarray(codes, dtype=np.int64)
    n = codes.size
    n_boot, n_groups = counts.shape
    out = {p: np.full(n_boot, np.nan) for p in pairs}
    if n == 0 or n_boot == 0 or not pairs:
        return out
    names = list(dict.fromkeys([c for p in pairs for c in p]))
    preps = {c: rank_prep(columns[c], codes, n_groups) for c in names}
    x_names = set(p[0] for p in pairs)
    chunk = max(1, min(n_boot, int(max_elems // (n * (len(names) + len(x_names) + 2)))))
    for b0 in range(0, n_boot, chunk):
        cnt_t = np.ascontiguousarray(counts[b0:b0 + chunk].T, dtype=float)  # (G, b)
        w = cnt_t[codes]  # (n, b)
        rc: dict[str, np.ndarray] = {}
        ss: dict[str, np.ndarray] = {}
        for c in names:
            rc[c], ss[c] = weighted_centered_ranks(cnt_t, preps[c], w)
        wr: dict[str, np.ndarray] = {}
        for x, y in pairs:
            if x not in wr:
                wr[x] = w * rc[x]
            cov = np.einsum("nb,nb->b", wr[x], rc[y])
            with np.errstate(invalid="ignore", divide="ignore"):
                rho = cov / np.sqrt(ss[x] * ss[y])
            rho[~((ss[x] > 0) & (ss[y] > 0))] = np.nan
            out[(x, y)][b0:b0 + chunk] = np.clip(rho, -1.0, 1.0)
    return out


def grouped_mean_boot(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Bootstrap distribution of the mean of per-group values.

    ``values`` is ``(G,)`` with NaN for groups that do not contribute (their
    statistic is undefined); ``counts`` is ``(B, G)``.  Replicate ``b`` is the
    multiplicity-weighted mean over the contributing groups it drew; NaN if it
    drew none.
    """
    v = np.asarray(values, dtype=float)
    ok = np.isfinite(v)
    c = counts[:, ok].astype(float)
    tot = c.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        res = (c @ v[ok]) / tot
    res[tot == 0] = np.nan
    return res
