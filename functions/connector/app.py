"""The PostgreSQL CDC connector: create, configure (GET/edit/PUT config), commit, start."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.phases.entry_delivery import configure_connector

lambda_handler = phase_handler(configure_connector)
