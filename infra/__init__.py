"""The CDK app of consentry: the chat-log bucket, its enforcement, and the six functions around it."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "shared"

# The stack reads the same policy file the functions enforce (tag keys, prefixes, retention figures),
# so `consentry` must import even when the package is not installed.
if str(SHARED) not in sys.path:
    sys.path.insert(0, str(SHARED))
