"""scripts/torch_index.py: which PyTorch build `make setup` installs, by the machine."""

from __future__ import annotations

import http.server
import importlib.util
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "torch_index.py"
spec = importlib.util.spec_from_file_location("torch_index", SCRIPT)
torch_index = importlib.util.module_from_spec(spec)
sys.modules["torch_index"] = torch_index
spec.loader.exec_module(torch_index)


def never(*_a: object) -> bool:
    raise AssertionError("not asked")


def test_override_wins_over_everything() -> None:
    c = torch_index.choose(
        {"TORCH_INDEX": "https://mirror.example/whl/cu126"}, "Linux", gpu=never, reachable=never
    )
    assert c.build == "override"
    assert c.pip_args[:2] == ("--index-url", "https://mirror.example/whl/cu126")
    assert "TORCH_INDEX" in c.reason
    assert torch_index.choose({"TORCH_INDEX": "pypi"}, "Linux", gpu=never, reachable=never).pip_args == ()


def test_gpu_takes_the_cuda_build_from_the_default_index() -> None:
    c = torch_index.choose({}, "Linux", gpu=lambda: True, reachable=never)
    assert (c.build, c.pip_args) == ("cuda", ())


def test_linux_without_gpu_takes_the_cpu_index_when_it_answers() -> None:
    asked = []
    c = torch_index.choose({}, "Linux", gpu=lambda: False, reachable=lambda url: asked.append(url) or True)
    assert asked == [torch_index.CPU_INDEX]
    assert c.build == "cpu"
    assert c.pip_args == ("--index-url", torch_index.CPU_INDEX, "--extra-index-url", torch_index.PYPI)


def test_linux_without_gpu_falls_back_and_says_why() -> None:
    c = torch_index.choose({}, "Linux", gpu=lambda: False, reachable=lambda url: False)
    assert (c.build, c.pip_args) == ("default", ())
    assert "does not answer" in c.reason and "TORCH_INDEX" in c.reason


def test_macos_uses_pypi_without_asking_the_cpu_index() -> None:
    c = torch_index.choose({}, "Darwin", gpu=lambda: False, reachable=never)
    assert (c.build, c.pip_args) == ("default", ())


@pytest.fixture
def index_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = b"<a href='torch-2.13.0+cpu-cp311-none-linux_x86_64.whl'>torch</a>"
            self.send_response(200 if self.path == "/whl/cpu/torch/" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_a: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_answers_asks_the_index_for_torch(index_server: str) -> None:
    assert torch_index.answers(index_server + "/whl/cpu")
    assert not torch_index.answers(index_server + "/whl/none")
    assert not torch_index.answers("http://127.0.0.1:9/whl/cpu", timeout=2)  # nothing listens there


def test_gpu_detection_reads_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not torch_index.has_nvidia_gpu()  # no nvidia-smi at all
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-0)'\n")
    smi.chmod(0o755)
    assert torch_index.has_nvidia_gpu()
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert not torch_index.has_nvidia_gpu()  # a driver that does not answer is no GPU


def test_script_prints_arguments_and_records_the_reason(tmp_path: Path) -> None:
    record = tmp_path / "torch-build.txt"
    env = {**os.environ, "TORCH_INDEX": "https://mirror.example/whl/cpu"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--record", str(record)], env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert done.stdout.split() == ["--index-url", "https://mirror.example/whl/cpu", "--extra-index-url",
                                   torch_index.PYPI]  # fmt: skip
    assert "TORCH_INDEX=https://mirror.example/whl/cpu" in done.stderr
    assert "build: override" in record.read_text("utf-8")
