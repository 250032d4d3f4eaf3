"""Which deployment a command talks to, and the checks that turn AWS errors into advice.

The order, first match wins:

1. `--real` or `--endpoint-url ''`: the real AWS account of the default
   credential chain (AWS_PROFILE, environment, SSO, instance role...).
2. `--endpoint-url URL`: that endpoint (a moto server, `consentry serve`).
3. `AWS_ENDPOINT_URL` in the environment: that endpoint.
4. `--embedded`: a fresh, empty embedded moto server that lives as long as
   the command (it says so in one line).
5. A `consentry serve` answering at CONSENTRY_SERVE_URL (default
   http://127.0.0.1:5000): that server, with everything it holds.
6. Otherwise nothing: the command fails (exit 1) and says how to start a
   server. It never falls back to a throwaway server on its own, where a
   change would be made and lost.

A server that accepted the connection but is busy (another command's work)
is waited for, up to CONSENTRY_SERVE_WAIT seconds (default 30); the error
then says what it waited for.

Guard rails by place: only a loopback `consentry serve` (or the embedded
server) that identifies itself as local at `/consentry-local` is local. Any
other endpoint (a shared moto, a VPC endpoint, a tunnel) gets the rails of a
real account (`Target.guarded`).

Resource names: from `--prefix` when given (the names `provision` gives
them); else from CONTRACT.md's variables (CHAT_BUCKET, CONSENT_TABLE,
LEDGER_TABLE, WORK_QUEUE_URL) when CHAT_BUCKET is set; else prefix `consentry`.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, ProfileNotFound

from consentry.cli.options import DEFAULT_SERVE_URL, CommandError, UsageError
from consentry.cli.output import note
from consentry.provision import names
from consentry.service import settings as settings_module
from consentry.service.aws.audit import AuditLog
from consentry.service.flows.enforcer import Enforcer
from consentry.service.policy import Policy, load_policy
from consentry.service.settings import Clients, Settings

SERVE_WAIT_SECONDS = 30.0
# The path where `consentry serve` says it is a local consentry server (consentry.local.LocalServer answers it;
# kept here too so that choosing a target imports no moto).
LOCAL_IDENTITY_PATH = "/consentry-local"
DEFAULT_PREFIX = "consentry"
CONTRACT_VARIABLES = ("CHAT_BUCKET", "CONSENT_TABLE", "LEDGER_TABLE")
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}
# Checks fail fast: one try, short timeouts (the retries of the handlers' clients are for work, not checks).
CHECK_CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=3, read_timeout=10)


@dataclass
class Target:
    """One deployment: its settings, clients and a phrase saying where it is."""

    where: str
    endpoint_url: str | None
    real: bool
    settings: Settings
    clients: Clients
    embedded: bool = False
    prefix: str = DEFAULT_PREFIX
    prefix_given: bool = False
    account: str = ""
    region: str = "us-east-1"
    caller: str = ""  # the ARN of the credentials' identity (STS): who runs the command, for the audit trail
    write_queue_url: str = ""
    session: Any = None  # the boto3 session of the real account (its profile), for clients made later
    runtime: Any = None  # the embedded server's LocalRuntime, when the command runs on one
    policy_file: str | None = None
    local: bool = False  # a loopback consentry server that identified itself as local, or the embedded one
    _enforcer: Enforcer | None = None

    @property
    def guarded(self) -> bool:
        """Whether the real-account rails apply: everywhere but a local consentry server."""
        return not self.local

    def enforcer(self) -> Enforcer:
        if self._enforcer is None:
            self._enforcer = Enforcer(self.settings, self.clients)
        return self._enforcer

    def client(self, service: str, config: Config | None = None) -> Any:
        """A client of another service (lambda, s3control, dynamodbstreams) on this deployment."""
        make: Any = self.session.client if self.session is not None else boto3.client
        return make(service, region_name=self.region, endpoint_url=self.endpoint_url, config=config or CHECK_CONFIG)

    def audit(self) -> AuditLog:
        return AuditLog(self.clients.dynamodb, self.settings.ledger_table, tombstone_days=self.policy.tombstone_days)

    @property
    def policy(self) -> Policy:
        return self.settings.policy

    def require(self, *resources: str) -> None:
        """Check that the named resources (`bucket`, `ledger`, `consent`) exist, or raise CommandError."""
        s3, dynamodb = self.clients.s3, self.clients.dynamodb  # the endpoint answered: no long retries to fear
        fix = self.naming_hint()
        try:
            if "bucket" in resources:
                try:
                    s3.head_bucket(Bucket=self.settings.bucket)
                except ClientError as err:
                    code = str(err.response.get("Error", {}).get("Code"))
                    if code in ("404", "NoSuchBucket", "NotFound"):
                        bucket = self.settings.bucket
                        raise CommandError(f"bucket {bucket!r} does not exist {self.where}: {fix}") from None
                    raise
            for resource, table in (("ledger", self.settings.ledger_table), ("consent", self.settings.consent_table)):
                if resource not in resources:
                    continue
                try:
                    dynamodb.describe_table(TableName=table)
                except ClientError as err:
                    if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                        raise CommandError(f"{resource} table {table!r} does not exist {self.where}: {fix}") from None
                    raise
        except EndpointConnectionError:
            raise CommandError(
                f"cannot reach {self.endpoint_url}: start `consentry serve` there, or pass another --endpoint-url"
            ) from None

    def naming_hint(self) -> str:
        if self.embedded:
            return "this is an empty embedded server; run `consentry serve --seed` and retry"
        if os.environ.get("CHAT_BUCKET") and not self.prefix_given:
            return "check CHAT_BUCKET, CONSENT_TABLE and LEDGER_TABLE (or unset them and pass --prefix)"
        hint = f"check --prefix (now {self.prefix!r})"
        if self.real:
            return hint + ", the region (AWS_REGION / --region) and the account of your credentials"
        return hint + "; `consentry serve` provisions a local deployment"


def is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def serve_url() -> str:
    return os.environ.get("CONSENTRY_SERVE_URL") or DEFAULT_SERVE_URL


def serve_wait() -> float:
    try:
        return max(0.1, float(os.environ.get("CONSENTRY_SERVE_WAIT") or SERVE_WAIT_SECONDS))
    except ValueError:
        raise UsageError("CONSENTRY_SERVE_WAIT is not a number of seconds") from None


def _busy(url: str, wait: float) -> CommandError:
    return CommandError(
        f"waited {wait:g} s for the server at {url} to answer (busy with another command?): retry when it is "
        "idle, or set CONSENTRY_SERVE_WAIT to wait longer"
    )


def probe(url: str, wait: float | None = None) -> dict[str, Any] | None:
    """What answers at `url`: None when nothing listens there; {} for a server that is not a local consentry
    server; its identity (`{"consentry": "local", ...}`) for one. A server that accepts the connection but
    does not answer within `wait` seconds (busy) is a CommandError that says what was waited for."""
    wait = serve_wait() if wait is None else wait
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}{LOCAL_IDENTITY_PATH}", timeout=wait) as response:
            found = json.loads(response.read() or b"null")
    except urllib.error.HTTPError:
        return {}  # it answers, as something else (a plain moto answers in S3's words)
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise _busy(url, wait) from None
        return None  # refused, or no such host: nothing is there
    except TimeoutError:
        raise _busy(url, wait) from None
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) and found.get("consentry") == "local" else {}


def moto_answers(url: str, timeout: float = 0.5) -> bool:
    """True when a moto server (as `consentry serve` runs) answers at `url`."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/moto-api/config", timeout=timeout) as response:
            return isinstance(json.loads(response.read() or b"null"), dict)
    except (OSError, ValueError, urllib.error.URLError):
        return False


