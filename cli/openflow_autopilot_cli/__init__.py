"""The `openflow-autopilot` command line: installed by `make` beside the Lambda layer's package
(openflow_autopilot), never deployed. Each command family is a module with `register(subparsers)`."""
