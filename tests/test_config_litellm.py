from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from guard_middleware import GuardMiddleware, GuardSettings
from guard_middleware.config_litellm import guardrails_from_litellm
from guard_middleware.errors import ConfigError
from guard_middleware.providers import build_remote

# The examples of seeds 000-003 (LiteLLM's docs), with their YAML indentation restored.
BEDROCK_MASKING = """
guardrails:
  - guardrail_name: "bedrock-pre-guard"
    litellm_params:
      guardrail: bedrock
      mode: "pre_call"
      guardrailIdentifier: wf0hkdb5x07f
      guardrailVersion: "DRAFT"
      aws_region_name: os.environ/AWS_REGION
      mask_request_content: true
      mask_response_content: true
  - guardrail_name: "bedrock-guardrail"
    litellm_params:
      guardrail: bedrock
      mode: "post_call"
      guardrailIdentifier: ff6ujrregl1q
      guardrailVersion: "1"
      disable_exception_on_block: true
      default_on: true
"""

LAKERA = """
guardrails:
  - guardrail_name: "lakera-guard"
    litellm_params:
      guardrail: lakera_v2
      mode: "during_call"
      api_key: os.environ/LAKERA_API_KEY
      api_base: os.environ/LAKERA_API_BASE
  - guardrail_name: "lakera-monitor"
    litellm_params:
      guardrail: lakera_v2
      mode: "pre_call"
      on_flagged: "monitor"
      api_key: os.environ/LAKERA_API_KEY
      api_base: os.environ/LAKERA_API_BASE
"""

DYNAMO = """
guardrails:
  - guardrail_name: "dynamoai-policies"
    litellm_params:
      guardrail: dynamoai
      mode: "pre_call"
      api_key: os.environ/DYNAMOAI_API_KEY
      policy_ids:
        - "policy-id-1"
        - "policy-id-2"
  - guardrail_name: "dynamoai-custom"
    litellm_params:
      guardrail: dynamoai
      mode: [pre_call, post_call]
      api_key: os.environ/DYNAMOAI_API_KEY
      api_base: "https://custom.dynamo.ai"
      model_id: "gpt-4-production"
"""


@pytest.fixture(autouse=True)
def litellm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("LAKERA_API_KEY", "lk-env")
    monkeypatch.setenv("LAKERA_API_BASE", "https://lakera.internal")
    monkeypatch.setenv("DYNAMOAI_API_KEY", "dyn-env")


def test_bedrock_masking_example_becomes_native_bedrock_guardrails() -> None:
    tables = guardrails_from_litellm(yaml.safe_load(BEDROCK_MASKING))
    assert tables[0] == {
        "name": "bedrock-pre-guard",
        "type": "bedrock",
        "mode": ["pre_call"],
        "default_on": False,
        "disable_exception_on_block": False,
        "guardrail_id": "wf0hkdb5x07f",
        "guardrail_version": "DRAFT",
        "region": "eu-west-1",
        "mask_request_content": True,
        "mask_response_content": True,
    }
    assert tables[1]["mode"] == ["post_call"]
    assert tables[1]["default_on"] is True and tables[1]["disable_exception_on_block"] is True


def test_lakera_example_resolves_environment_and_keeps_monitor() -> None:
    tables = guardrails_from_litellm(yaml.safe_load(LAKERA))
    assert tables[0]["type"] == "lakera_v2" and tables[0]["mode"] == ["during_call"]
    assert tables[0]["api_key"] == "lk-env" and tables[0]["api_base"] == "https://lakera.internal"
    assert tables[1]["on_flagged"] == "monitor"


def test_dynamoai_example_keeps_policies_and_mode_lists() -> None:
    tables = guardrails_from_litellm(yaml.safe_load(DYNAMO))
    assert tables[0]["policy_ids"] == ["policy-id-1", "policy-id-2"] and tables[0]["api_key"] == "dyn-env"
    assert tables[1]["mode"] == ["pre_call", "post_call"] and tables[1]["model_id"] == "gpt-4-production"


@pytest.mark.parametrize("doc", [BEDROCK_MASKING, LAKERA, DYNAMO])
def test_every_translated_table_builds_a_provider(doc: str) -> None:
    common = {"name", "mode", "default_on", "disable_exception_on_block"}
    for i, table in enumerate(guardrails_from_litellm(yaml.safe_load(doc))):
        options = {k: v for k, v in table.items() if k not in common and k != "type"}
        provider = build_remote(
            table["type"], options, name=table["name"], key=f"guardrails[{i}]", timeout_ms=1000
        )
        assert provider.name == table["name"]


def test_azure_text_moderation_folds_severity_thresholds_and_prompt_shield_turns_off_analysis() -> None:
    doc = {
        "guardrails": [
            {
                "guardrail_name": "az",
                "litellm_params": {
                    "guardrail": "azure/text_moderations",
                    "mode": "post_call",
                    "api_key": "k",
                    "api_base": "https://r.cognitiveservices.azure.com",
                    "severity_threshold_by_category": {"Hate": 4},
                    "severity_threshold": 2,
                },
            },
            {
                "guardrail_name": "shield",
                "litellm_params": {
                    "guardrail": "azure/prompt_shield",
                    "api_key": "k",
                    "api_base": "https://r.cognitiveservices.azure.com",
                },
            },
        ]
    }
    text, shield = guardrails_from_litellm(doc)
    assert (
        text["type"] == "azure_content_safety" and text["endpoint"] == "https://r.cognitiveservices.azure.com"
    )
    assert text["thresholds"] == {"hate": 4, "selfharm": 2, "sexual": 2, "violence": 2}
    assert shield["prompt_shields"] is True and shield["analyze_text"] is False
    assert shield["mode"] == ["pre_call"]


