"""The local rehearsal environment: moto server, real PostgreSQL, Snowflake emulation. Never deployed."""

import warnings

# fakesnow's own DB-API path warns on every SELECT; it is not ours to change.
warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
