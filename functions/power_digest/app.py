"""Digest: the deployment's week (hours on and asleep, measured and modelled cost, the saving, the
WAL guard's refusals) to its notification targets; started weekly by its `-digest` schedule."""

from openflow_autopilot.handler import phase_handler
from openflow_autopilot.steps.digest import weekly_digest

lambda_handler = phase_handler(weekly_digest)
