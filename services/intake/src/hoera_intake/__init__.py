"""Hoera intake service."""