def check_endpoint(url: str) -> None:
    """A URL boto3 can send requests to, or a UsageError."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"--endpoint-url {url!r} is not a URL: give http(s)://host[:port], or '' for your AWS account")
    try:
        parsed.port  # noqa: B018 (the property checks the port)
    except ValueError:
        raise UsageError(f"--endpoint-url {url!r} has a port that is not a number from 0 to 65535") from None


def choose(endpoint_url: str | None, real: bool, embedded: bool = False) -> tuple[str, str | None]:
    """("real", None), ("endpoint", url) or ("embedded", None), by the order of this module's docstring."""
    if embedded and (real or endpoint_url is not None):
        raise UsageError("--embedded starts a throwaway local server: drop --real / --endpoint-url")
    if real or endpoint_url == "":
        return "real", None
    if endpoint_url:
        check_endpoint(endpoint_url)
        return "endpoint", endpoint_url
    if os.environ.get("AWS_ENDPOINT_URL"):
        check_endpoint(os.environ["AWS_ENDPOINT_URL"])
        return "endpoint", os.environ["AWS_ENDPOINT_URL"]
    if embedded:
        return "embedded", None
    url = serve_url()
    if probe(url) is not None:
        return "endpoint", url
    raise CommandError(
        f"no `consentry serve` answers at {url}: start one (`consentry serve --seed` in another terminal), "
        "point at a deployment (--endpoint-url URL, --real), or add --embedded for a throwaway empty server"
    )


