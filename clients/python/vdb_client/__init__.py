"""vdb_client: a small Python client for the vdb server.

Method names follow the original MLX Vector DB SDK where they make sense
(create_store, add_vectors, query, batch_query, delete_vectors, count,
export/import, health, batch_add_vectors, upload_file). Requires
`requests`; numpy arrays are accepted wherever vectors are, but numpy is
not required.

Every non-2xx answer raises a VDBError subclass carrying the server's
status and message (the `detail` of vdb's JSON error envelope).
"""
from .client import (VDBClient, VDBError, AuthenticationError, ForbiddenError, NotFoundError,
                     ConflictError, ValidationError, PayloadTooLargeError, ServerError,
                     VDBConnectionError, ProgressBar)

__all__ = ["VDBClient", "VDBError", "AuthenticationError", "ForbiddenError", "NotFoundError",
           "ConflictError", "ValidationError", "PayloadTooLargeError", "ServerError",
           "VDBConnectionError", "ProgressBar"]
__version__ = "0.1.0"
