"""The `train` stage's config: short, flat keys, the same in YAML and `--set`.

Defaults follow practice for each method: lr 2e-5 for full fine-tuning, 1e-4 for LoRA-style
adapters (set when `lr` is left out), effective batch 16 reached by gradient accumulation.
"""

from __future__ import annotations

import keyword
import os
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from antrenor.config import StageConfig, StrictModel
from antrenor.models.memory import DEFAULT_LORA_RANK
from antrenor.models.registry import REGISTRY
from antrenor.training.rl_config import RL_ALGORITHMS, RLConfig

Task = Literal["sft", "classification", "clm", "mlm", "reward", "preference", "rl"]
Method = Literal["full", "lora", "qlora", "ia3", "prompt", "freeze"]
TASK_KINDS = {
    "sft": ("instruction", "chat", "completion"),
    "classification": ("classification", "pairs"),
    "clm": ("text",),
    "mlm": ("text",),
    "reward": ("preference",),
    "preference": ("preference", "feedback"),
    "rl": ("instruction", "chat", "completion", "preference"),  # prompts; their answers serve as references
}
CHAT_TASKS = ("sft", "reward", "preference", "rl")  # the tasks that render records with the chat template
TRL_TASKS = ("reward", "preference", "rl")  # trained with TRL's trainers (training/preference.py)
PREFERENCE_ALGORITHMS = ("dpo", "ipo", "simpo", "orpo", "kto")
DEFAULT_BETA = {"dpo": 0.1, "ipo": 0.1, "simpo": 2.0, "orpo": 0.1, "kto": 0.1}  # TRL's and the papers' defaults
DEFAULT_LR = {"full": 2e-5, "freeze": 5e-5, "lora": 1e-4, "qlora": 1e-4, "ia3": 3e-3, "prompt": 3e-3}
# the words TrainingArguments.fsdp accepts (transformers FSDPOption)
FSDP_OPTIONS = ("full_shard", "shard_grad_op", "hybrid_shard", "hybrid_shard_zero2", "no_shard", "offload", "auto_wrap")


class LoraConfig(StrictModel):
    """LoRA / QLoRA adapter settings (peft)."""

    r: int = Field(DEFAULT_LORA_RANK, ge=1, le=1024, description="Rank of the update matrices.")
    alpha: int = Field(32, ge=1, description="Scaling numerator: the update is scaled by alpha/r (alpha/sqrt(r) with rslora).")
    dropout: float = Field(
        0.0, ge=0.0, lt=1.0,
        description="Dropout on the adapter input. Off by default: on CPU, 0.05 cost 20 % of the speed and 2 GB "
        "(docs/benchmarks.md); raise it if a small dataset overfits.")
    target_modules: list[str] | str | None = Field(
        None, description="Module names to adapt; default: every linear layer of the architecture except the output head."
    )
    rslora: bool = Field(False, description="Rank-stabilized scaling alpha/sqrt(r): better at high ranks.")
    dora: bool = Field(False, description="Weight-decomposed LoRA (DoRA): often better quality, slower steps.")


class FreezeConfig(StrictModel):
    """For method `freeze`: what stays trainable."""

    top_layers: int = Field(2, ge=0, description="Train only the top N transformer layers (plus the head).")
    modules: list[str] = Field(default_factory=list, description="Also train parameters whose name contains one of these.")


class PromptConfig(StrictModel):
    """For method `prompt`: prompt tuning."""

    virtual_tokens: int = Field(20, ge=1, le=512, description="Number of trainable virtual tokens prepended to the input.")


class EwcConfig(StrictModel):
    """Elastic weight consolidation: pull weights that matter for general text back to their start."""

    weight: float = Field(0.0, ge=0.0, description="Penalty strength lambda; 0 turns EWC off.")
    reference: str | None = Field(None, description="Text file (one sample a line) for the Fisher estimate; default: the shipped general Romanian text.")
    samples: int = Field(64, ge=1, description="Reference samples used to estimate the Fisher diagonal.")


class ReplayConfig(StrictModel):
    """Replay: mix general text into training so the model keeps its general language ability."""

    fraction: float = Field(0.0, ge=0.0, lt=1.0, description="Share of training examples drawn from the reference text.")
    reference: str | None = Field(None, description="Text file (one sample a line); default: the shipped general Romanian text.")


