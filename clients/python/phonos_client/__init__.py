"""The phonos Python SDK: `Client` / `AsyncClient` for the phonos job API (REST by default; gRPC with a
`grpc://host:port` URL and the `[grpc]` extra)."""

from phonos_client.client import AsyncClient, Client
from phonos_client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BatchTooLargeError,
    ConflictError,
    GoneError,
    IdempotencyError,
    InsufficientCreditsError,
    InternalServerError,
    MissingExtraError,
    NotFoundError,
    NotGrpcError,
    NotHttpError,
    NotTlsError,
    PermissionDeniedError,
    PhonosError,
    QueueFullError,
    RateLimitError,
    ServerUnreachableError,
    WrongProtocolError,
)
from phonos_client.models import (
    Account,
    ActivityEntry,
    ActivityPage,
    ApiKey,
    Batch,
    BatchItem,
    Cancellation,
    Deletion,
    DeliveryPage,
    Download,
    Job,
    JobEvent,
    JobPage,
    JobShare,
    Progress,
    SharedJob,
    Submission,
    Webhook,
    WebhookDelivery,
    WebhookLastDelivery,
    WebhookTest,
)
from phonos_client.webhook_signature import WebhookEvent, WebhookSignatureError, verify_webhook

__version__ = "0.1.0"
__all__ = [
    "APIConnectionError", "APIStatusError", "APITimeoutError", "Account", "ActivityEntry", "ActivityPage", "ApiKey", "AsyncClient", "AuthenticationError",
    "BadRequestError", "Batch", "BatchItem", "BatchTooLargeError", "Cancellation", "Client", "ConflictError", "Deletion", "DeliveryPage", "Download",
    "GoneError",
    "IdempotencyError", "InsufficientCreditsError", "InternalServerError", "Job", "JobEvent", "JobPage", "JobShare",
    "MissingExtraError", "NotFoundError", "NotGrpcError", "NotHttpError", "NotTlsError", "PermissionDeniedError", "PhonosError", "Progress", "QueueFullError", "RateLimitError", "ServerUnreachableError", "SharedJob",
    "Submission",
    "Webhook", "WebhookDelivery", "WebhookEvent", "WebhookLastDelivery", "WebhookSignatureError", "WebhookTest", "WrongProtocolError",
    "verify_webhook",
]
