"""Work queue -> Lambda: one page of fan-out per message (retag, sweep, erasure, holds)."""

from consentry.service.handlers import worker_handler as handler

__all__ = ["handler"]
