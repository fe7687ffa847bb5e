"""Quality metrics whose causal relation to the synthetic world is known by construction.

Each reads the ground truth of the world (no pixels), plus a small independent measurement noise
(standard deviation :data:`ORACLE_NOISE`, seeded per image and condition), and is oriented so that
higher = better quality:

* ``oracle_condition`` reads only the task-relevant imaging condition:
  ``1 - d`` with ``d = severity / 5`` for blur, noise, contrast, jpeg and weather, ``d = 0`` for
  clean and tint.  Constant across content: it cannot tell an easy photo from a hard one.
* ``oracle_content`` reads only the content: the scene's ease
  ``e = mean((size - 0.3) / 0.45, 1 - clutter, 1 - occlusion / 0.35)`` in [0, 1].  Constant across
  conditions: it cannot see what the imaging did.
* ``oracle_irrelevant`` reads only a condition the task models ignore: ``1 - t`` with
  ``t = severity / 5`` for tint (a colour shift with unchanged luma; the models see luma), 0 otherwise.
  The "human-aligned" failure mode: a real change in the image that does not matter to the task.
* ``oracle_mix`` reads both the relevant condition and the content: ``(1 - d + e) / 2``.
"""
from __future__ import annotations

import numpy as np

from .world import IRRELEVANT_CORRUPTIONS, RELEVANT_CORRUPTIONS, Content

__all__ = ["ORACLE_METRICS", "ORACLE_NOISE", "content_ease", "oracle_values"]

#: name -> (higher_is_better, what it reads)
ORACLE_METRICS: dict[str, tuple[bool, str]] = {
    "oracle_condition": (True, "the task-relevant imaging condition only (1 - severity/5 of blur, noise, "
                               "contrast, jpeg, weather)"),
    "oracle_content": (True, "the content only (ease of the scene: object size, clutter, occlusion)"),
    "oracle_irrelevant": (True, "only a condition the task models ignore (1 - severity/5 of tint, a colour "
                                "shift with unchanged luma)"),
    "oracle_mix": (True, "half the relevant condition, half the content"),
}
ORACLE_NOISE = 0.05


def content_ease(content: Content) -> float:
    """How easy the scene is, in [0, 1]: big, uncluttered, unoccluded objects are easy."""
    return float(np.mean([(content.size - 0.3) / 0.45, 1.0 - content.clutter, 1.0 - content.occlusion / 0.35]))


def oracle_values(content: Content, corruption: str, severity: int, rng: np.random.Generator) -> dict[str, float]:
    """The four oracle metrics of one (image, condition); ``rng`` supplies the measurement noise."""
    severity = int(severity)
    d = severity / 5.0 if corruption in RELEVANT_CORRUPTIONS else 0.0
    t = severity / 5.0 if corruption in IRRELEVANT_CORRUPTIONS else 0.0
    e = content_ease(content)
    noise = rng.normal(0.0, ORACLE_NOISE, 4)
    return {"oracle_condition": 1.0 - d + noise[0], "oracle_content": e + noise[1],
            "oracle_irrelevant": 1.0 - t + noise[2], "oracle_mix": (1.0 - d + e) / 2.0 + noise[3]}
