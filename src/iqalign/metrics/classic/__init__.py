"""Classic no-reference IQA metrics: BRISQUE, NIQE, PIQE (all: lower score = better quality).

Importing this package registers them (``get_metric("brisque").image_fn``); the functions are
also ``iqalign.metrics.classic.brisque.brisque`` etc. How closely each matches its published implementation is
stated in its module docstring and in docs/classic-iqa.md.
"""
from __future__ import annotations

from ..registry import MetricSpec, register
from . import brisque, niqe, piqe  # the modules; each holds a function of the same name

__all__ = ["brisque", "niqe", "piqe"]

register(
    MetricSpec(
        name="brisque",
        family="classic",
        higher_is_better=False,
        needs_labels=False,
        version="1",
        description=(
            "BRISQUE: 36 MSCN / (A)GGD natural-scene-statistics features at 2 scales on the rounded "
            "MATLAB luma, LIVE-trained RBF epsilon-SVR; about 0 (best) to 100 (worst). Images >= 64 px."
        ),
        reference=(
            "Mittal, Moorthy & Bovik 2012, authors' original release (LIVE-trained SVR); model files of "
            "the PyPI package 'brisque' 0.2.0 (a LIVE retraining), features matched to that model; within "
            "1.25 points of the original release on the IQA-PyTorch calibration images"
        ),
        requires=("brisque",),
    ),
    image_fn=brisque.brisque,
)

register(
    MetricSpec(
        name="niqe",
        family="classic",
        higher_is_better=False,
        needs_labels=False,
        version="1",
        description=(
            "NIQE: Mahalanobis-like distance between the MVG of 96x96-patch NSS features (2 scales, all "
            "patches) and the authors' pristine model (125 natural images); lower is better, about 3-5 for "
            "good photos. Images >= 96 px; only 4 patches per scale at 224 px, so noisier than at full size."
        ),
        reference=(
            "Mittal, Soundararajan & Bovik 2013, authors' original release with their pristine model "
            "(BasicSR's conversion, shipped as package data); within 0.06 of the original release on the "
            "IQA-PyTorch calibration images"
        ),
        requires=(),
    ),
    image_fn=niqe.niqe,
)

register(
    MetricSpec(
        name="piqe",
        family="classic",
        higher_is_better=False,
        needs_labels=False,
        version="1",
        description=(
            "PIQE: 16x16-block MSCN analysis (activity, noticeable-artifact and noise criteria) pooled "
            "over spatially active blocks; 0 (best) to 100 (worst). Images >= 64 px."
        ),
        reference="Venkatanath et al. 2015, MATLAB Image Processing Toolbox piqe(); equal within 0.05",
        requires=(),
    ),
    image_fn=piqe.piqe,
)
