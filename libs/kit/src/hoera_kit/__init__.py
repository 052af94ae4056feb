"""The Hoera service kit."""
