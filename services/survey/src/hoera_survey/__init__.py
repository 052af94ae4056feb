"""Hoera survey service."""
