"""The demo's programs as a user starts them: ``python examples/mock_llm.py --host H --port P``."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_the_mock_llm_runs_alone_on_the_host_and_port_given() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "mock_llm.py"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()  # printed once the socket listens
        assert f"http://127.0.0.1:{port}" in banner, banner
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            data=json.dumps(
                {"model": "mock", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
            ).encode(),
            headers={"Content-Type": "application/json", "X-Mock-Reply": "Hi there!"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            events = [line for line in resp.read().decode().split("\n\n") if line]
        assert events[-1] == "data: [DONE]"
        text = "".join(
            json.loads(e[len("data: ") :])["choices"][0]["delta"].get("content", "") for e in events[:-1]
        )
        assert text == "Hi there!"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
