"""Nightly schedule -> Lambda: fan the sweep of due chats out over the work queue."""

from consentry.service.handlers import retention_sweep_handler as handler

__all__ = ["handler"]
