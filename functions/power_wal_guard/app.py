"""Power WalGuard: may the source keep the slot's WAL for the whole off period (refuse, or shorten)."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import wal_guard

lambda_handler = phase_handler(wal_guard)
