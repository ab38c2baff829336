"""The HTTP edge: JSON `/v1` routes transcoded to gRPC from the `google.api.http` rules.

Nothing here is written per route. At start-up the gateway reads the rules from the service
descriptor (`http_rule`), and then only matches, transcodes (`transcode`, `fields`), invokes
(`invoker`) and maps errors (`errors`). `app.create_app` wires the pieces into aiohttp.
"""
