"""Power SuspendWarehouse: suspend the connector's warehouse (schedule.suspend_warehouse)."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import suspend_warehouse

lambda_handler = phase_handler(suspend_warehouse)
