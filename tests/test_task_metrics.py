import numpy as np
import pytest

from iqalign.metrics.registry import get_metric, list_metrics
from iqalign.models import performance

PROBS = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [1 / 3, 1 / 3, 1 / 3]])
LABELS = np.array([0, 1, 2])


def test_task_metric_values_by_hand():
    f = {n: get_metric(n).task_fn for n in ("task_maxprob", "task_margin", "task_negentropy", "task_ptrue", "task_truemargin")}
    np.testing.assert_allclose(f["task_maxprob"](PROBS), [0.7, 0.6, 1 / 3])
    np.testing.assert_allclose(f["task_margin"](PROBS), [0.5, 0.3, 0.0], atol=1e-12)
    np.testing.assert_allclose(f["task_negentropy"](PROBS)[2], -np.log(3))
    np.testing.assert_allclose(f["task_negentropy"](PROBS)[0], 0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1))
    np.testing.assert_allclose(f["task_ptrue"](PROBS, LABELS), [0.7, 0.3, 1 / 3])
    np.testing.assert_allclose(f["task_truemargin"](PROBS, LABELS), [0.5, -0.3, 0.0], atol=1e-12)


def test_label_aware_metrics_refuse_missing_labels():
    with pytest.raises(ValueError, match="needs labels"):
        get_metric("task_ptrue").task_fn(PROBS, None)


def test_registry_declares_direction_labels_version():
    specs = {s.name: s for s in list_metrics()}
    assert specs["task_ptrue"].needs_labels and not specs["task_maxprob"].needs_labels
    assert all(s.version for s in specs.values())
    assert {"classic", "statistic", "task"} <= {s.family for s in specs.values()}
    with pytest.raises(KeyError, match="unknown metric"):
        get_metric("nope")


def test_performance_targets_by_hand():
    probs = np.array([[0.5, 0.3, 0.2, 0, 0, 0, 0], [0.05, 0.4, 0.1, 0.1, 0.1, 0.1, 0.15], [0.1, 0.2, 0.3, 0.4, 0, 0, 0]])
    perf = performance(probs, np.array([0, 0, 5]))
    np.testing.assert_array_equal(perf["top1"], [1, 0, 0])
    np.testing.assert_array_equal(perf["top5"], [1, 0, 0])  # row 3: 4 classes above, 2 tied at 0: ties count against
    np.testing.assert_allclose(perf["p_true"], [0.5, 0.05, 0.0])
    np.testing.assert_allclose(perf["loss"][:2], [-np.log(0.5), -np.log(0.05)])
    assert np.isfinite(perf["loss"][2]) and perf["loss"][2] > 20
    flat = performance(np.full((1, 4), 0.25), np.array([2]))
    assert flat["top1"][0] == 0 and flat["top5"][0] == 1
    with pytest.raises(ValueError, match="labels must be in"):
        performance(probs, np.array([0, 0, 9]))
