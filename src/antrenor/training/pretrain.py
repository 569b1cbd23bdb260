"""Tasks `clm` and `mlm`: continued (domain-adaptive) pre-training on raw text.

Documents are tokenized, closed with EOS (clm), and cut into chunks of at most max_length
tokens; nothing is thrown away. With packing, chunks are packed into rows without attention
across them (see packing.py); otherwise they are padded per batch.
"""

from __future__ import annotations

from typing import Any

KINDS = ("text",)
HEADS = {"clm": "causal-lm", "mlm": "masked-lm"}


def build_features(records: list[dict[str, Any]], task: str, tokenizer: Any, max_length: int) -> tuple[list[dict[str, list[int]]], int]:
    """Chunks of every document; the count of documents that needed more than one chunk."""
    features, split_documents = [], 0
    texts = [record["text"] for record in records]
    if task == "mlm":
        # Fast tokenizers cut long texts into several max_length windows, each with its special tokens.
        encoded = tokenizer(texts, truncation=True, max_length=max_length, return_overflowing_tokens=True)
        chunks_per_text: dict[int, int] = {}
        for ids, origin in zip(encoded["input_ids"], encoded["overflow_to_sample_mapping"]):
            features.append({"input_ids": ids})
            chunks_per_text[origin] = chunks_per_text.get(origin, 0) + 1
        return features, sum(1 for n in chunks_per_text.values() if n > 1)
    encoded = tokenizer(texts, add_special_tokens=True)["input_ids"]
    for ids in encoded:
        if tokenizer.eos_token_id is not None:
            ids = ids + [tokenizer.eos_token_id]
        chunks = [ids[i : i + max_length] for i in range(0, len(ids), max_length)]
        split_documents += len(chunks) > 1
        features.extend({"input_ids": chunk, "labels": list(chunk)} for chunk in chunks if len(chunk) > 1)
    return features, split_documents
