"""S3 ObjectCreated on templates/: resume the execution waiting for that template."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.triggers.template_upload import template_uploaded

lambda_handler = phase_handler(template_uploaded)
