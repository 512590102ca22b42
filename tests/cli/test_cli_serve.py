"""``nash-index serve`` as a user runs it: a process of its own on loopback that answers as the
in-process pipeline and stops cleanly on SIGTERM / SIGINT (exit status 0, the port closed, none of
the Ray processes it started left, all of which listened on loopback only); bad usage is one line before anything starts."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nash_index.cli import app
from nash_index.cli.serve import host_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "distributed"))
from serve_helpers import LOOPBACK, QUERIES, TEXTS, as_json, free_port, request, save_pipeline, search  # noqa: E402

START_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory):
    pytest.importorskip("sklearn")
    path = tmp_path_factory.mktemp("cli_serve") / "pipe"
    save_pipeline(path)
    return path


def start(args, env=None) -> subprocess.Popen:
    """``python -m nash_index serve ARGS`` in a session of its own (so every process it starts can be found)."""
    return subprocess.Popen([sys.executable, "-m", "nash_index", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=env)


def wait_ready(proc: subprocess.Popen) -> str:
    """The line ``serving ... at URL ...`` once the server answers (stdout is read line by line)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("serving"):
            return line
        if not line and proc.poll() is not None:
            pytest.fail(f"serve exited with {proc.returncode}: {proc.stderr.read()[-3000:]}")
    pytest.fail("serve did not start in time")


def session_processes(sid: int) -> list:
    """Live processes of session ``sid`` (Linux /proc), zombies excluded."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def listening_addresses(pids: list) -> set:
    """The local addresses (IP text, without port) that these processes listen on over TCP (Linux /proc)."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:  # exited meanwhile
            continue
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                raw = bytes.fromhex(fields[1].split(":")[0])
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # /proc prints host-order words
                found.add(socket.inet_ntop(family, words))
    return found


LOOPBACK_ADDRESSES = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_serves_then_stops_cleanly_on_sigterm(pipeline_dir):
    """(SIGINT takes the same path: tests/distributed/test_serve.py sends it to run_server in process.)"""
    pytest.importorskip("ray.serve")
    from nash_index.pipeline import HashingPipeline

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = start(["--pipeline", str(pipeline_dir), "--http", f"{LOOPBACK}:{port}"], env=env)
    try:
        line = wait_ready(proc)
        url = f"http://{LOOPBACK}:{port}"
        assert url in line
        with pytest.warns(UserWarning):
            want = as_json(HashingPipeline.load(pipeline_dir).search(QUERIES, 3))
        assert search(url, {"texts": QUERIES, "k": 3}) == (200, want)
        assert request(url, "GET", "/healthz")[0] == 200
        listening = listening_addresses(session_processes(proc.pid))
        assert "127.0.0.1" in listening and listening <= LOOPBACK_ADDRESSES  # Ray's own processes included
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0, proc.stderr.read()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with pytest.raises(OSError):  # nothing listens any more
        request(url, "GET", "/healthz", timeout=5)
    deadline = time.monotonic() + 30
    while session_processes(proc.pid) and time.monotonic() < deadline:  # Ray's processes exit after the driver
        time.sleep(0.5)
    assert session_processes(proc.pid) == []


@pytest.mark.parametrize("text, want", [("127.0.0.1:8000", ("127.0.0.1", 8000)), ("[::1]:80", ("::1", 80)),
                                        ("0.0.0.0:65535", ("0.0.0.0", 65535))])
def test_host_port(text, want):
    assert host_port(text) == want


@pytest.mark.parametrize("http", ["8000", ":8000", "localhost:", "localhost:0", "localhost:70000", "h:x"])
def test_bad_http_option_is_one_line_exit_2(http, capsys):
    with pytest.raises(SystemExit) as info:
        app.main(["serve", "--pipeline", "p", "--http", http])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--http" in err and "HOST:PORT" in err


@pytest.mark.parametrize("args, message", [
    ([], "give --pipeline DIR"),
    (["--pipeline", "no/such/dir"], "pipeline: no saved pipeline directory at 'no/such/dir'"),
    (["--shards", "no/such/dir"], "pipeline: no saved pipeline directory"),
])
def test_missing_directories_are_one_line_before_ray_starts(args, message, capsys, monkeypatch):
    pytest.importorskip("ray.serve")
    monkeypatch.delenv("NASH_INDEX_DEBUG", raising=False)
    assert app.main(["serve", "--http", "127.0.0.1:8000", *args]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_a_pipeline_without_documents_is_refused(tmp_path, capsys, monkeypatch):
    pytest.importorskip("ray.serve")
    pytest.importorskip("sklearn")
    from nash_index.pipeline import HashingPipeline

    monkeypatch.delenv("NASH_INDEX_DEBUG", raising=False)
    HashingPipeline(nbits=32, hasher="lsh", verbose=False).fit(TEXTS).save(tmp_path / "p")
    assert app.main(["serve", "--pipeline", str(tmp_path / "p"), "--http", "127.0.0.1:8000"]) == 1
    assert "indexes no documents" in capsys.readouterr().err