class PreferenceConfig(StrictModel):
    """For task `preference`: the algorithm and its strength (TRL's trainers)."""

    algorithm: Literal["dpo", "ipo", "simpo", "orpo", "kto"] = Field(
        "dpo", description="dpo, ipo (reference model: the base with the adapter off), simpo, orpo (reference-free), "
        "kto (good/bad examples; pairs are split). `method: dpo` etc. is short for this with method lora.")
    beta: float | None = Field(None, gt=0, description="Strength of the pull towards the reference (DPO/IPO/KTO), SimPO's "
                               "reward scale, ORPO's odds-ratio weight; default: 0.1 (SimPO 2.0).")
    simpo_gamma: float = Field(0.5, ge=0, description="SimPO's target reward margin.")

    @property
    def resolved_beta(self) -> float:
        return self.beta if self.beta is not None else DEFAULT_BETA[self.algorithm]


class TrainConfig(StageConfig):
    """`antrenor train`: fine-tune a model on a prepared data folder."""

    stage: ClassVar[str] = "train"

    data: str = Field(..., description="A folder written by `antrenor prepare`.")
    model: str = Field(..., description="Model alias, hub id or local folder.")
    task: Task = Field("sft", description="sft (instruction/chat), classification, clm (continued pre-training), mlm, "
                       "reward (a reward model), preference (DPO/IPO/SimPO/ORPO/KTO), rl (GRPO).")
    method: Method = Field("lora", description="full, lora, qlora, ia3, prompt or freeze. Left out: chosen by model and "
                           "task (full for encoder classifiers up to 350M parameters, LoRA otherwise; training/defaults.py).")
    output: str = Field(..., description="Output folder: the model or adapter, checkpoints and reports.")
    overwrite: bool = Field(False, description="Write into an output folder that holds another stage's results, "
                            "other inputs' results or files antrenor did not write (docs/output-folders.md); "
                            "only this stage's files are replaced, nothing else is deleted.")

    epochs: float = Field(1.0, gt=0, description="Passes over the training data. Left out: by data size (5 under 10,000 "
                          "examples, else 3), with early stopping on validation.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps (overrides epochs).")
    lr: float | None = Field(None, gt=0, description="Peak learning rate. Left out: by method and model size (full classifiers: "
                             "1e-4 under 50M parameters, 5e-5 under 200M, else 2e-5; LoRA: 3e-4 up to 1B, 2e-4 up to 10B, "
                             "else 1e-4); 2e-5 full / 1e-4 LoRA when the size cannot be read.")
    validation: bool = Field(True, description="When the data has no validation split, hold out 10 % of train (16..300 "
                             "records) to stop early and keep the best checkpoint; false trains on every record.")
    head_init: Literal["probe", "random"] = Field(
        "probe", description="classification: start the new head from a logistic-regression probe fitted on the frozen "
        "model's features for the training split (linear probing, then fine-tuning), or from random weights.")
    batch_size: int | None = Field(
        None, ge=1, description="Examples per device per forward pass (micro-batch); default: 1 for sft/clm on CPU "
        "(fastest and a third of the memory of 8 there, docs/benchmarks.md), else 8.")
    effective_batch_size: int = Field(16, ge=1, description="Examples per optimizer step; reached with gradient accumulation.")
    max_length: int = Field(512, ge=8, description="Tokens per example (or per packed row).")
    chat_template_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra variables for the chat template, e.g. {enable_thinking: false} for "
        "Qwen3 (answers trained after the empty think block the template writes for thinking off). Used for the "
        "training features and the template check, and saved into the model's chat template as defaults, so that "
        "eval, serve and export render prompts the same way.")
    warmup_ratio: float = Field(0.05, ge=0.0, lt=1.0, description="Share of steps with a linear warm-up.")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping.")
    scheduler: Literal["cosine", "linear", "constant"] = Field("cosine", description="Learning-rate schedule after warm-up.")
    seed: int = Field(42, description="Seed for initialization, data order and dropout.")

    eval_steps: int | None = Field(None, ge=1, description="Evaluate every N steps; default: a few times per epoch.")
    save_steps: int | None = Field(None, ge=1, description="Checkpoint every N steps; default: at each evaluation.")
    keep_checkpoints: int = Field(2, ge=1, description="Keep the last K checkpoints (the best is always kept).")
    early_stopping_patience: int | None = Field(None, ge=1, description="Stop after N evaluations without improvement.")
    metric: str | None = Field(None, description="Validation metric that picks the best checkpoint; default: eval_loss (accuracy for classification).")

    packing: bool = Field(True, description="sft/clm: pack several examples per row, without attention across them.")
    bf16: bool | None = Field(None, description="bf16 autocast; default: on when the CPU/GPU supports it.")
    attn_implementation: Literal["auto", "recompute", "sdpa", "eager"] = Field(
        "auto", description="Attention while training. auto: on CPU, eager attention whose probabilities are recomputed in "
        "the backward pass (recompute: about 10 % faster than sdpa at the same memory, docs/benchmarks.md) for models without "
        "attention dropout; the model's own otherwise. Saved models keep their own.")
    compile: bool = Field(
        False, description="torch.compile the model's transformer body (fuses the elementwise work between matmuls): "
        "+17-24 % tokens/s for SmolLM2 LoRA on 2 CPU cores, after about 5 minutes of compiling and with +0.6 GB of memory; "
        "pays off beyond a few hundred optimizer steps (docs/benchmarks.md).")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in the backward pass: less memory, ~30% slower.")
    resume: bool = Field(False, description="Continue from the last complete checkpoint in output/checkpoints.")
    trust_remote_code: bool = Field(False, description="Run model code shipped with a hub model (only for models you trust).")
    allow_pickle: bool = Field(False, description="Allow loading .bin (pickle) weights; safetensors only by default.")
    deepspeed: str | None = Field(
        None, description="DeepSpeed JSON config (ZeRO-2/3, offload), e.g. examples/scale-out/deepspeed-zero2.json; "
        "needs the deepspeed package and several processes (docs/scale-out.md).")
    fsdp: str | None = Field(
        None, description="PyTorch FSDP, as TrainingArguments.fsdp takes it, e.g. 'full_shard auto_wrap' "
        "('offload' adds CPU offload); needs several processes (docs/scale-out.md).")
    fsdp_config: str | None = Field(
        None, description="FSDP settings file (JSON or YAML), e.g. examples/scale-out/fsdp.json; only with fsdp.")

    lora: LoraConfig = Field(default_factory=LoraConfig, description="LoRA/QLoRA settings.")
    freeze: FreezeConfig = Field(default_factory=FreezeConfig, description="Layer freezing settings.")
    prompt: PromptConfig = Field(default_factory=PromptConfig, description="Prompt tuning settings.")
    ewc: EwcConfig = Field(default_factory=EwcConfig, description="Elastic weight consolidation.")
    replay: ReplayConfig = Field(default_factory=ReplayConfig, description="Replay of general text.")
    preference: PreferenceConfig = Field(default_factory=PreferenceConfig, description="Preference tuning (task preference).")
    rl: RLConfig = Field(default_factory=RLConfig, description="Online RL with GRPO and declared rewards (task rl).")
    report_to: list[Literal["tensorboard", "wandb", "mlflow"]] = Field(
        default_factory=lambda: ["tensorboard"], description="Experiment trackers (W&B and MLflow honour their offline modes).")

    @model_validator(mode="before")
    @classmethod
    def _algorithm_as_method(cls, data: Any) -> Any:
        """`method: dpo` (the CLI's --method dpo) means task preference's algorithm dpo, trained with LoRA;
        `method: grpo` means task rl's algorithm grpo, with LoRA."""
        if not isinstance(data, dict):
            return data
        for task, algorithms in (("preference", PREFERENCE_ALGORITHMS), ("rl", RL_ALGORITHMS)):
            if data.get("method") in algorithms:
                if data.get("task") not in (None, task):
                    raise ValueError(f"method {data['method']} is a{'n' if task == 'rl' else ''} {task} algorithm: "
                                     f"use it with task {task}")
                settings = dict(data.get(task) or {})
                settings["algorithm"] = data["method"]
                data = {**data, "task": task, "method": "lora", task: settings}
        return data

    @model_validator(mode="after")
    def _check_combinations(self) -> "TrainConfig":
        if self.batch_size and self.effective_batch_size % self.batch_size:
            raise ValueError(f"effective_batch_size {self.effective_batch_size} must be a multiple of batch_size {self.batch_size}")
        if self.task == "mlm" and self.method in ("prompt", "qlora"):
            raise ValueError(f"method {self.method} is not supported for mlm; use full, lora, ia3 or freeze")
        if self.task in TRL_TASKS and self.method in ("prompt", "ia3", "qlora"):
            raise ValueError(f"method {self.method} is not supported for task {self.task}: use lora, full or freeze")
        if self.task == "rl":
            self._check_rl()
        if self.chat_template_kwargs:
            self._check_chat_template_kwargs()
        if self.replay.fraction and self.task not in ("sft", "clm"):
            raise ValueError("replay mixes general text into language-model training: use it with task sft or clm")
        return self

    def _check_chat_template_kwargs(self) -> None:
        if self.task not in CHAT_TASKS:
            raise ValueError(f"chat_template_kwargs are read by the chat template, which task {self.task} does not "
                             f"use: set them with task {', '.join(CHAT_TASKS)}")
        names = [name for name in self.chat_template_kwargs if not name.isidentifier() or keyword.iskeyword(name)]
        if names:
            raise ValueError(f"chat_template_kwargs {', '.join(map(repr, names))}: a template variable is a name "
                             "like enable_thinking (letters, digits, underscores)")

    def _check_rl(self) -> None:
        if not self.rl.rewards:
            raise ValueError("task rl needs at least one reward under rl.rewards, e.g. {type: model, model: DIR} (a "
                             "`train --task reward` output), {type: length, max: 40}, {type: regex, pattern: ...}, "
                             "{type: reference}; or --reward-model DIR on the command line")
        group = self.rl.num_generations
        if self.effective_batch_size % group:
            raise ValueError(f"task rl: effective_batch_size {self.effective_batch_size} counts completions and must be "
                             f"a multiple of rl.num_generations {group} (each prompt's group is scored together)")

    @model_validator(mode="after")
    def _check_sharding(self) -> "TrainConfig":
        problems = []
        if self.deepspeed and self.fsdp:
            problems.append("deepspeed and fsdp both shard the model across processes: set one of them")
        if self.fsdp and self.method == "qlora":
            problems.append("fsdp cannot shard method qlora: FSDP flattens parameters into tensors of one dtype, while "
                            "the 4-bit base keeps uint8 weights with their quantization state beside them; use method "
                            "lora with fsdp, or qlora with plain DDP (--launcher accelerate without fsdp)")
        unknown = [word for word in (self.fsdp or "").split() if word not in FSDP_OPTIONS]
        if unknown:
            problems.append(f"fsdp {' '.join(unknown)!r}: unknown option; use words from {', '.join(FSDP_OPTIONS)}")
        if self.fsdp_config and not self.fsdp:
            problems.append("fsdp_config is read only with fsdp: also set fsdp, e.g. fsdp='full_shard auto_wrap'")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.method]

    def doubts(self) -> list[str]:
        doubts = []
        lr = self.learning_rate
        # Compact models (registry entries under 50M parameters, e.g. minilm-l6) take larger steps and more
        # epochs: on the demo classifier, full fine-tuning of MiniLM at 1e-4 for 5 epochs only matched a linear
        # probe (71 %), at 2e-4 for 8 epochs it beat it (79 %).
        entry = REGISTRY.get(self.model)
        compact = entry is not None and entry.params_millions < 50
        full_high, most_epochs = (3e-4, 10) if compact else (5e-5, 5)
        shown_high = "3e-4" if compact else "5e-5"
        if self.method == "full" and not 1e-5 <= lr <= full_high:
            doubts.append(f"lr {lr:g} is outside 1e-5..{shown_high}, the usual range for full fine-tuning"
                          f"{' of a compact model' if compact else ''}: expect instability or slow learning")
        if self.method in ("lora", "qlora") and not 5e-5 <= lr <= 5e-4:
            doubts.append(f"lr {lr:g} is outside 5e-5..5e-4, the usual range for LoRA")
        if self.epochs > most_epochs and self.max_steps is None:
            doubts.append(f"{self.epochs:g} epochs: fine-tuning rarely needs more than {most_epochs}; "
                          "watch the validation loss for overfitting")
        if not 4 <= self.effective_batch_size <= 256:
            doubts.append(f"effective_batch_size {self.effective_batch_size} is outside 4..256: "
                          "gradient estimates are noisy, or there are few optimizer steps")
        sharding = "deepspeed" if self.deepspeed else "fsdp" if self.fsdp else None
        if sharding and int(os.environ.get("WORLD_SIZE", "1")) < 2:
            doubts.append(f"{sharding} in a single process shards nothing (only offloading can help): launch several "
                          "with antrenor train --launcher accelerate --num-processes N")
        return doubts
