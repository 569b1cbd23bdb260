"""The train stage: one module per task (sft, classify, pretrain), shared adapters, EWC, callbacks, checkpoints."""
