"""Hoera event contracts."""
