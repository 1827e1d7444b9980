"""Configuration: the seed's TOML as written, env over file, and start-up errors that name the key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from guard_middleware import ConfigError, GuardMiddleware, GuardSettings
from guard_middleware.policy import compile_policy
from guard_middleware.verdict import Action, Phase

SEED_LOCAL = """
[ features . guardrails ]
enabled = true
[ features . guardrails . input ]
enabled = true
mode = "blocking"
timeout_ms = 5000
on_timeout = "block"
on_error = "block"
default_action = "block"
[ features . guardrails . input . actions ]
SECURITY = "warn"
[ features . guardrails . input . provider ]
type = "blocklist"
case_insensitive = true
[[ features . guardrails . input . provider . patterns ]]
pattern = "competitor-name"
is_regex = false
category = "blocked_content"
severity = "high"
message = "Mentions of competitors are not allowed"
[[ features . guardrails . input . provider . patterns ]]
pattern = "\\\\b(hack|exploit)\\\\b"
is_regex = true
category = "security"
severity = "medium"
[ features . guardrails . pii ]
enabled = true
action = "redact"
replacement = "[PII REDACTED]"
apply_to = "both"
types = [ "EMAIL" , "PHONE" , "SSN" , "CREDIT_CARD" ]
[ features . guardrails . pii . provider ]
type = "regex"
[ features . guardrails . audit ]
enabled = true
log_all_evaluations = false
log_blocked = true
log_violations = true
log_redacted = true
"""


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(SEED_LOCAL)
    return path


async def test_seed_toml_loads_as_written_and_behaves_as_documented(make_stack: Any, seed_file: Path) -> None:
    async with make_stack(str(seed_file)) as s:
        status, _, body = await s.chat("ask competitor-name")
        assert status == 400 and body["error"]["message"].endswith("Mentions of competitors are not allowed")
        status, headers, _ = await s.chat("an exploit for my own box")
        assert status == 200 and headers["X-Guardrails-Warning"] == "security"
        status, _, body = await s.chat("card 4111 1111 1111 1111 please")
        assert s.record.bodies[-1]["messages"][0]["content"] == "card [PII REDACTED] please"


def test_env_overrides_file_values(seed_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARD_CONFIG_FILE", str(seed_file))
    monkeypatch.setenv("GUARD_PII__REPLACEMENT", "<gone>")
    monkeypatch.setenv("GUARD_INPUT__TIMEOUT_MS", "1234")
    settings = GuardSettings.load()
    assert settings.pii is not None and settings.pii.replacement == "<gone>"
    assert settings.pii.types == ["EMAIL", "PHONE", "SSN", "CREDIT_CARD"]  # the rest still from the file
    assert settings.input.timeout_ms == 1234
    assert GuardMiddleware().policy.guardrails["pii"].replacement == "<gone>"


def test_variables_in_strings_are_expanded_and_a_missing_one_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[features.guardrails.pii]\nreplacement = "${REPL}"\n')
    monkeypatch.setenv("REPL", "[gone]")
    assert GuardSettings.load(config_file=str(path)).pii.replacement == "[gone]"  # type: ignore[union-attr]
    monkeypatch.delenv("REPL")
    with pytest.raises(ConfigError) as info:
        GuardSettings.load(config_file=str(path))
    assert info.value.key == "features.guardrails.pii.replacement" and "REPL" in info.value.message


# One bad value, written in each file form ({p}: the tables' prefix); the error names the key as written.
BAD_KEYS = [
    ('[{p}pii]\naction = "explode"\n', "pii.action"),
    ('[{p}input]\ndefault_action = "explode"\n', "input.default_action"),
    ('[{p}input.actions]\nHATE = "explode"\n', "input.actions.HATE"),
    ('[{p}input.provider]\ntype = "nonsense"\n', "input.provider.type"),
    (
        '[[{p}input.providers]]\ntype = "blocklist"\npatterns = [{{pattern = "(", is_regex = true}}]\n',
        "input.providers[0].patterns[0].pattern",
    ),
    ("[{p}output]\ntimeout_ms = 0\n", "output.timeout_ms"),
    (
        '[[{p}guardrails]]\nname = "a"\ntype = "blocklist"\npatterns = [{{pattern = "x"}}]\n'
        '[[{p}guardrails]]\nname = "b"\ntype = "blocklist"\nmode = "sometimes"\n'
        'patterns = [{{pattern = "x"}}]\n',
        "guardrails[1].mode",
    ),
]


@pytest.mark.parametrize("prefix", ["features.guardrails.", "guard.", ""])
@pytest.mark.parametrize(("body", "key"), BAD_KEYS)
def test_a_config_error_names_the_key_as_written_in_each_file_form(
    tmp_path: Path, prefix: str, body: str, key: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(body.format(p=prefix))
    with pytest.raises(ConfigError) as info:
        GuardMiddleware(GuardSettings.load(config_file=str(path)))
    assert info.value.key == prefix + key, info.value
    assert str(info.value).startswith(f"{prefix}{key}: ")


def test_a_bad_value_from_the_environment_is_not_named_as_a_file_key(
    seed_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUARD_PII__ACTION", "explode")
    with pytest.raises(ConfigError) as info:
        GuardSettings.load(config_file=str(seed_file))
    assert info.value.key == "pii.action"


def test_category_actions_match_case_insensitively() -> None:
    policy = compile_policy(GuardSettings.load(input={"actions": {"HATE": "warn", "violence": "log"}}))
    table = policy.phase_actions[Phase.INPUT]
    assert table.resolve("hate") is Action.WARN and table.resolve("VIOLENCE") is Action.LOG
    assert table.resolve("other") is Action.BLOCK


@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({"input": {"provider": {"type": "nonsense"}}}, "input.provider.type", "unknown provider type"),
        (
            {"input": {"provider": {"type": "blocklist", "patterns": [{"pattern": "(", "is_regex": True}]}}},
            "input.provider.patterns[0].pattern",
            "",
        ),
        ({"input": {"actions": {"HATE": "explode"}}}, "input.actions.HATE", "unknown action"),
        ({"input": {"default_action": "explode"}}, "input.default_action", ""),
        ({"pii": {"types": ["EMAIL", "SOCKS"]}}, "pii.types", "SOCKS"),
        ({"pii": {"types": ["NAME"]}}, "pii.types", "bedrock"),
        (
            {"input": {"provider": {"type": "blocklist", "patterns": [], "bogus": 1}}},
            "input.provider",
            "bogus",
        ),
        ({"input": {"mode": "sometimes"}}, "input.mode", ""),
        ({"input": {"mode": "concurrent"}, "pii": {"apply_to": "both"}}, "input.mode", "concurrent"),
        ({"policies": {"teams": {"red": ["missing"]}}}, "policies.teams.red", "missing"),
    ],
)
def test_bad_config_fails_at_start_up_naming_the_key(config: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(ConfigError) as info:
        GuardMiddleware(GuardSettings.load(**config))
    assert info.value.key.startswith(key), info.value
    assert words.lower() in str(info.value).lower()


def test_check_command_prints_findings_and_decision(seed_file: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "guard_middleware",
            "check",
            "--config",
            str(seed_file),
            "--json",
            "mail jane@example.com about competitor-name",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stderr
    result = json.loads(run.stdout)
    assert result["decision"] == "block"
    assert {(f["guardrail"], f["category"], f["action"]) for f in result["findings"]} == {
        ("blocklist", "blocked_content", "block"),
        ("pii", "EMAIL", "redact"),
    }
    clean = subprocess.run(
        [
            sys.executable,
            "-m",
            "guard_middleware",
            "check",
            "--config",
            str(seed_file),
            "mail jane@example.com",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert clean.returncode == 0 and "rewritten: mail [PII REDACTED]" in clean.stdout


def test_a_list_in_the_environment_that_is_not_json_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUARD_ROUTES", "/v1/chat/completions")
    with pytest.raises(ConfigError) as info:
        GuardSettings.load()
    assert info.value.key == "GUARD_ROUTES" and "JSON" in info.value.message
    monkeypatch.setenv("GUARD_ROUTES", '["/v1/chat/completions"]')
    assert GuardSettings.load().routes == ["/v1/chat/completions"]


def test_a_misspelt_guard_variable_is_named_in_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name, value in [
        ("GUARD_PII_ACTION", "anonymize"),  # one underscore where nesting needs two
        ("GUARD_ENABLD", "false"),
        ("GUARD_PII__ACTION", "anonymize"),
        ("GUARD_AUDIT_HASH_KEY", "k"),
        ("GUARD_MAX_BODY_BYTES", "2048"),
    ]:
        monkeypatch.setenv(name, value)
    with caplog.at_level("WARNING", logger="guard_middleware"):
        settings = GuardSettings.load()
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == [
        "ignoring GUARD_ENABLD: no guard_middleware setting has that name",
        "ignoring GUARD_PII_ACTION: no guard_middleware setting has that name",
    ]
    assert settings.max_body_bytes == 2048 and settings.pii is not None and settings.pii.action == "anonymize"


def test_start_up_logs_the_policy_in_one_line_and_warns_when_it_checks_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("INFO", logger="guard_middleware"):
        GuardMiddleware(GuardSettings.load(pii={"action": "redact", "types": ["EMAIL", "PHONE"]}))
        GuardMiddleware(GuardSettings.load(pii=None))
        GuardMiddleware(
            GuardSettings.load(
                guardrails=[
                    {
                        "name": "words",
                        "type": "blocklist",
                        "default_on": False,
                        "patterns": [{"pattern": "x"}],
                    }
                ]
            )
        )
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "guard_middleware"]
    assert lines == [
        (
            "INFO",
            "guard_middleware policy: input: pii (pii EMAIL,PHONE); output: pii (pii EMAIL,PHONE); "
            "streaming: final_only",
        ),
        ("INFO", "guard_middleware policy: input: nothing; output: nothing; streaming: final_only"),
        ("WARNING", "guard_middleware checks nothing: no guardrail is configured"),
        (
            "INFO",
            "guard_middleware policy: input: nothing; output: nothing; on request: words; "
            "streaming: final_only",
        ),
        ("WARNING", "guard_middleware checks a request only when a team or the request names a guardrail"),
    ]


def test_with_nothing_configured_the_baseline_redacts_pii_and_secrets_both_ways() -> None:
    pii = GuardMiddleware().policy.guardrails["pii"]
    assert pii.text_check is not None and pii.forced_action is Action.REDACT
    assert sorted(pii.phases) == [Phase.INPUT, Phase.OUTPUT]
    text = "mail a@b.io, card 4111 1111 1111 1111, key AKIAIOSFODNN7EXAMPLE"
    assert {"EMAIL", "CREDIT_CARD", "AWS_ACCESS_KEY"} <= {m.category for m in pii.text_check.find(text)}
    # Saying anything about what to check replaces the baseline; an explicit empty policy checks nothing.
    assert "pii" not in GuardMiddleware(GuardSettings.load(pii=None)).policy.guardrails
    assert GuardSettings.load(input={"providers": []}).pii is None
