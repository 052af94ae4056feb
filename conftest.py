"""Root test configuration: the kit's test plugin (real Kafka and PostgreSQL of deploy/local)."""

pytest_plugins = ["hoera_devkit.testing"]
