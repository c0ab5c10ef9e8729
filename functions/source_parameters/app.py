"""SourceParameters: the RDS parameter group with logical replication."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.provision import source_parameters

lambda_handler = phase_handler(source_parameters)
