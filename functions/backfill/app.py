"""S3 Batch Operations (schema 2.0) -> Lambda: tag existing chat objects at any scale."""

from consentry.service.handlers import backfill_handler as handler

__all__ = ["handler"]
