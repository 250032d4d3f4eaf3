"""Consent table stream -> Lambda: queue a retag of every user whose record changed."""

from consentry.service.handlers import consent_changed_handler as handler

__all__ = ["handler"]
