"""Bulk analysis on Ray (``pip install 'litefer[scale]'``): `litefer analyze SOURCE --engine ray`.

Importing this package does not import Ray; ``analyze_bulk`` imports it when a job starts.
Modules: ``inputs`` (listing, units), ``worker`` (the actor), ``video`` (frame ranges),
``stitch`` (track ids across ranges), ``writer`` (JSON Lines / Parquet, commit, resume),
``job`` (the Ray Data pipeline and the driver), ``command`` (the CLI glue). See docs/scale.md.
"""
from .inputs import Input, Unit, list_inputs, plan_units
from .job import JobReport, ScaleOptions, analyze_bulk
from .worker import RecognizerOptions
from .writer import read_records

__all__ = ["Input", "Unit", "list_inputs", "plan_units", "JobReport", "ScaleOptions",
           "analyze_bulk", "RecognizerOptions", "read_records"]