def _use_local_credentials(endpoint: str, region: str | None) -> None:
    """A moto endpoint takes any credentials; a named profile or a token would only get in the way."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(LOCAL_CREDENTIALS, AWS_ENDPOINT_URL=endpoint)
    if region:
        os.environ["AWS_DEFAULT_REGION"] = region
    settings_module.current.cache_clear()


def _policy(path: str | None) -> Policy:
    return load_policy(path or os.environ.get("POLICY_FILE") or None)


def _clients(session: boto3.session.Session, endpoint_url: str | None) -> Clients:
    return Clients.create(session, endpoint_url)


def _identity(session: boto3.session.Session, endpoint_url: str | None, region: str) -> tuple[str, str]:
    """(account, caller ARN) of the credentials; one quick call that also proves the endpoint answers."""
    sts = session.client("sts", endpoint_url=endpoint_url, region_name=region, config=CHECK_CONFIG)
    try:
        found = sts.get_caller_identity()
    except EndpointConnectionError as err:
        reached = err.kwargs.get("endpoint_url") or endpoint_url
        if endpoint_url:
            raise CommandError(
                f"cannot reach {endpoint_url}: start `consentry serve` there, or pass another --endpoint-url"
            ) from None
        raise CommandError(
            f"cannot reach AWS at {reached} (region {region}): check the network, a proxy (HTTPS_PROXY) "
            "and --region / AWS_REGION"
        ) from None
    return str(found["Account"]), str(found["Arn"])


def _queue_url(clients: Clients, name: str) -> str:
    try:
        return clients.sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError:
        return f"unresolved: {name}"  # the commands that send work name what is missing


def _settings(prefix: str | None, account: str, region: str, policy: Policy, clients: Clients) -> tuple[Settings, str]:
    """The deployment's settings and its write queue's URL."""
    if prefix is None and os.environ.get("CHAT_BUCKET"):
        missing = [name for name in CONTRACT_VARIABLES if not os.environ.get(name)]
        if missing:
            raise CommandError(
                f"CHAT_BUCKET is set but {', '.join(missing)} is not: set all of {', '.join(CONTRACT_VARIABLES)}, "
                "or unset CHAT_BUCKET and pass --prefix"
            )
        settings = Settings(
            bucket=os.environ["CHAT_BUCKET"],
            consent_table=os.environ["CONSENT_TABLE"],
            ledger_table=os.environ["LEDGER_TABLE"],
            work_queue_url=os.environ.get("WORK_QUEUE_URL") or "unset: WORK_QUEUE_URL",
            policy=policy,
            hash_key_secret=os.environ.get("HASH_KEY_SECRET", ""),
        )
        return settings, os.environ.get("WRITE_QUEUE_URL") or "unset: WRITE_QUEUE_URL"
    n = names(prefix or DEFAULT_PREFIX, account, region)
    settings = Settings(
        bucket=n["bucket"],
        consent_table=n["consent_table"],
        ledger_table=n["ledger_table"],
        work_queue_url=_queue_url(clients, n["work_queue"]),
        policy=policy,
    )
    return settings, _queue_url(clients, n["write_queue"])


def _real_session(profile: str | None, region: str | None) -> boto3.session.Session:
    """The session of the default credential chain (or `profile`), its credentials checked."""
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as err:
        given = "--profile" if profile else "AWS_PROFILE"
        raise UsageError(f"{given}: {err} (`aws configure list-profiles` lists the profiles)") from None
    try:
        credentials = session.get_credentials()
    except BotoCoreError as err:  # a provider of the chain failed (SSO expired, metadata refused)
        raise CommandError(
            f"could not get AWS credentials ({err}): refresh them (`aws sso login`, AWS_PROFILE), "
            "or drop --real to use the local server"
        ) from None
    if credentials is None:
        raise CommandError(
            "no AWS credentials found: run `aws configure` or `aws sso login`, or set AWS_PROFILE "
            "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); drop --real to use the local server"
        )
    return session


@contextmanager
def connect(
    *,
    endpoint_url: str | None = None,
    real: bool = False,
    prefix: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    policy_file: str | None = None,
    require: Sequence[str] = (),
    quiet: bool = False,
    embedded: bool = False,
) -> Iterator[Target]:
    """The deployment a command works on (see the module docstring), checked for `require`d resources."""
    policy = _policy(policy_file)
    if profile and not (real or endpoint_url == ""):
        raise UsageError("--profile names credentials of your AWS account: add --real (local servers need none)")
    mode, url = choose(endpoint_url, real, embedded)
    policy_path = policy_file or os.environ.get("POLICY_FILE") or None
    if mode == "embedded":
        from consentry.local import LocalRuntime

        if not quiet:
            note(
                "--embedded: using a fresh, empty embedded server that ends with this command, and all it holds "
                "(start `consentry serve --seed` in another terminal to keep data)"
            )
        with LocalRuntime.serve(prefix or DEFAULT_PREFIX) as runtime:
            region_name = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
            env = runtime.env
            session = boto3.session.Session(region_name=region_name)
            account, caller = _identity(session, runtime.endpoint_url, region_name)
            target = Target(
                where=f"on the embedded server {runtime.endpoint_url}",
                endpoint_url=runtime.endpoint_url,
                real=False,
                settings=Settings(
                    bucket=env["CHAT_BUCKET"],
                    consent_table=env["CONSENT_TABLE"],
                    ledger_table=env["LEDGER_TABLE"],
                    work_queue_url=env["WORK_QUEUE_URL"],
                    policy=policy,
                ),
                clients=_clients(session, runtime.endpoint_url),
                embedded=True,
                prefix=prefix or DEFAULT_PREFIX,
                prefix_given=prefix is not None,
                account=account,
                region=region_name,
                caller=caller,
                write_queue_url=env["WRITE_QUEUE_URL"],
                runtime=runtime,
                policy_file=policy_path,
                local=True,
            )
            target.require(*require)
            yield target
        return
    local = False
    if mode == "endpoint":
        assert url is not None
        if is_loopback(url):
            local = bool(probe(url))
            _use_local_credentials(url, region)
        else:
            # Every client of the command, the handlers' included, goes where it was told; not to AWS.
            os.environ["AWS_ENDPOINT_URL"] = url
            settings_module.current.cache_clear()
        session = boto3.session.Session(region_name=region or None)
        region_name = region or session.region_name or "us-east-1"
        where = f"on {url}"
        real_session = None
    else:
        os.environ.pop("AWS_ENDPOINT_URL", None)
        settings_module.current.cache_clear()
        session = real_session = _real_session(profile, region)
        region_name = region or session.region_name or "us-east-1"
        where = "in AWS"
    account, caller = _identity(session, url, region_name)
    if mode == "real":
        where = f"in AWS account {account} ({region_name})"
    clients = _clients(boto3.session.Session(region_name=region_name) if real_session is None else session, url)
    settings, write_url = _settings(prefix, account, region_name, policy, clients)
    target = Target(
        where=where,
        endpoint_url=url,
        real=mode == "real",
        settings=settings,
        clients=clients,
        prefix=prefix or DEFAULT_PREFIX,
        prefix_given=prefix is not None,
        account=account,
        region=region_name,
        caller=caller,
        write_queue_url=write_url,
        session=real_session,
        policy_file=policy_path,
        local=local,
    )
    target.require(*require)
    yield target


def describe(target: Target) -> dict[str, Any]:
    """The target as `--json` outputs show it."""
    return {
        "where": target.where,
        "endpoint_url": target.endpoint_url,
        "real": target.real,
        "local": target.local,
        "bucket": target.settings.bucket,
        "consent_table": target.settings.consent_table,
        "ledger_table": target.settings.ledger_table,
        "policy": target.policy.label,
        "account": target.account,
        "region": target.region,
        "caller": target.caller,
    }
