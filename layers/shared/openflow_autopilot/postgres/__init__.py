"""The PostgreSQL source: names, pre-flight doctor, prepare (role, publication, grants),
replication proof and WAL guard.

Modules: `names` (parse user input), `catalog` (read-only catalog queries), `doctor`,
`prepare`, `proof`, `wal_guard`, `models` (JSON-serialisable results), `connection`
(connect and map psycopg errors to the state machine's error names).
"""
