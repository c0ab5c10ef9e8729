"""Power ResumeRuntime: ALTER OPENFLOW RUNTIME ... RESUME."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.power import resume_runtime

lambda_handler = phase_handler(resume_runtime)
