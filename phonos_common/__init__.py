"""Small helpers both API processes use: the job service (jobservice/) and the REST gateway (gateway/).

Neither side owns them, so they live here and import neither side (only phonos_config and libraries):
rate-limited logging (`ratelog`), the client address behind trusted proxies (`forwarded`), protobuf messages as
the API's JSON (`json_encode`), a failed rpc as a value (`rpc`: RpcFailure) and the per-rpc body limits
(`limits`: BodyLimits). tests/unit/test_layering.py keeps jobservice/ from importing gateway/ helpers again.
"""
