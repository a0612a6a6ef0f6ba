"""Hand-crafted features (numpy only, no torch): LBP and LBP-TOP codes and histograms."""
from .lbp import (BINS, MAPPINGS, NEIGHBOURS, PLANES, LbpTop, lbp, lbp_histogram, lbp_top,
                  lbp_top_histogram)

__all__ = ["BINS", "MAPPINGS", "NEIGHBOURS", "PLANES", "LbpTop", "lbp", "lbp_histogram",
           "lbp_top", "lbp_top_histogram"]
