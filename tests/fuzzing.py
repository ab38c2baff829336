"""A bounded, seeded fuzzer of the public edge: raw HTTP/1.1 bytes and raw gRPC messages.

Shared by the short standing fuzz in the tests (tests/service/test_fuzz_edge.py) and the long one
in bench/ (bench/fuzz_edge.py). Cases are generated from the real routes and messages, then
mutated: methods, paths, percent-encoding, query values, headers (keys, encodings, framing), JSON
bodies (types, depth, numbers, escapes, truncation), compression, and raw protobuf bytes. What a
run checks, per answer:

- HTTP: never a 5xx (the one exception: `/v1/health` answering 503 while Triton is down, which is
  its documented readiness signal), every error body is exactly `{"error", "message"}` JSON, HEAD
  answers carry no body;
- gRPC: never UNKNOWN, INTERNAL or DATA_LOSS, and no exception text in the details.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc

from phonos.v1 import phonos_pb2 as pb

ROUTES = [
    ("GET", "/v1/health"), ("GET", "/v1/models"), ("POST", "/v1/predict"), ("POST", "/v1/batch"),
    ("GET", "/v1/jobs/{id}"), ("GET", "/v1/jobs"), ("GET", "/v1/jobs/{id}/download"),
    ("POST", "/v1/jobs/{id}/cancel"), ("GET", "/v1/account"), ("GET", "/v1/account/credits"),
    ("GET", "/v1/account/activity"),
    ("GET", "/v1/usage"), ("GET", "/v1/webhooks"),
    ("POST", "/v1/webhooks"), ("DELETE", "/v1/webhooks/{id}"), ("POST", "/v1/webhooks/{id}/test"),
]
METHODS = ["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "G\x00T", "get",
           "PROPFIND", "X" * 40]
QUERY_KEYS = ["status", "model", "limit", "offset", "days", "action", "format", "limt", "page.size", "job_id", "", "%00"]
ODD_STRINGS = ["", " ", "0", "-1", "1e309", "NaN", "Infinity", "true", "null", "9" * 40, "1.5", "%", "%zz", "%C3%28",
               "..", "../..", "a/b", "é", "\u202e", "\ud800", "'; DROP TABLE jobs; --", "<script>", "a" * 3000,
               "%2F", "x:cancel", "\\", "\t", "MKTVRQERLK", "completed", "esmfold", "pdb"]
ENCODINGS = ["gzip", "deflate", "br", "zstd", "identity", "x-gzip", "gzip, br", "compress", "GZIP", "", "*"]
CONTENT_TYPES = ["application/json", "text/plain", "multipart/form-data; boundary=x", "", "application/json; charset=latin-1"]
GRPC_METHODS = [m.name for m in pb.DESCRIPTOR.services_by_name["PhonosService"].methods]
GRPC_REQUESTS: dict[str, Any] = {
    "Predict": pb.PredictRequest(model="esmfold", sequence="MKTVRQERLK", name="fuzz"),
    "SubmitBatch": pb.SubmitBatchRequest(jobs=[pb.BatchJob(model="esmfold", sequence="MKTV")]),
    "GetJob": pb.GetJobRequest(job_id="550e8400-e29b-41d4-a716-446655440000"),
    "ListJobs": pb.ListJobsRequest(limit=5),
    "CreateWebhook": pb.CreateWebhookRequest(url="https://example.org/hook", events=["job.completed"]),
    "GetUsage": pb.GetUsageRequest(days=3),
    "ListCreditEntries": pb.ListCreditEntriesRequest(limit=5),
    "ListAccountActivity": pb.ListAccountActivityRequest(limit=5, action="api_key.created"),
}
BAD_GRPC_CODES = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS}


@dataclass
class FuzzReport:
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    no_answer: int = 0
    health_503: int = 0
    problems: list[str] = field(default_factory=list)
    grpc_codes: Counter[str] = field(default_factory=Counter)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500) - self.health_503

    def note(self, problem: str) -> None:
        if len(self.problems) < 50:
            self.problems.append(problem[:400])


# --- HTTP ------------------------------------------------------------------------------------------------


def http_case(rng: random.Random, api_key: str) -> bytes:
    """One raw HTTP/1.1 request, valid or broken in one or more ways."""
    method, template = rng.choice(ROUTES)
    if rng.random() < 0.2:
        method = rng.choice(METHODS)
    path = template.replace("{id}", _path_value(rng))
    if rng.random() < 0.1:
        path = rng.choice(["/", "/v1", "/v1/", "/v2/predict", "//v1/jobs", "/v1/jobs/", "*", "/v1/jobs//download",
                           "/v1/predict?", "/%", "/v1/" + "a/" * 200, "http://x/v1/health"])
    if rng.random() < 0.4:
        pairs = [f"{rng.choice(QUERY_KEYS)}={_query_value(rng)}" for _ in range(rng.randint(1, 4))]
        path += ("&" if "?" in path else "?") + "&".join(pairs)
    body = _body(rng) if method in ("POST", "PUT", "PATCH") or rng.random() < 0.1 else b""
    headers = [("Host", "fuzz")]
    auth = rng.random()
    if auth < 0.6:
        headers.append(("Authorization", f"Bearer {api_key}"))
    elif auth < 0.8:
        headers.append(("Authorization", rng.choice(["Bearer pk_wrong", "Bearer", "Basic Zm9vOmJhcg==", "bearer  " + api_key,
                                                     "Bearer " + api_key + "x", "Bearer \x7f", "Bearer é"])))
    if body and rng.random() < 0.3:
        encoding = rng.choice(ENCODINGS)
        headers.append(("Content-Encoding", encoding))
        if encoding in ("gzip", "x-gzip") and rng.random() < 0.5:
            body = gzip.compress(body)
        elif encoding == "deflate" and rng.random() < 0.5:
            body = zlib.compress(body)
    if rng.random() < 0.7:
        headers.append(("Content-Type", rng.choice(CONTENT_TYPES)))
    if rng.random() < 0.1:
        headers.append(("X-Request-Id", rng.choice(ODD_STRINGS)))
    if rng.random() < 0.05:
        headers.append(("Expect", rng.choice(["100-continue", "200-ok"])))
    framed = _frame(rng, method, path, headers, body)
    return _mutate_bytes(rng, framed) if rng.random() < 0.08 else framed


def _path_value(rng: random.Random) -> str:
    choice = rng.random()
    if choice < 0.5:
        return rng.choice(["550e8400-e29b-41d4-a716-446655440000", "wh_" + "0" * 32, "nope"])
    value = rng.choice(ODD_STRINGS)
    return "".join(c if c.isascii() and c.isprintable() and c not in " ?#" else f"%{ord(c) & 0xFF:02X}" for c in value)


def _query_value(rng: random.Random) -> str:
    value = rng.choice(ODD_STRINGS)
    return "".join(c if c.isascii() and c.isalnum() else f"%{ord(c) & 0xFF:02X}" for c in value)


def _body(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.35:
        document: Any = {"model": rng.choice(["esmfold", "alphafold2", "diffdock", "nope", 1, None]),
                         "sequence": rng.choice(["MKTVRQERLK", "", "mktv", "B*", "M" * 5000, 7, ["M"]])}
        if rng.random() < 0.5:
            document["params"] = rng.choice([{"num_recycles": 4}, {"num_recycles": "4"}, {"num_recycles": 1e309},
                                             {"x": {"y": [1, 2, {"z": None}]}}, [], "p", {"a3m": ">q\nMK\n"}])
        if rng.random() < 0.3:
            document["name"] = rng.choice(ODD_STRINGS)
        if rng.random() < 0.2:
            document = {"jobs": [document] * rng.choice([0, 1, 2, 11])}
        if rng.random() < 0.2:
            document = {"url": rng.choice(["https://example.org/h", "http://127.0.0.1:1/h", "https://0x7f000001/",
                                           "ftp://x", "", "https://[::1]/"]), "events": rng.choice([[], ["job.x"], None])}
        text = json.dumps(document, ensure_ascii=rng.random() < 0.5)
        if rng.random() < 0.2:
            text = text[: rng.randint(0, len(text))]
        return text.encode("utf-8", "surrogatepass")
    if kind < 0.5:
        depth = rng.choice([10, 500, 5000])
        return (b"[" * depth + b"]" * depth) if rng.random() < 0.5 else (b'{"a":' * depth + b"1" + b"}" * depth)
    if kind < 0.65:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
    if kind < 0.75:
        return rng.choice([b"{}", b"null", b"[]", b'"x"', b"1", b"\xef\xbb\xbf{}", b'{"model":"\\ud800"}',
                           b'{"limit": 1}', b"{" + b" " * 10000 + b"}"])
    return b"{" + b'"k":1,' * rng.randint(1, 2000) + b'"z":1}'


def _frame(rng: random.Random, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1"]
    framing = rng.random()
    if body and framing < 0.15:
        head = "\r\n".join([*lines, *(f"{k}: {v}" for k, v in headers), "Transfer-Encoding: chunked"])
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in _split(rng, body))
        tail = b"0\r\n\r\n" if rng.random() < 0.8 else rng.choice([b"zz\r\n", b"5\r\nab\r\n", b""])
        return head.encode("utf-8", "surrogatepass") + b"\r\nConnection: close\r\n\r\n" + chunks + tail
    length = len(body)
    if body and framing < 0.2:
        length = rng.choice([0, max(0, len(body) - 3), -1])
    head = "\r\n".join([*lines, *(f"{k}: {v}" for k, v in headers),
                        *([f"Content-Length: {length}"] if body or rng.random() < 0.2 else []), "Connection: close"])
    return head.encode("utf-8", "surrogatepass") + b"\r\n\r\n" + body


def _split(rng: random.Random, data: bytes) -> list[bytes]:
    cut = rng.randint(0, len(data))
    return [part for part in (data[:cut], data[cut:]) if part]


def _mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    raw = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not raw:
            break
        position = rng.randrange(len(raw))
        raw[position] = rng.choice([0, 10, 13, 32, 58, 0x7F, 0xFF, rng.getrandbits(8)])
    return bytes(raw)


async def send_http(port: int, raw: bytes, timeout_s: float = 10.0) -> bytes | None:
    """The bytes the server answered (None: connection closed without any)."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return None
    data = b""
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(timeout_s):
            while not _complete(data, head_request=raw.startswith(b"HEAD ")):
                chunk = await reader.read(65536)
                if not chunk:
                    break
                data += chunk
    except (OSError, TimeoutError):
        pass
    finally:
        writer.close()
    return data or None


