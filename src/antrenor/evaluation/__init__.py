"""The eval stage: metrics, robustness, out-of-distribution checks, forgetting, and the report."""

from antrenor.kernel_caches import bound_kernel_caches

bound_kernel_caches()
