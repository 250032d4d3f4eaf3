"""`consentry policy validate`: clear errors that point at the line of the problem."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from clirun import Result

BUNDLED = (Path(__file__).parents[2] / "shared/consentry/service/policies/consumer-terms-2025.toml").read_text()


def policy_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return str(path)


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if fragment in line)


def test_bundled_policy_is_valid(cli: Callable[..., Result]) -> None:
    result = cli("policy", "validate")

    assert result.code == 0
    assert result.out.startswith("bundled consumer-terms-2025.toml: ok: consumer-terms-2025@1, effective 2025-08-28")


def test_valid_copy_lists_its_differences_from_the_bundled_policy(cli: Callable[..., Result], tmp_path: Path) -> None:
    path = policy_file(tmp_path, BUNDLED.replace("eligible_days = 1825", "eligible_days = 730"))

    result = cli("policy", "validate", path)

    assert result.code == 0
    assert f"{path}: ok: consumer-terms-2025@1" in result.out
    assert "retention.eligible_days: 1825 -> 730" in result.out


@pytest.mark.parametrize(
    ("change", "fragment", "message"),
    [
        (("eligible_days = 1825", "eligible_days = 0"), "eligible_days = 0", "eligible_days must be from 1 to 36500"),
        (
            ('effective_at = "2025-08-28T00:00:00Z"', 'effective_at = "2025-08-28"'),
            "effective_at",
            "without a time zone",
        ),
        (('commercial = ["team"', 'commercial = ["pro", "team"'), "commercial =", "both consumer and commercial"),
        (("version = 1", 'version = "one"'), 'version = "one"', "[policy] version must be of type int"),
    ],
)
def test_semantic_error_points_at_the_offending_key(
    cli: Callable[..., Result], tmp_path: Path, change: tuple[str, str], fragment: str, message: str
) -> None:
    text = BUNDLED.replace(*change)
    path = policy_file(tmp_path, text)

    result = cli("policy", "validate", path)

    assert result.code == 1
    first = result.err.splitlines()[0]
    assert first.startswith(f"{path}:{line_of(text, fragment)}:")
    assert f": error: {message}" in first or message in first
    assert fragment in result.err.splitlines()[1]  # the source line, then a caret under the value
    assert result.err.splitlines()[2].strip().endswith("^")


def test_keys_table_error_points_at_its_header(cli: Callable[..., Result], tmp_path: Path) -> None:
    text = BUNDLED.replace('prefix = "code-sessions/"', 'prefix = "code-sessions"')
    path = policy_file(tmp_path, text)

    first = cli("policy", "validate", path).err.splitlines()[0]

    second_keys_header = [i for i, line in enumerate(text.splitlines(), start=1) if line.strip() == "[[keys]]"][1]
    assert first.startswith(f"{path}:{second_keys_header}:1: error: [[keys]] #2: prefix must end with '/'")


def test_toml_syntax_error_has_line_and_column(cli: Callable[..., Result], tmp_path: Path) -> None:
    text = BUNDLED.replace("default_days = 30", "default_days = 30 days")
    path = policy_file(tmp_path, text)

    result = cli("policy", "validate", path)

    assert result.code == 1
    assert result.err.splitlines()[0].startswith(f"{path}:{line_of(text, 'default_days')}:19: error: not valid TOML")


def test_misspelt_key_is_an_error_with_a_suggestion(cli: Callable[..., Result], tmp_path: Path) -> None:
    text = BUNDLED.replace("eligible_days = 1825", "eligble_days = 1825")
    path = policy_file(tmp_path, text)

    err = cli("policy", "validate", path).err

    assert "error: [retention] eligible_days must be of type int, got None" in err
    assert f"{path}:{line_of(text, 'eligble_days')}:16: warning: unknown key 'eligble_days' in [retention]" in err
    assert "(did you mean eligible_days?)" in err


def test_unreadable_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("policy", "validate", str(tmp_path / "missing.toml"))

    assert result.code == 1
    assert "cannot read the file" in result.err


def test_validate_json(cli: Callable[..., Result], tmp_path: Path) -> None:
    path = policy_file(tmp_path, BUNDLED.replace("default_days = 30", "default_days = 0"))

    data = json.loads(cli("policy", "validate", path, "--json").out)

    assert data["valid"] is False
    [error] = data["errors"]
    assert error["line"] == line_of(BUNDLED, "default_days") and "default_days" in error["message"]


def test_every_mistake_is_reported_on_its_line_not_only_the_first(
    script: Callable[..., Result], tmp_path: Path
) -> None:
    """An empty id, a tag key S3 refuses and a bad figure: three errors, each at its line."""
    text = (
        BUNDLED.replace('id = "consumer-terms-2025"', 'id = ""')
        .replace('reason = "training-reason"', 'reason = "training reason!!/"')
        .replace("eligible_days = 1825", "eligible_days = 0")
    )
    path = policy_file(tmp_path, text)

    result = script("policy", "validate", path)

    assert result.code == 1
    errors = [line for line in result.err.splitlines() if ": error: " in line]
    assert errors == [
        f"{path}:{line_of(text, 'id = ')}:6: error: [policy] id must not be empty: it names the policy in every "
        "object's policy-version tag",
        f"{path}:{line_of(text, 'eligible_days')}:17: error: [retention] eligible_days must be from 1 to 36500 "
        "days, got 0",
        f"{path}:{line_of(text, 'reason = ')}:10: error: [tags] reason = 'training reason!!/' has characters S3 "
        "refuses in a tag key ('!'; allowed: letters, digits, spaces and + - = . _ : / @)",
    ]  # in the order of the file
    assert "ok:" not in result.out


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("aws:training", "starts with 'aws:'"),
        ("x" * 129, "must be 1 to 128 characters"),
        ("élégible:données/@+=._ -", None),  # letters of any script, digits, spaces and + - = . _ : / @
    ],
)
def test_tag_keys_follow_s3s_rules(cli: Callable[..., Result], tmp_path: Path, key: str, why: str | None) -> None:
    path = policy_file(tmp_path, BUNDLED.replace('eligible = "training-eligible"', f'eligible = "{key}"'))

    data = json.loads(cli("policy", "validate", path, "--json").out)

    assert data["valid"] is (why is None)
    assert [why in e["message"] for e in data["errors"]] == ([] if why is None else [True])


def test_the_deployment_refuses_such_a_policy_too(tmp_path: Path) -> None:
    """Not only `validate`: loading the policy (every handler does) refuses it, naming each problem."""
    from consentry.service.policy import PolicyError, load_policy

    path = policy_file(tmp_path, BUNDLED.replace('id = "consumer-terms-2025"', 'id = ""'))

    with pytest.raises(PolicyError) as refused:
        load_policy(path)
    assert refused.value.problems == [
        "[policy] id must not be empty: it names the policy in every object's policy-version tag"
    ]
