"""Power: the WAL guard - may the source keep the slot's WAL for the whole stop?"""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.power.wal_step import wal_guard_step

lambda_handler = phase_handler(wal_guard_step)