def _complete(data: bytes, *, head_request: bool) -> bool:
    """A whole first response is in (status line, headers and Content-Length bytes of body)."""
    while data.startswith(b"HTTP/1.1 100 "):
        data = data.partition(b"\r\n\r\n")[2]
    head, found, body = data.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return head_request or len(body) >= int(value)
    return False


def check_http(report: FuzzReport, raw_request: bytes, answer: bytes | None) -> None:
    report.sent += 1
    if answer is None:
        report.no_answer += 1
        return
    while answer.startswith(b"HTTP/1.1 100 "):
        answer = answer.partition(b"\r\n\r\n")[2]
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) < 2 or not parts[1].isdigit():
        report.note(f"not an HTTP answer: {answer[:120]!r}")
        return
    status = int(parts[1])
    report.statuses[status] += 1
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
    request_line = raw_request.split(b"\r\n", 1)[0]
    head_of_health = request_line.startswith(b"HEAD ") and request_line.split(b" ")[1].split(b"?")[0] == b"/v1/health"
    if status == 503 and b"/v1/health" in request_line and (b'"status":"degraded"' in body or head_of_health):
        # the readiness signal, in the health body's shape (a HEAD's answer has no body; health ignores a query)
        report.health_503 += 1
        return
    if status >= 500:
        report.note(f"{status} for {request_line[:120]!r}: {body[:200]!r}")
    if request_line.startswith(b"HEAD ") and body:
        report.note(f"HEAD answer with a body: {request_line[:80]!r}")
    if status >= 400 and not request_line.startswith(b"HEAD "):
        try:
            document = json.loads(body[: int(headers.get("content-length", len(body)))])
        except ValueError:
            report.note(f"{status} error body is not JSON for {request_line[:80]!r}: {body[:120]!r}")
            return
        if not (isinstance(document, dict) and set(document) == {"error", "message"}
                and headers.get("content-type", "").startswith("application/json")):
            report.note(f"{status} error body not in the seed's shape: {body[:120]!r}")


