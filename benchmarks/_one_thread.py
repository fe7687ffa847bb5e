"""Import first: one BLAS / OpenMP / OpenCV thread, so per-image costs are compute costs.

The thread-count variables must be set before numpy / scipy / OpenCV load (their pools read them then).
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import cv2  # noqa: E402

cv2.setNumThreads(1)
