#!/usr/bin/env python3
"""The CDK app: `cdk synth` / `cdk deploy` run this through cdk.json. Context keys: README, infra/settings.py."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

if not __package__:
    # `python3 infra/app.py` puts infra/ first on sys.path; the project root is what `import infra` needs.
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.settings import Settings
from infra.stack import ConsentryStack

DEFAULT_STACK_NAME = "Consentry"


def build(app: cdk.App) -> ConsentryStack:
    """The stack as `app`'s context describes it, checked by cdk-nag's AwsSolutions pack on synth."""
    settings = Settings.from_context(app.node.try_get_context)
    stack = ConsentryStack(
        app,
        app.node.try_get_context("stackName") or DEFAULT_STACK_NAME,
        settings=settings,
        description="consentry: training consent and retention enforced on the chat-log bucket",
    )
    cdk.Tags.of(stack).add("project", "consentry")
    # cdk-nag v3 is a policy-validation plugin: findings fail `cdk synth` unless acknowledged (infra/nag.py).
    cdk.Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
    )
    return stack


def main() -> None:
    """Under the cdk CLI, its context and output directory; run directly (`make synth`), cdk.json's and cdk.out."""
    if "CDK_OUTDIR" in os.environ:
        app = cdk.App()
    else:
        root = Path(__file__).resolve().parent.parent
        context = json.loads((root / "cdk.json").read_text())["context"]
        app = cdk.App(context=context, outdir=str(root / "cdk.out"))
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
