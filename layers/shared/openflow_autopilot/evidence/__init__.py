"""Evidence of each run: what every phase sent to Snowflake (masked) and every connector
configuration it wrote, stored with the execution's artifacts in S3 and read back by `report`."""
