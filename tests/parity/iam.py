"""IAM parity: every handler runs under the IAM policy the synthesized stack gives its function.

`deployed(prefix)` makes a local deployment (inside `moto.mock_aws`) in the world the stack deploys:

1. the template's statements of each function's role, resources resolved to the local resources;
2. one moto IAM user per function holding them, written in moto's dialect (`moto_statements`),
   one for the training reader, and an admin user for the test itself (seeding, observing);
3. `provision()` with those users as the bucket policy's principals;
4. moto's IAM enforcement on (`INITIAL_NO_AUTH_ACTION_COUNT` = 0: every request authenticated and
   authorized); the local runtime runs each handler with its own user's access keys.

moto's check is coarse (see docs/parity.md): it knows no resource for DynamoDB, Streams or Secrets
Manager, names some S3 calls after the HTTP method rather than the operation, and evaluates no
condition. So every call a handler makes is also recorded (botocore hooks on boto3's default session,
from which the handlers' clients are made) and decided with AWS's rules (`evaluate.decide`) against
the function's statements as the template has them and against the bucket policy as the local bucket
holds it. `Parity.problems()` lists what either check refused; the tests' conftest fails a test that
left any.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import moto.settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam.access_control import IAMRequestBase

from consentry.local import LocalRuntime
from consentry.provision import dead_letter_name, provision
from consentry.service import settings
from consentry.service.deployment import DELETERS, ENFORCERS, FUNCTIONS, HOLDERS, OUTPUTS, Principals

from .calls import Request, UnmappedCall, Where, requests_of
from .evaluate import Statement, Undecidable, as_list, decide
from .template import Json, Template, stack_template

ADMIN = "admin"
READER = "training_reader"
COPIER = "training_copy"  # the Batch Operations role of training copies: a principal of the bucket policy only
LEGAL_OPERATOR = "legal_operator"
USER_PREFIX = "consentry-"
# Error codes that mean "IAM refused" (or that the test's identities are broken).
DENIALS = frozenset(
    {"AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidAccessKeyId"}
)
# moto names these calls differently from IAM. S3 after the HTTP request rather than the operation
# (moto/s3/responses.py ACTION_MAP): GET ?tagging&versionId is s3:GetObjectVersion, GET ?legal-hold and
# ?retention are s3:GetObject[Version], PUT ?legal-hold and ?retention are s3:PutObject, PUT
# ?tagging&versionId is s3:PutObjectTagging. Other services after the operation: SendMessageBatch is
# sqs:SendMessageBatch (IAM: sqs:SendMessage). A user holding the IAM action gets moto's name too.
MOTO_ALIASES = {
    "sqs:SendMessage": ("sqs:SendMessageBatch",),
    "sqs:DeleteMessage": ("sqs:DeleteMessageBatch",),
    "sqs:ChangeMessageVisibility": ("sqs:ChangeMessageVisibilityBatch",),
    "s3:GetObjectVersionTagging": ("s3:GetObjectVersion",),
    "s3:GetObjectLegalHold": ("s3:GetObject", "s3:GetObjectVersion"),
    "s3:GetObjectRetention": ("s3:GetObject", "s3:GetObjectVersion"),
    "s3:PutObjectLegalHold": ("s3:PutObject",),
    "s3:PutObjectRetention": ("s3:PutObject",),
    "s3:PutObjectVersionTagging": ("s3:PutObjectTagging",),
}
# moto authorizes DeleteObjects once, as s3:DeleteObject on the bucket (AWS: per key).
MOTO_BUCKET_LEVEL = {"s3:DeleteObject": "s3:DeleteObject", "s3:DeleteObjectVersion": "s3:DeleteObject"}
# moto passes "*" as the resource of these services' requests: a statement naming an ARN never matches.
MOTO_RESOURCELESS = ("dynamodb:", "secretsmanager:", "logs:")
UNRESOLVED = "unresolved:"  # a resource with no local counterpart: matches no request


# -- the template's statements, on the local resources ------------------------------------------


def function_role(template: Template, description: str) -> str:
    """The role logical id of the function with this description (deployment.FunctionSpec.description)."""
    for properties in (r["Properties"] for r in template.of_type("AWS::Lambda::Function").values()):
        if properties.get("Description") == description:
            return str(properties["Role"]["Fn::GetAtt"][0])
    raise LookupError(f"no function described {description!r} in the template")


def role_statements(template: Template, role: str) -> list[Json]:
    """Every statement the role holds: its inline policies and the IAM::Policy resources attached to it."""
    statements: list[Json] = []
    for policy in template.of_type("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"].get("Roles", []):
            statements += as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    for inline in template.properties(role).get("Policies", []):
        statements += as_list(inline["PolicyDocument"]["Statement"])
    assert not template.properties(role).get("ManagedPolicyArns"), f"{role}: managed policies are not read here"
    return statements


class Resolver:
    """CloudFormation values of the template -> the local deployment's names and ARNs."""

    def __init__(
        self, template: Template, env: Mapping[str, str], where: Where, principals: Mapping[str, str] | None = None
    ) -> None:
        self.template = template
        self.where = where
        self.local: dict[str, str] = {template.output_resource(out): env[var] for var, out in OUTPUTS.items()}
        # Roles are played by IAM users locally: a role's ARN resolves to its user's.
        self.principals = dict(principals or {})
        sqs = boto3.client("sqs")
        for logical, url in list(self.local.items()):
            redrive = template.properties(logical).get("RedrivePolicy")
            if template.resources[logical]["Type"] == "AWS::SQS::Queue" and redrive:
                dlq = redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]
                self.local[dlq] = sqs.get_queue_url(QueueName=dead_letter_name(url.rsplit("/", 1)[1]))["QueueUrl"]
        self._streams: dict[str, str] = {}

    def value(self, node: Any) -> Any:
        """`node` with every intrinsic resolved; a string starting `unresolved:` where none applies."""
        if isinstance(node, list):
            return [self.value(n) for n in node]
        if not isinstance(node, dict):
            return node
        if "Ref" in node:
            return self._ref(node["Ref"])
        if "Fn::GetAtt" in node:
            return self._attribute(*node["Fn::GetAtt"])
        if "Fn::Join" in node:
            delimiter, parts = node["Fn::Join"]
            values = [str(self.value(p)) for p in parts]
            unresolved = [v for v in values if v.startswith(UNRESOLVED)]
            return unresolved[0] if unresolved else delimiter.join(values)
        return {k: self.value(v) for k, v in node.items()}

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": self.where.region,
            "AWS::AccountId": self.where.account,
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name in pseudo:
            return pseudo[name]
        return self.local.get(name, f"{UNRESOLVED}{name}")

    def _attribute(self, logical: str, attribute: str) -> str:
        if attribute == "Arn" and logical in self.principals:
            return self.principals[logical]
        local = self.local.get(logical)
        if local is None:
            return f"{UNRESOLVED}{logical}.{attribute}"
        kind = self.template.resources[logical]["Type"]
        if (kind, attribute) == ("AWS::S3::Bucket", "Arn"):
            return self.where.s3(local)
        if (kind, attribute) == ("AWS::DynamoDB::Table", "Arn"):
            return self.where.table(local)
        if (kind, attribute) == ("AWS::DynamoDB::Table", "StreamArn"):
            if local not in self._streams:
                table = boto3.client("dynamodb").describe_table(TableName=local)["Table"]
                self._streams[local] = table["LatestStreamArn"]
            return self._streams[local]
        if (kind, attribute) == ("AWS::SQS::Queue", "Arn"):
            return self.where.queue(local)
        return f"{UNRESOLVED}{logical}.{attribute}"

    def statements(self, statements: Sequence[Json]) -> list[Json]:
        resolved: list[Json] = []
        for statement in statements:
            s = self.value(statement)
            s["Action"] = as_list(s.get("Action", []))
            s["Resource"] = as_list(s.get("Resource", "*"))
            resolved.append(s)
        return resolved


