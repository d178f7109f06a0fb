"""The payload log: sampled requests (redacted) in append-only Parquet segments, and reading them back.

log = PayloadLog(settings.payload_dir, settings.payloads)   # the request path offers records
PayloadStore(settings.payload_dir).read("iris", last_rows=1000)  # -> pyarrow.Table
"""

from modelport.monitoring.payloads.export import FORMATS, check_format, export_chunks
from modelport.monitoring.payloads.log import PayloadLog
from modelport.monitoring.payloads.records import PayloadRecord, ShadowRecord
from modelport.monitoring.payloads.store import PayloadStore

__all__ = [
    "FORMATS",
    "PayloadLog",
    "PayloadRecord",
    "PayloadStore",
    "ShadowRecord",
    "check_format",
    "export_chunks",
]
