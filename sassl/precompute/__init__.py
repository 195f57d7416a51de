"""The precompute job: raw images -> content or style banks, on Ray (see ``job.py``)."""

from sassl.precompute.job import PrecomputeConfig, Summary, precompute

__all__ = ["PrecomputeConfig", "Summary", "precompute"]