def test_a_list_of_entries_can_be_translated_with_an_index_offset() -> None:
    entry = {"guardrail_name": "x", "litellm_params": {"guardrail": "nope"}}
    with pytest.raises(ConfigError) as err:
        guardrails_from_litellm([entry], key="guardrails", start=4)
    assert err.value.key == "guardrails[4].litellm_params.guardrail"
    assert "bedrock" in err.value.message


@pytest.mark.parametrize(
    ("params", "bad_key"),
    [
        ({"guardrail": "team_guardrail.TeamBedrockGuardrail"}, "guardrails[0].litellm_params.guardrail"),
        (
            {"guardrail": "lakera_v2", "api_key": "os.environ/NOT_SET_ANYWHERE"},
            "guardrails[0].litellm_params.api_key",
        ),
        (
            {"guardrail": "bedrock", "aws_role_name": "arn:aws:iam::1:role/x"},
            "guardrails[0].litellm_params.aws_role_name",
        ),
        ({"guardrail": "dynamoai", "project_id": "p"}, "guardrails[0].litellm_params.project_id"),
        ({"guardrail": "dynamoai", "mode": "pre_hook"}, "guardrails[0].litellm_params.mode"),
    ],
)
def test_what_cannot_be_honoured_is_a_config_error_naming_the_key(
    params: dict[str, object], bad_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(ConfigError) as err:
        guardrails_from_litellm({"guardrails": [{"guardrail_name": "g", "litellm_params": params}]})
    assert err.value.key == bad_key


def test_booleans_from_the_environment_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MASK", "true")
    params = {
        "guardrail": "bedrock",
        "guardrailIdentifier": "g",
        "guardrailVersion": 1,
        "mask_request_content": "os.environ/MASK",
    }
    (table,) = guardrails_from_litellm({"guardrails": [{"guardrail_name": "b", "litellm_params": params}]})
    assert table["mask_request_content"] is True and table["guardrail_version"] == 1


# A whole LiteLLM proxy config, as `litellm --config` reads it (its docs' layout).
LITELLM_PROXY = """
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_key: os.environ/OPENAI_API_KEY
general_settings:
  master_key: sk-1234
  database_url: os.environ/DATABASE_URL
router_settings:
  routing_strategy: simple-shuffle
litellm_settings:
  drop_params: true
  callbacks: ["prometheus"]
environment_variables:
  REDIS_HOST: localhost
guardrails:
  - guardrail_name: lakera-guard
    litellm_params:
      guardrail: lakera_v2
      mode: during_call
      api_key: os.environ/LAKERA_API_KEY
"""


def _write(tmp_path: Path, text: str, name: str = "proxy.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_a_full_litellm_proxy_config_loads_and_its_own_sections_are_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="guard_middleware"):
        settings = GuardSettings.load(config_file=_write(tmp_path, LITELLM_PROXY))
    policy = GuardMiddleware(settings).policy
    assert list(policy.guardrails) == ["lakera-guard"]
    skipped = {m for m in caplog.messages if "skipping LiteLLM" in m}
    assert len(skipped) == 5 and any("model_list" in m for m in skipped)


def test_litellm_settings_guardrails_is_refused_with_a_pointer_to_the_top_level_list(tmp_path: Path) -> None:
    old_form = LITELLM_PROXY.replace(
        '  callbacks: ["prometheus"]\n',
        "  guardrails:\n    - prompt_injection: {callbacks: [lakera_prompt_injection], default_on: true}\n",
    )
    with pytest.raises(ConfigError) as err:
        GuardSettings.load(config_file=_write(tmp_path, old_form))
    assert err.value.key == "litellm_settings.guardrails"
    assert "top-level `guardrails:` list" in err.value.message


def test_an_unknown_top_level_section_is_still_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        GuardSettings.load(config_file=_write(tmp_path, LITELLM_PROXY + "model_lists: []\n"))
    assert err.value.key == "model_lists"


@pytest.mark.parametrize(
    ("entry", "bad_key"),
    [
        ("{guardrail: dynamoai, api_key: k, mode: sometimes}", "guardrails[1].litellm_params.mode"),
        ("{guardrail: dynamoai, api_key: k, project_id: p}", "guardrails[1].litellm_params.project_id"),
        ("{guardrail: nope}", "guardrails[1].litellm_params.guardrail"),
        (
            "{guardrail: lakera_v2, api_key: os.environ/NOT_SET_ANYWHERE}",
            "guardrails[1].litellm_params.api_key",
        ),
        ("{guardrail: lakera_v2, api_key: '${NOT_SET_ANYWHERE}'}", "guardrails[1].litellm_params.api_key"),
    ],
)
@pytest.mark.parametrize("beside", ["", "[features.guardrails]", "[guard]"])
def test_a_litellm_entry_error_names_the_key_as_written_beside_any_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str, bad_key: str, beside: str
) -> None:
    # the top-level `guardrails:` list, alone (LiteLLM) or beside a seed or [guard] table
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    doc: dict[str, object] = yaml.safe_load(LITELLM_PROXY)
    doc["guardrails"].append(  # type: ignore[attr-defined]
        {"guardrail_name": "bad", "litellm_params": yaml.safe_load(entry)}
    )
    if beside == "[features.guardrails]":
        doc["features"] = {"guardrails": {"pii": {"action": "redact"}}}
    elif beside == "[guard]":
        doc["guard"] = {"pii": {"action": "redact"}}
    with pytest.raises(ConfigError) as err:
        GuardMiddleware(GuardSettings.load(config_file=_write(tmp_path, yaml.safe_dump(doc))))
    assert err.value.key == bad_key
