"""Hoera alerts service."""
