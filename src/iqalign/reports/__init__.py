"""Human-readable renderings of analysis tables."""
from .summary import family_comparison, overview_markdown

__all__ = ["family_comparison", "overview_markdown"]
