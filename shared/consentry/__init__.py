"""consentry: enforces chat-log training consent and retention on S3."""

__version__ = "0.1.0"
