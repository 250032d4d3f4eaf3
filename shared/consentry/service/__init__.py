"""What runs in the functions: the policy core, the flows, the adapters, the handlers and their settings.

This folder (with the package's root `__init__`) is what the Lambda layer ships; the operator's parts of
`consentry` (the CLI, the training reader, the local runtime, provisioning, the testing kit) sit beside it
and never run in a function. Nothing here imports them.
"""
