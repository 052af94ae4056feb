"""hoera-devkit: what development, demos and tests use and a deployed service never imports: the pytest
plugin (real Kafka and PostgreSQL of deploy/local), the local SMTP sink, the demo users' tokens."""
