"""Hoera's no-Docker local stack: real Kafka and PostgreSQL as ordinary processes on loopback."""
