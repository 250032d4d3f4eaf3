"""S3 -> SQS -> Lambda: tag every newly written chat object."""

from consentry.service.handlers import tag_on_write_handler as handler

__all__ = ["handler"]
