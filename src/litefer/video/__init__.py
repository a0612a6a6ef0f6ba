"""Video: tracking and per-track temporal state (numpy only)."""
from .tracker import Tracker

__all__ = ["Tracker"]
