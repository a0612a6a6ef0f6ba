"""Video: tracking, per-track temporal models, live-frame grabbing, timelines (no torch)."""
from .smoothing import (TEMPORAL_MODELS, EmaSmoother, NoSmoothing, create_temporal,
                        smooth_batch)
from .tracker import Track, Tracker

__all__ = ["Tracker", "Track", "TEMPORAL_MODELS", "EmaSmoother", "NoSmoothing", "create_temporal",
           "smooth_batch"]
