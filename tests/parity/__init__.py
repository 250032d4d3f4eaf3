"""Parity: tests that hold the local world (moto, `provision`) to the world the CDK stack deploys."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `infra` (the CDK app's pure modules) lives at the project root
    sys.path.insert(0, str(ROOT))
