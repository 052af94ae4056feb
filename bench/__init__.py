"""Hoera benchmarks: figures beside the raw broker and database ceilings of the same run."""
