"""Checks `make lint` runs on the repository: the state machines (asl) and template.yaml's IAM."""
