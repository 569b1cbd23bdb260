from pathlib import Path

import pytest

from antrenor.config import describe_fields, load_config
from antrenor.data.config import PrepareConfig
from antrenor.errors import ConfigError

BASE = {"input": ["a.jsonl"], "output": "out"}


def test_precedence_defaults_yaml_set_flags(tmp_path: Path):
    config_file = tmp_path / "c.yaml"
    config_file.write_text("input: [a.jsonl]\noutput: out\nseed: 1\ndedup:\n  threshold: 0.7\n  ngram: 4\n")
    cfg = load_config(PrepareConfig, config_file, ["seed=2", "dedup.threshold=0.9"], {"seed": 3})
    assert cfg.seed == 3  # flag beats --set beats YAML
    assert cfg.dedup.threshold == 0.9  # --set beats YAML
    assert cfg.dedup.ngram == 4  # YAML beats default, sibling keys survive the merge
    assert cfg.dedup.num_perm == 128  # default


def test_pipeline_yaml_section_is_used(tmp_path: Path):
    config_file = tmp_path / "pipeline.yaml"
    config_file.write_text("prepare:\n  input: data.jsonl\n  output: out\n  seed: 5\ntrain:\n  epochs: 3\n")
    cfg = load_config(PrepareConfig, config_file)
    assert cfg.input == ["data.jsonl"] and cfg.seed == 5


def test_unknown_keys_get_did_you_mean_and_all_problems_come_at_once():
    with pytest.raises(ConfigError) as caught:
        load_config(PrepareConfig, overrides=["sed=3", "dedup.treshold=0.5", "split.test=2"], flags=BASE)
    problems = caught.value.problems
    assert any("'sed'" in p and "did you mean 'seed'" in p for p in problems)
    assert any("dedup.treshold" in p and "did you mean 'dedup.threshold'" in p for p in problems)
    assert any(p.startswith("split.test") for p in problems)
    assert len(problems) == 3
    assert caught.value.exit_code == 2


def test_invalid_yaml_names_file_and_line(tmp_path: Path):
    config_file = tmp_path / "bad.yaml"
    config_file.write_text("input: [a.jsonl]\noutput: out\nseed: [1, 2\n")
    with pytest.raises(ConfigError) as caught:
        load_config(PrepareConfig, config_file)
    assert f"{config_file}:" in str(caught.value) and "invalid YAML" in str(caught.value)


def test_missing_config_file_and_malformed_override_reported_together(tmp_path: Path):
    with pytest.raises(ConfigError) as caught:
        load_config(PrepareConfig, tmp_path / "nope.yaml", ["novalue"], BASE)
    assert len(caught.value.problems) == 2


def test_cross_field_rules():
    with pytest.raises(ConfigError, match="leaves nothing for train"):
        load_config(PrepareConfig, overrides=["split.validation=0.5", "split.test=0.5"], flags=BASE)
    with pytest.raises(ConfigError, match="needs --model"):
        load_config(PrepareConfig, overrides=["filters.max_length=128"], flags=BASE)
    with pytest.raises(ConfigError, match="use drop"):
        load_config(PrepareConfig, overrides=["filters.too_long=truncate", "kind=chat"], flags=BASE)


def test_doubtful_settings_are_warned_not_refused():
    cfg = load_config(PrepareConfig, overrides=["dedup.threshold=0.3"], flags=BASE)
    assert any("dedup.threshold" in doubt for doubt in cfg.doubts())
    assert load_config(PrepareConfig, flags=BASE).doubts() == []


def test_fix_cedilla_follows_lang_unless_set():
    assert load_config(PrepareConfig, flags=BASE).fix_cedilla is True
    assert load_config(PrepareConfig, flags={**BASE, "lang": "tr"}).fix_cedilla is False
    assert load_config(PrepareConfig, overrides=["normalize.fix_cedilla=true"], flags={**BASE, "lang": "en"}).fix_cedilla


def test_describe_fields_covers_nested_keys():
    keys = [row[0] for row in describe_fields(PrepareConfig)]
    assert "dedup.threshold" in keys and "split.validation" in keys and "input" in keys


def test_lr_and_epoch_doubts_allow_more_for_compact_models():
    from antrenor.training.config import TrainConfig

    keys = {"data": "d", "output": "o", "task": "classification", "method": "full", "lr": 2e-4, "epochs": 8}
    assert TrainConfig(model="minilm-l6", **keys).doubts() == []  # 22.7M parameters
    large = TrainConfig(model="xlm-roberta-base", **keys).doubts()
    assert any("lr 0.0002 is outside 1e-5..5e-5" in d for d in large) and any("8 epochs" in d for d in large)
    assert any("more than 10" in d for d in TrainConfig(model="minilm-l6", **{**keys, "epochs": 12}).doubts())
