"""The one error the template doctor raises: the input is not a CloudFormation template it can read."""

from __future__ import annotations

from openflow_autopilot.errors import InvalidRequest


class TemplateError(InvalidRequest):
    """The file is empty, too large, not YAML/JSON, or not a CloudFormation template. Nothing was written."""
