"""EventBridge chat.app events -> Lambda: reopen, archive, delete, erasure, legal holds."""

from consentry.service.handlers import chat_events_handler as handler

__all__ = ["handler"]
