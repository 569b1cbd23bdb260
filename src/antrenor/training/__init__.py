"""The train stage: one module per task (sft, classify, pretrain), shared adapters, EWC, callbacks, checkpoints."""

import logging

from antrenor.kernel_caches import bound_kernel_caches

bound_kernel_caches()

# transformers imports bitsandbytes whenever it is installed; on AVX512-BF16 CPUs bitsandbytes then
# warns that an inference kernel from a hub cannot be fetched. antrenor switches that kernel path off
# (see qlora.py), so the warning only misleads: keep its errors, drop the warning.
logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