async def fuzz_http(port: int, api_key: str, cases: int, *, seed: int, concurrency: int = 8) -> FuzzReport:
    rng = random.Random(seed)
    report = FuzzReport()
    requests = [http_case(rng, api_key) for _ in range(cases)]
    limit = asyncio.Semaphore(concurrency)

    async def one(raw: bytes) -> None:
        async with limit:
            check_http(report, raw, await send_http(port, raw))

    await asyncio.gather(*(one(raw) for raw in requests))
    return report


# --- gRPC ------------------------------------------------------------------------------------------------


def grpc_case(rng: random.Random, api_key: str) -> tuple[str, bytes, tuple[tuple[str, str], ...]]:
    method = rng.choice(GRPC_METHODS)
    if rng.random() < 0.05:
        method = rng.choice(["NoSuchMethod", "predict", ""])
    template = GRPC_REQUESTS.get(method)
    payload = template.SerializeToString() if template is not None else b""
    kind = rng.random()
    if kind < 0.3:
        payload = _mutate_bytes(rng, payload) if payload else bytes([rng.getrandbits(8)])
    elif kind < 0.45:
        payload = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200)))
    elif kind < 0.55:
        payload = payload[: rng.randint(0, len(payload))]
    elif kind < 0.6:
        payload = b"\x0a" + b"\xff" * 10 + b"\x01"  # a length varint of 2^64-1
    elif kind < 0.65:
        payload = b"\x0b" * 2000 + b"\x0c" * 2000  # deep start-group nesting
    auth = rng.random()
    metadata: tuple[tuple[str, str], ...] = ()
    if auth < 0.6:
        metadata = (("authorization", f"Bearer {api_key}"),)
    elif auth < 0.85:
        metadata = (("authorization", rng.choice(["Bearer pk_wrong", "", "Bearer", "Basic x"])),)
    service = "grpc.health.v1.Health" if method == "Check" else "phonos.v1.PhonosService"
    return f"/{service}/{method}", payload, metadata


async def fuzz_grpc(target: str, api_key: str, cases: int, *, seed: int, concurrency: int = 8) -> FuzzReport:
    rng = random.Random(seed)
    report = FuzzReport()
    calls = [grpc_case(rng, api_key) for _ in range(cases)]
    limit = asyncio.Semaphore(concurrency)
    async with grpc.aio.insecure_channel(target) as channel:
        async def one(method: str, payload: bytes, metadata: tuple[tuple[str, str], ...]) -> None:
            async with limit:
                report.sent += 1
                try:
                    await channel.unary_unary(method)(payload, metadata=metadata, timeout=10)
                    report.grpc_codes["OK"] += 1
                except grpc.aio.AioRpcError as exc:
                    code = exc.code()
                    report.grpc_codes[code.name] += 1
                    details = exc.details() or ""
                    if code in BAD_GRPC_CODES or "Traceback" in details or "Exception" in details:
                        report.note(f"{method}: {code.name} {details[:200]!r} for {payload[:40]!r}")

        await asyncio.gather(*(one(*call) for call in calls))
    return report
