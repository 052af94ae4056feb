"""Hoera callback service."""
