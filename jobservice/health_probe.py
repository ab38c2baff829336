"""A gRPC health check for container health checks (Compose; Kubernetes probes gRPC natively):

    python -m jobservice.health_probe [host:port] [--timeout 2] [--service phonos.v1.PhonosService]

Exit status 0 when the job service answers SERVING for its PhonosService (models loaded), 1 otherwise;
`--service phonos.api`: it serves its API with its database (jobservice/readiness.py), `--service ""`: alive.
"""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICE = "phonos.v1.PhonosService"


def probe(target: str, timeout_s: float, service: str = SERVICE) -> bool:
    with grpc.insecure_channel(target) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError:
            return False
    return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobservice.health_probe", description=__doc__)
    parser.add_argument("target", nargs="?", default="127.0.0.1:50051")
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--service", default=SERVICE, help="the health service name to ask about")
    args = parser.parse_args(argv)
    return 0 if probe(args.target, args.timeout, args.service) else 1


if __name__ == "__main__":
    sys.exit(main())
