"""The command line in process: argument types (nash_index.cli.args), the parser and the dispatcher
(nash_index.cli.app). The subcommands end to end: test_cli.py."""
from __future__ import annotations

import argparse
import os
from types import SimpleNamespace

import numpy as np
import pytest

import nash_index
from nash_index.cli import app, args


@pytest.mark.parametrize("text,value", [("5000", 5000), ("250k", 250_000), ("1M", 1_000_000), ("1_000", 1000),
                                        ("1.5k", 1500)])
def test_count(text, value):
    assert args.count(text) == value


@pytest.mark.parametrize("parse,text,message", [
    (args.count, "-5", "positive count"), (args.count, "abc", "positive count"),
    (args.positive_int, "0", "positive integer"), (args.positive_int, "1k", "positive integer"),
    (args.code_length, "12", "multiple of 8"), (args.fraction, "1.0", "(0, 1)"), (args.fraction, "x", "(0, 1)"),
    (args.threads, "two", "count"), (args.list_of(args.count), " , ", "comma-separated"),
])
def test_bad_values_are_argument_type_errors(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def test_lists_threads_and_code_lengths():
    assert args.list_of(args.code_length)("32, 64,128") == [32, 64, 128]
    assert args.threads("all") is None and args.threads("4") == 4
    assert args.fraction("0.25") == 0.25


def test_parser_knows_every_command_and_each_module_runs_it():
    assert list(app.COMMANDS) == ["train", "build", "search", "evaluate", "bench", "demo", "info", "shard", "serve"]
    parser = app.build_parser()
    for name, module in app.COMMANDS.items():
        assert callable(module.add_parser) and callable(module.run)
        assert parser.parse_args([name, *_required(name)]).command == name


def _required(name):
    return {"train": ["--corpus", "c", "--out", "o"], "build": ["--model", "m", "--corpus", "c", "--out", "o"],
            "search": ["--index", "i", "q"], "evaluate": ["--model", "m", "--corpus", "c"],
            "bench": [], "demo": [], "shard": ["info", "d"], "serve": ["--http", "127.0.0.1:8000"]}.get(name, [])


def test_main_version_and_user_errors(capsys, monkeypatch):
    assert app.main(["--version"]) == 0
    assert capsys.readouterr().out == f"nash_index {nash_index.__version__}\n"
    with pytest.raises(SystemExit) as exit_info:
        app.main(["frobnicate"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err

    def failing_run(parsed):
        raise args.CLIError("no model directory at 'x'")

    monkeypatch.setattr(app.COMMANDS["info"], "run", failing_run)
    assert app.main(["info"]) == 1
    assert capsys.readouterr().err == "nash-index info: error: no model directory at 'x'\n"


# ---- --threads of the commands that train (issue 15) ----------------------------------------------
@pytest.mark.parametrize("command", ["train", "demo"])
def test_threads_option_parses_counts_all_and_the_old_name(command):
    parser = app.build_parser()
    parse = lambda *extra: parser.parse_args([command, *_required(command), *extra])  # noqa: E731
    assert parse().threads is None  # the library's default
    assert parse("--threads", "3").threads == 3
    assert parse("--torch-threads", "2").threads == 2
    assert parse("--threads", "all").threads == len(os.sched_getaffinity(0))
    with pytest.raises(SystemExit):
        parse("--threads", "0")


class _Stop(Exception):
    pass


def _recording_pipeline(captured):
    class Recorder:
        def __init__(self, **kwargs):
            captured.update(kwargs)

        def fit(self, *args, **kwargs):
            raise _Stop

    return Recorder


def test_train_and_demo_pass_threads_to_the_pipeline(monkeypatch, tmp_path):
    from nash_index.cli import demo, demo_train, train

    raw = SimpleNamespace(label_names=["a"], train_texts=["x"], train_labels=np.ones((1, 1)),
                          train=SimpleNamespace(texts=["x"]))  # train reads splits, demo a RawCorpus
    captured = {}
    monkeypatch.setattr(train, "HashingPipeline", _recording_pipeline(captured))
    monkeypatch.setattr(train, "load_splits", lambda args: raw)
    monkeypatch.setattr(train, "_training_labels", lambda raw: (None, None, None))
    with pytest.raises(_Stop):
        train.run(app.build_parser().parse_args(["train", *_required("train"), "--threads", "3"]))
    assert captured["num_threads"] == 3
    captured.clear()
    monkeypatch.setattr(demo_train, "HashingPipeline", _recording_pipeline(captured))
    args = app.build_parser().parse_args(["demo", "--threads", "2", "--out", str(tmp_path)])
    with pytest.raises(_Stop):  # one length: trained in this process, where the recorder is patched in
        demo._train_nash(raw, [], np.zeros((0, 1)), [16], 16, args, {})
    assert captured["num_threads"] == 2
