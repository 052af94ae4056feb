"""End-to-end journeys and the one-trace test (a package, so its system stops when the journeys end)."""
