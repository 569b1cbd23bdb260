"""Generate docs/config.md from the config models: `python -m antrenor.docs > docs/config.md`.

A test regenerates it and fails when the committed file is stale.
"""

from __future__ import annotations

from antrenor.config import describe_fields

HEADER = """# Config reference

Generated from the pydantic models by `python -m antrenor.docs > docs/config.md`; do not edit by hand.
Every key can be set in YAML (under the stage's name in a pipeline file) or with `--set key=value`;
precedence: defaults < YAML < `--set` < command-line flags.
"""


def stage_configs() -> list[type]:
    from antrenor.data.config import PrepareConfig
    from antrenor.evaluation.config import EvalConfig
    from antrenor.export.config import ExportConfig
    from antrenor.human.config import HumanCreateConfig, HumanReportConfig, HumanServeConfig
    from antrenor.monitoring.config import MonitorConfig
    from antrenor.pipeline.config import RunConfig
    from antrenor.serve.config import ServeConfig
    from antrenor.training.config import TrainConfig
    from antrenor.tuning.config import TuneConfig

    return [RunConfig, PrepareConfig, TrainConfig, EvalConfig, ExportConfig, ServeConfig, MonitorConfig, TuneConfig,
            HumanCreateConfig, HumanServeConfig, HumanReportConfig]


def config_reference_markdown() -> str:
    parts = [HEADER]
    for config_class in stage_configs():
        parts.append(f"\n## `{config_class.stage}`\n\n{(config_class.__doc__ or '').strip()}\n")
        parts.append("| key | type | default | meaning |\n|---|---|---|---|")
        for key, type_name, default, description in describe_fields(config_class):
            if type_name == "section":
                parts.append(f"| **{key}** | section | | {description} |")
            else:
                cell = type_name.replace("|", "\\|")
                parts.append(f"| `{key}` | {cell} | `{default}` | {description.replace('|', '/')} |")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(config_reference_markdown(), end="")
