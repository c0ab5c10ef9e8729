"""RDS logical replication: parameter group, and a reboot when allowed or approved."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry import source_parameters

lambda_handler = phase_handler(source_parameters)
