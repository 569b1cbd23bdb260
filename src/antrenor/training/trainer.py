"""The Trainer, extended only where transformers asks for it (compute_loss, log).

- Causal LM loss from the logits of labelled positions only: the 49K-vocabulary output
  head runs on the answer tokens, not on every position, which saves most of the memory
  and time of the loss (fp32 logits for 8 x 512 positions alone are 800 MB); in training
  and in validation (prediction_step). The standard
  path is kept for prompt tuning (peft prepends virtual tokens in its own forward) and for
  multi-process runs (DDP synchronizes gradients through the wrapped forward).
- The EWC penalty, when configured.
- A non-finite loss stops training at once: the last saved checkpoint stays the last good one.
- Logged figures gain perplexity (LM tasks) and real (non-padding) tokens per second.
- The attention used while training (`attention.py`): on CPU, eager attention recomputed in the
  backward pass; the model's own is restored afterwards.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F
from peft.helpers import disable_input_dtype_casting
from transformers import Trainer

from antrenor.errors import AntrenorError
from antrenor.training.attention import attention_for_training


class NonFiniteLoss(AntrenorError):
    pass


class AntrenorTrainer(Trainer):
    def __init__(self, *args: Any, selective_loss: bool = False, ewc: Any = None, language_model: bool = False,
                 attn_implementation: str = "auto", **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.attn_implementation = attn_implementation
        self.selective_loss = selective_loss
        self.ewc = ewc
        self.language_model = language_model
        self.loss_is_scaled_for_ga = False  # compute_loss returns a per-micro-batch mean
        self._counted_tokens = 0
        self._tokens_since, self._time_since = 0, time.perf_counter()

    def train(self, *args: Any, **kwargs: Any) -> Any:
        with attention_for_training(self.model, self.attn_implementation):
            return super().train(*args, **kwargs)

    @property
    def real_tokens(self) -> int:
        """Non-padding tokens trained on so far (the collator counts them when it can)."""
        return getattr(self.data_collator, "real_tokens", self._counted_tokens)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if model.training and not hasattr(self.data_collator, "real_tokens"):
            mask = inputs.get("attention_mask")
            self._counted_tokens += int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
        use_selective = (self.selective_loss and model.training and not return_outputs
                         and "labels" in inputs and self.accelerator.num_processes == 1)
        if use_selective:
            unwrapped = self.accelerator.unwrap_model(model)
            # Calling the decoder directly bypasses the autocast accelerate wraps around forward(). Under bf16
            # autocast peft's cast of each adapted layer's input to the adapter's fp32 only adds a copy that is
            # saved for the backward pass (autocast casts it back to bf16 for the matmul): 0.2 GB on SmolLM2.
            with self.accelerator.autocast(), disable_input_dtype_casting(unwrapped, active=self.args.bf16):
                loss, outputs = labelled_positions_loss(unwrapped, inputs), None
        else:
            loss, outputs = super().compute_loss(model, inputs, return_outputs=True, num_items_in_batch=None)
        if self.ewc is not None and model.training:
            loss = loss + self.ewc(model)
        if model.training and not torch.isfinite(loss.detach()).all() and _nothing_labelled(inputs):
            # a batch with no labelled position (an MLM batch where no token was masked) has no loss: 0/0 is
            # not a divergence, so it counts as 0 and training goes on
            loss = sum(p.sum() for p in model.parameters() if p.requires_grad) * 0.0
        if model.training and not torch.isfinite(loss.detach()).all():
            raise NonFiniteLoss(
                f"the loss became {loss.item()} at step {self.state.global_step + 1}; training stopped",
                problems=["the last saved checkpoint is the last good one (resume with --resume)",
                          "lower lr, check the data for extreme values, or keep max_grad_norm"])
        return (loss, outputs) if return_outputs else loss

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """Validation of a language model: the loss from the answer positions' logits only. Nothing reads the
        logits of an LM evaluation (no compute_metrics), yet the standard step computes the output head on every
        position and keeps them: for Gemma's 262K-word head, 9 s of each 32-example validation here."""
        if (self.selective_loss and (prediction_loss_only or self.compute_metrics is None)
                and "labels" in inputs and self.accelerator.num_processes == 1):
            inputs = self._prepare_inputs(inputs)
            unwrapped = self.accelerator.unwrap_model(model)
            with torch.no_grad(), self.accelerator.autocast():
                loss = labelled_positions_loss(unwrapped, inputs)
            return loss.detach(), None, None
        return super().prediction_step(model, inputs, prediction_loss_only, ignore_keys=ignore_keys)

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if self.language_model and "eval_loss" in logs:
            logs["eval_perplexity"] = math.exp(min(logs["eval_loss"], 50.0))
        if "loss" in logs:
            now = time.perf_counter()
            logs["tokens_per_second"] = round((self.real_tokens - self._tokens_since) / max(1e-9, now - self._time_since), 1)
            self._tokens_since, self._time_since = self.real_tokens, now
        super().log(logs, *args, **kwargs)


def labelled_positions_loss(model: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token cross-entropy over labelled positions, computing logits for those only."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder, head = causal.get_decoder(), causal.get_output_embeddings()
    labels = inputs["labels"]
    forward = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "position_ids")}
    # use_cache=False matters: with a cache, transformers does not detect packed rows and
    # packed examples would attend to each other.
    hidden = decoder(**forward, use_cache=False).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    keep = targets != -100
    logits = head(hidden[keep]).float()
    softcap = getattr(causal.config, "final_logit_softcapping", None)
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return F.cross_entropy(logits, targets[keep])


def _nothing_labelled(inputs: dict[str, Any]) -> bool:
    labels = inputs.get("labels")
    return labels is not None and not bool((labels != -100).any())
