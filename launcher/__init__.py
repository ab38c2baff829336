"""The `phonos` command: starts Triton, the job service and the gateway, and admin tools."""
