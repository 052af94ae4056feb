"""Hoera compensation service."""
