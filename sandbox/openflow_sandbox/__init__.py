"""The local rehearsal environment: moto server, real PostgreSQL, Snowflake emulation. Never deployed."""
