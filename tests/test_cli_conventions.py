"""Flags mean the same in every command, and every command prints its resolved settings with --print-config."""
from __future__ import annotations

import yaml
import pytest

from common.cli import OUTPUT_FLAGS, build_parser, leaf_parsers
from common.config import load_config
from dataprep import cli as dataprep_cli
from pipeline import cli as pretrain_cli

ENTRY_POINTS = {
    "dataprep": (dataprep_cli.COMMANDS, dataprep_cli.add_builtin_parsers, dataprep_cli.BUILTIN),
    "pretrain": (pretrain_cli.COMMANDS, None, ()),
}


def all_leaves():
    leaves = {}
    for prog, (commands, builtin, names) in ENTRY_POINTS.items():
        parser, unavailable = build_parser(prog, "", commands, [], builtin, names)
        assert not unavailable
        leaves.update({f"{prog} {path}": leaf for path, leaf in leaf_parsers(parser).items()})
    return leaves


def test_every_command_has_print_config_and_one_output_spelling():
    leaves = all_leaves()
    assert {"dataprep run", "dataprep tokenizer eval", "dataprep export-megatron", "pretrain export-hf",
            "pretrain consolidate"} <= set(leaves)
    outputs = 0
    for name, leaf in leaves.items():
        flags = leaf._option_string_actions
        assert "--print-config" in flags, name
        spelled = [f for f in OUTPUT_FLAGS if f in flags]
        if spelled:
            outputs += 1
            assert spelled == list(OUTPUT_FLAGS) and len({id(flags[f]) for f in spelled}) == 1, name
            assert flags["--output"].option_strings[:2] == ["-o", "--output"], name    # the spelling --help shows
    assert outputs >= 9


def test_old_spellings_are_aliases():
    parser, _ = build_parser("pretrain", "", pretrain_cli.COMMANDS, ["export-hf"])
    for flag in OUTPUT_FLAGS:
        assert parser.parse_args(["export-hf", "--weights", "w", flag, "x"]).out == "x"
    parser, _ = build_parser("dataprep", "", dataprep_cli.COMMANDS, ["tokenizer"])
    for flag in ("--tokenizer", "--model"):
        args = parser.parse_args(["tokenizer", "export-hf", flag, "tok"])
        assert args.tokenizer == "tok" and args.output is None


def print_config(main, argv, capsys):
    assert main([*argv, "--print-config"]) == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_print_config_expands_defaults_and_reproduces_the_config(capsys, tmp_path):
    from dataprep.config import DataConfig
    from pipeline.config import TrainConfig

    data = print_config(dataprep_cli.main, ["run", "--config", "configs/data/sample.yaml", "-o", "x", "num_workers=3"],
                        capsys)
    assert data["output"] == "x" and data["num_workers"] == 3 and data["minhash"]["threshold"] == 0.5
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_config(DataConfig, tmp_path / "data.yaml") == load_config(
        DataConfig, "configs/data/sample.yaml", ["output=x", "num_workers=3"])

    train = print_config(pretrain_cli.main, ["train", "--config", "configs/train/tiny_cpu.yaml", "train.steps=7"], capsys)
    assert train["train"]["steps"] == 7 and train["model"]["n_layers"] > 0    # the included model preset, expanded
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(train), encoding="utf-8")
    assert load_config(TrainConfig, tmp_path / "train.yaml") == load_config(
        TrainConfig, "configs/train/tiny_cpu.yaml", ["train.steps=7"])

    pack = print_config(dataprep_cli.main, ["pack", "--config", "configs/tokenizer/pack.yaml", "--input", "a",
                                            "--tokenizer", "tok", "-o", "p"], capsys)
    assert (pack["inputs"], pack["tokenizer"], pack["output"]) == (["a"], "tok", "p") and "validation_ratio" in pack
    tok = print_config(dataprep_cli.main, ["tokenizer", "train", "--input", "a", "-o", "t", "vocab_size=1000"], capsys)
    assert tok["vocab_size"] == 1000 and "character_coverage" in tok


@pytest.mark.parametrize("argv", [["plan", "--model", "configs/model/7b.yaml", "--gpus", "8"],
                                  ["consolidate", "run", "--out", "m"]])
def test_commands_without_a_config_print_their_arguments(argv, capsys):
    settings = print_config(pretrain_cli.main, argv, capsys)
    assert settings.get("gpus") == 8 and settings["zero"] == 1 if argv[0] == "plan" else settings["output"] == "m"
