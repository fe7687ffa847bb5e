"""Performance prior: quality metric -> expected model performance, fitted on a benchmark, used on
unlabelled data (``iqalign calibrate`` / ``iqalign predict``; docs/prior.md)."""
from .fit import FORMAT, FORMAT_VERSION, fit_prior, fit_prior_from_rows, load_prior, save_prior, validate_prior
from .predict import expected_performance, predict, predict_from_values, summary_text

__all__ = ["FORMAT", "FORMAT_VERSION", "fit_prior", "fit_prior_from_rows", "load_prior", "save_prior",
           "validate_prior", "expected_performance", "predict", "predict_from_values", "summary_text"]
