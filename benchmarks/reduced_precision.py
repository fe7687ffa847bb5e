"""Could lower precision buy the speed fp32 cannot? EfficientNet-Lite0's network in fp32, int8 and bf16.

    python benchmarks/reduced_precision.py [--n 256] [--imagenet DIR]

Side by side in one run, on the same N views (224 px, (x - 127) / 128) of the ImageNet sample, batch 32,
all cores: ONNX Runtime fp32 (what iqalign runs), ONNX Runtime int8 (static QDQ quantisation by
``onnxruntime.quantization``: per-channel int8 weights, uint8 activations, calibrated on 64 *other*
photos of the sample), and, only when the ``openvino`` package is importable (it is not a dependency),
OpenVINO fp32 and bf16 (its ``INFERENCE_PRECISION_HINT``; bf16 uses AMX where the CPU has it).
For each: ms per image for the network alone, the speed-up over ONNX Runtime fp32, top-1 agreement
with it, Spearman's rho of the max class probability (what task_maxprob scores) and the largest
probability difference. iqalign's acceptance bar for an engine is rho > 0.999.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import available_cores, cpu_name  # noqa: E402

from iqalign.models import load_for_inference  # noqa: E402
from iqalign.models.base import softmax  # noqa: E402
from iqalign.sources import load_view  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BATCH = 32


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--imagenet", type=Path, default=REPO.parent / "shared" / "data" / "imagenet-sample")
    args = ap.parse_args()
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quant_pre_process, quantize_static

    clf = load_for_inference("efficientnet_lite0", "onnx")
    photos = sorted(args.imagenet.glob("*.JPEG"))
    x = clf.preprocessing([load_view(p) for p in photos[: args.n]])
    calib = clf.preprocessing([load_view(p) for p in photos[-64:]])
    threads = available_cores()

    def ort_runner(path: str):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return lambda b: sess.run(None, {name: b})[0]

    runners = {"ONNX Runtime fp32": ort_runner(str(clf.path))}
    with tempfile.TemporaryDirectory() as tmp:
        class Calibration(CalibrationDataReader):
            def __init__(self):
                self.batches = iter([{clf.input_name: calib[i:i + 8]} for i in range(0, len(calib), 8)])

            def get_next(self):
                return next(self.batches, None)

        pre, q8 = os.path.join(tmp, "pre.onnx"), os.path.join(tmp, "int8.onnx")
        quant_pre_process(str(clf.path), pre)
        quantize_static(pre, q8, Calibration(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        runners["ONNX Runtime int8 (static QDQ)"] = ort_runner(q8)
    try:
        import openvino as ov
    except ImportError:
        print("openvino is not installed: its rows are skipped (pip install openvino to add them)\n")
    else:
        core = ov.Core()
        model = core.read_model(str(clf.path))
        for precision in ("f32", "bf16"):
            compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision,
                                                         "INFERENCE_NUM_THREADS": threads})
            runners[f"OpenVINO {ov.__version__} {precision}"] = (lambda c: (lambda b: c(b)[0]))(compiled)

    seconds = {k: 0.0 for k in runners}
    probs = {}
    for k, run in runners.items():
        run(x[:BATCH])  # warm-up
    for rep in range(3):  # interleaved passes
        for k, run in runners.items():
            t0 = time.perf_counter()
            out = [run(x[i:i + BATCH]) for i in range(0, len(x), BATCH)]
            seconds[k] += time.perf_counter() - t0
            probs[k] = softmax(np.concatenate(out).astype(np.float64))
    base = "ONNX Runtime fp32"
    n = len(x)
    print(f"{n} views, batch {BATCH}, {threads} threads, 3 interleaved passes\n")
    print("| engine / precision | network ms per image | speed-up vs fp32 | top-1 agreement | rho of max prob | max abs prob diff |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in runners:
        ms = 1000 * seconds[k] / (3 * n)
        agree = (probs[k].argmax(1) == probs[base].argmax(1)).mean()
        rho = spearmanr(probs[k].max(1), probs[base].max(1))[0]
        diff = np.abs(probs[k] - probs[base]).max()
        print(f"| {k} | {ms:.2f} | {seconds[base] / seconds[k]:.2f}x | {agree:.3f} | {rho:.5f} | {diff:.2g} |")
    print(f"\nMachine: {cpu_name()}, {available_cores()} cores. Command: `python benchmarks/reduced_precision.py --n {n}`")


if __name__ == "__main__":
    main()
