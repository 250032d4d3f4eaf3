"""Where a command runs, and the rails it gets there: never a silent throwaway server; rails by place, not flag.

A change is made where it was told or not at all: with nothing serving, every
command fails (exit 1) unless `--embedded` asks for a throwaway server, which
says so. A busy server is waited for, and the error names what was waited
for. Only a loopback `consentry serve` that identifies itself as local
escapes the real-account rails; a plain moto server, even on loopback, and
any other address get them, and every client of the command goes there.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterator

import pytest
from clirun import Result, local
from moto.server import ThreadedMotoServer

from consentry import local as local_module
from consentry.cli import target as target_module
from consentry.cli.options import CommandError, UsageError
from consentry.cli.target import choose, connect, probe
from consentry.local import LocalRuntime, free_port
from support import exists, set_consent, t

Cli = Callable[..., Result]


def test_with_nothing_serving_a_change_fails_and_says_how_to_get_a_server(cli: Cli) -> None:
    result = cli("hold", "place", "--user", "ava")

    assert result.code == 1
    [line] = result.err.splitlines()
    assert line.startswith("consentry hold: error: no `consentry serve` answers at http://127.0.0.1:")
    assert "consentry serve --seed" in line and "--embedded" in line
    assert result.out == ""  # no "0 held now": nothing was reported done


def test_with_nothing_serving_a_read_fails_too_unless_told(cli: Cli) -> None:
    assert cli("report", "--json").code == 1

    told = cli("--embedded", "report", "--json")

    assert told.code == 0, told.err
    assert json.loads(told.out)["objects"] == 0
    [note] = told.err.splitlines()
    assert note.startswith("consentry: --embedded: using a fresh, empty embedded server that ends with this command")


def test_embedded_does_not_mix_with_another_place() -> None:
    with pytest.raises(UsageError, match="--embedded"):
        choose(None, True, embedded=True)
    with pytest.raises(UsageError, match="--embedded"):
        choose("http://127.0.0.1:9", False, embedded=True)


def test_the_order_of_places(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose("", False) == ("real", None)
    assert choose(None, True) == ("real", None)
    assert choose("http://localhost:4566", False) == ("endpoint", "http://localhost:4566")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert choose(None, False) == ("endpoint", "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert choose(None, False, embedded=True) == ("embedded", None)
    with pytest.raises(CommandError, match="no `consentry serve` answers"):
        choose(None, False)  # CONSENTRY_SERVE_URL points at a free port


@pytest.fixture
def silent() -> Iterator[str]:
    """A server that accepts connections and never answers (as one busy with a long command looks)."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        yield f"http://127.0.0.1:{listening.getsockname()[1]}"


def test_a_busy_server_is_waited_for_and_the_error_says_what_for(
    silent: str, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSENTRY_SERVE_URL", silent)
    monkeypatch.setenv("CONSENTRY_SERVE_WAIT", "0.3")

    result = cli("hold", "place", "--user", "ava")

    assert result.code == 1
    assert f"waited 0.3 s for the server at {silent} to answer (busy with another command?)" in result.err
    assert "CONSENTRY_SERVE_WAIT" in result.err


def test_a_busy_server_is_given_half_a_minute_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSENTRY_SERVE_WAIT", raising=False)
    assert target_module.serve_wait() == 30.0


def test_a_consentry_server_says_it_is_local_and_a_plain_moto_does_not(server: LocalRuntime) -> None:
    assert server.endpoint_url is not None
    assert probe(server.endpoint_url) == {"consentry": "local", "prefix": "test"}
    assert target_module.LOCAL_IDENTITY_PATH == local_module.LOCAL_IDENTITY_PATH
    with plain_moto("127.0.0.1") as url:
        assert probe(url) == {}
    assert probe(f"http://127.0.0.1:{free_port()}") is None


# -- rails by place ----------------------------------------------------------------------------------------


def outward_address() -> str:
    """This machine's address on its way out (not loopback); no packet is sent."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("203.0.113.1", 9))  # TEST-NET-3: routed, never reached
        address: str = s.getsockname()[0]
    assert not address.startswith("127."), "the rails test needs an address that is not loopback"
    return address


class plain_moto:
    """moto's own server in this process, on `host`: the same data as the `server` fixture, no identity."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="0.0.0.0" if host != "127.0.0.1" else host, port=self.port)

    def __enter__(self) -> str:
        self.server.start()
        return f"http://{self.host}:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def due_story(rt: LocalRuntime) -> None:
    set_consent(rt, "u1", "denied", t("2025-09-01"), tier="free")
    rt.put_chat("chats/u1/a.json", at=t("2025-09-10"))
    rt.settle()


@pytest.mark.parametrize("where", ["a plain moto on loopback", "an address that is not loopback"])
def test_an_endpoint_that_is_not_a_local_consentry_server_gets_the_real_account_rails(
    server: LocalRuntime, cli: Cli, where: str
) -> None:
    due_story(server)
    host = "127.0.0.1" if where.startswith("a plain") else outward_address()
    with plain_moto(host) as url:
        there = ("--endpoint-url", url, "--prefix", "test")

        without_yes = cli(*there, "sweep", "--now", "2025-11-20")
        future = cli(*there, "sweep", "--now", "2099-01-01", "--yes")
        over = cli(*there, "sweep", "--now", "2025-11-20", "--yes", "--max-delete", "0")

    assert without_yes.code == 1 and "add --yes" in without_yes.err
    assert "not a local `consentry serve`" in without_yes.err
    assert future.code == 2
    assert "on an endpoint that is not a local `consentry serve` the sweep never runs ahead of time" in future.err
    assert over.code == 1 and "max-delete" in over.err
    assert exists(server, "chats/u1/a.json")


def test_a_local_consentry_server_needs_no_rails(server: LocalRuntime, cli: Cli) -> None:
    due_story(server)

    result = cli(*local(server), "sweep", "--now", "2025-11-20", "--json")

    assert result.code == 0, result.err
    assert json.loads(result.out)["target"]["local"] is True
    assert not exists(server, "chats/u1/a.json")


def test_every_client_of_a_command_goes_to_the_endpoint_it_was_told(server: LocalRuntime) -> None:
    due_story(server)
    with plain_moto(outward_address()) as url, connect(endpoint_url=url, prefix="test", require=("bucket",)) as target:
        assert target.guarded and not target.real
        assert os.environ["AWS_ENDPOINT_URL"] == url  # the handlers' clients, made in this process
        for client in (target.clients.s3, target.clients.sqs, target.clients.dynamodb, target.client("lambda")):
            assert client.meta.endpoint_url == url
        assert target.settings.work_queue_url.startswith("http")
