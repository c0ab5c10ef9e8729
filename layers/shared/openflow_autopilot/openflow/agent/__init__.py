"""The Openflow agent instance: collect its journals over SSM, diagnose them, plan and apply repairs.

`collect` sends the read-only collection script and the service re-run over SSM RunCommand and
reads the output (S3 first, inline as a fallback); `journal` splits that output into sections and
`log_entries` their lines into entries; `signatures` is the catalog of known failures (its entry
matchers in `matchers`, the timer check in `timers`); `diagnose` turns the text into findings
(`models`, accumulated in `findings`; `repository_check` asks ECR which repositories exist);
`remediate` decides which repairs to run and creates missing ECR repositories. Nothing here sleeps
or polls: the state machine waits between calls. Import from the modules: `diagnose` is both a
module and its main function.
"""