def moto_statements(statements: Sequence[Statement], bucket_arn: str) -> list[Json]:
    """The same grants as moto checks them: its action names, its resources, no conditions (it ignores them)."""
    moto: list[Json] = []
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        resources = [r for r in statement["Resource"] if not r.startswith(UNRESOLVED)]
        for action in statement["Action"]:
            names = [action, *MOTO_ALIASES.get(action, ())]
            if action.startswith(MOTO_RESOURCELESS):
                moto.append({"Effect": "Allow", "Action": names, "Resource": "*"})
            elif resources:
                moto.append({"Effect": "Allow", "Action": names, "Resource": resources})
            if action in MOTO_BUCKET_LEVEL and resources:
                moto.append({"Effect": "Allow", "Action": MOTO_BUCKET_LEVEL[action], "Resource": bucket_arn})
    return moto


# -- recording and deciding every call a function makes ----------------------------------------


@dataclass(frozen=True)
class Call:
    function: str
    service: str
    operation: str
    params: Mapping[str, Any]


@dataclass
class Exercised:
    """What the functions called over the whole test session (the least-privilege report reads it)."""

    actions: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    granted: dict[str, set[str]] = field(default_factory=dict)
    runs: int = 0


SESSION = Exercised()


class Recorder:
    """Botocore hooks on boto3's default session: each call signed by a function's key, and refusals."""

    PARAMS = "consentry.parity.call"
    FUNCTION = "consentry.parity.function"

    def __init__(self, functions_by_key: Mapping[str, str]) -> None:
        self.functions_by_key = dict(functions_by_key)
        self.calls: list[Call] = []
        self.refused: list[str] = []

    def install(self, session: boto3.session.Session) -> None:
        session.events.register("before-parameter-build", self._parameters)
        session.events.register_first("before-send", self._sending)
        session.events.register("after-call", self._answered)

    def _parameters(self, params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context[self.PARAMS] = (model.service_model.service_name, model.name, dict(params))

    def _sending(self, request: Any, **_: Any) -> None:
        authorization = request.headers.get("Authorization") or b""
        if isinstance(authorization, bytes):
            authorization = authorization.decode()
        key = authorization.partition("Credential=")[2].partition("/")[0]
        function = self.functions_by_key.get(key)
        context = request.context
        if function is None or context.get(self.FUNCTION):
            return  # the admin, or a retry of a call already recorded
        context[self.FUNCTION] = function
        service, operation, params = context[self.PARAMS]
        self.calls.append(Call(function, service, operation, params))

    def _answered(
        self, http_response: Any, parsed: Mapping[str, Any], model: Any, context: Mapping[str, Any], **_: Any
    ) -> None:
        function = context.get(self.FUNCTION)
        code = parsed.get("Error", {}).get("Code")
        # moto answers IAM refusals in XML whatever the protocol: a JSON service's parser sees only the 403.
        if function is not None and (code in DENIALS or http_response.status_code == 403):
            message = parsed.get("Error", {}).get("Message", "")
            self.refused.append(
                f"{function}: moto refused {model.service_model.service_name}:{model.name} ({code}: {message})"
            )


@dataclass
class Parity:
    """A deployment under IAM parity: its runtime, the functions' statements, the recorded calls."""

    runtime: LocalRuntime
    template: Template
    resolver: Resolver
    where: Where
    principals: dict[str, str]  # function (and reader, admin) -> user ARN
    identity: dict[str, list[Json]]  # function (and reader) -> its role's statements, resolved
    bucket_policy: list[Json]  # as the local bucket holds it
    recorder: Recorder
    checked: int = 0

    def decide(self, who: str, request: Request, context: Mapping[str, Any] | None = None) -> Any:
        return decide(request, self.principals[who], self.identity[who], self.bucket_policy, context)

    def problems(self) -> list[str]:
        """What IAM (moto's, or AWS's rules here) refused since the last look; each call's actions noted."""
        found: list[str] = []
        for call in self.recorder.calls[self.checked :]:
            try:
                requests = requests_of(self.where, call.service, call.operation, call.params)
            except UnmappedCall as err:
                found.append(f"{call.function}: {err}")
                continue
            for request in requests:
                SESSION.actions[call.function].add(request.action)
                try:
                    decision = self.decide(call.function, request)
                except Undecidable as err:
                    found.append(f"{call.function}: {err}")
                    continue
                if not decision.allowed:
                    found.append(
                        f"{call.function} calls {call.service}:{call.operation}, which needs {request.action} on "
                        f"{request.resource}: {decision.reason}"
                    )
        self.checked = len(self.recorder.calls)
        found += self.recorder.refused
        self.recorder.refused.clear()
        return list(dict.fromkeys(found))

    def actions(self, function: str) -> set[str]:
        """The actions `function` called in this deployment so far."""
        return {
            request.action
            for call in self.recorder.calls
            if call.function == function
            for request in requests_of(self.where, call.service, call.operation, call.params)
        }


ACTIVE: list[Parity] = []  # the deployment under parity now (one at a time)


@contextmanager
def moto_iam_enforced() -> Iterator[None]:
    """Every request from now on is authenticated (by its access key) and authorized by moto.

    moto also recomputes each request's SigV4 signature; that checks botocore's signing, not our
    policies, and costs half of moto's IAM time over the reliability suite: it is skipped here.
    """
    saved = (moto.settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count)
    check_signature = IAMRequestBase.check_signature
    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0
    IAMRequestBase.check_signature = lambda self: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        IAMRequestBase.check_signature = check_signature  # type: ignore[method-assign]
        moto.settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = saved


def _user(iam: Any, name: str) -> tuple[str, dict[str, str]]:
    arn = iam.create_user(UserName=f"{USER_PREFIX}{name}")["User"]["Arn"]
    key = iam.create_access_key(UserName=f"{USER_PREFIX}{name}")["AccessKey"]
    return str(arn), {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


@contextmanager
def deployed(prefix: str, legal_operator: bool = True) -> Iterator[Parity]:
    """A provisioned deployment whose handlers run under their stack roles' statements (inside mock_aws).

    `legal_operator`: name a legal-operations role in the bucket policy, as `-c legalOperatorRoleArns` would
    (the cached template is synthesized without one).
    """
    template = Template(stack_template())
    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    iam = boto3.client("iam")
    names = [ADMIN, READER, COPIER, *(spec.name for spec in FUNCTIONS)]
    users = {name: _user(iam, name) for name in names}
    arns = {name: arn for name, (arn, _) in users.items()}
    account = arns[ADMIN].split(":")[4]  # the users' account, the caller's (no STS client for it)
    arns[LEGAL_OPERATOR] = f"arn:aws:iam::{account}:role/{USER_PREFIX}legal-operations"  # named, never signs in
    keys = {name: identity for name, (_, identity) in users.items()}
    env = provision(
        prefix,
        principals=Principals(
            enforcers=[arns[s.name] for s in ENFORCERS],
            deleters=[arns[s.name] for s in DELETERS],
            holders=[arns[s.name] for s in HOLDERS],
            readers=[arns[READER], arns[COPIER]],
            legal_operators=[arns[LEGAL_OPERATOR]] if legal_operator else [],
        ),
    )
    secret_name = boto3.client("secretsmanager").describe_secret(SecretId=env["HASH_KEY_SECRET"])["Name"]
    where = Where(region, account, {secret_name: env["HASH_KEY_SECRET"]})
    roles = {spec.name: function_role(template, spec.description) for spec in FUNCTIONS}
    roles[READER] = template.output("TrainingReaderRoleArn")["Fn::GetAtt"][0]
    copier = {template.output("TrainingCopyRoleArn")["Fn::GetAtt"][0]: arns[COPIER]}
    resolver = Resolver(template, env, where, {**copier, **{role: arns[name] for name, role in roles.items()}})
    identity = {name: resolver.statements(role_statements(template, role)) for name, role in roles.items()}
    bucket_arn = where.s3(env["CHAT_BUCKET"])
    iam.put_user_policy(
        UserName=f"{USER_PREFIX}{ADMIN}",
        PolicyName="admin",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    for name, statements in identity.items():
        iam.put_user_policy(
            UserName=f"{USER_PREFIX}{name}",
            PolicyName="stack-role",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": moto_statements(statements, bucket_arn)}),
        )
    stored = json.loads(boto3.client("s3").get_bucket_policy(Bucket=env["CHAT_BUCKET"])["Policy"])
    for name in (spec.name for spec in FUNCTIONS):
        SESSION.granted[name] = {a for s in identity[name] if s.get("Effect") == "Allow" for a in s["Action"]}

    # From here the test itself is the admin user; each handler is its function's user.
    identity_variables = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
    saved = {k: os.environ.get(k) for k in identity_variables}
    for k in identity_variables:
        os.environ.pop(k, None)
    os.environ.update(keys[ADMIN])
    boto3.setup_default_session(
        aws_access_key_id=keys[ADMIN]["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys[ADMIN]["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    )
    observers = (ADMIN, READER, COPIER)
    recorder = Recorder({k["AWS_ACCESS_KEY_ID"]: name for name, k in keys.items() if name not in observers})
    assert boto3.DEFAULT_SESSION is not None
    recorder.install(boto3.DEFAULT_SESSION)
    settings.current.cache_clear()
    try:
        with moto_iam_enforced():
            runtime = LocalRuntime(env, credentials={s.name: keys[s.name] for s in FUNCTIONS})
            parity = Parity(runtime, template, resolver, where, arns, identity, as_list(stored["Statement"]), recorder)
            ACTIVE.append(parity)
            SESSION.runs += 1
            try:
                yield parity
            finally:
                ACTIVE.remove(parity)
    finally:
        settings.current.cache_clear()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
