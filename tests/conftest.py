"""Shared test helpers: tiny tokenizers built in memory (no download), and file writers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs 2 workers on 2 cores: each gets one thread. Two processes of 2 OpenMP threads
    # each on 2 cores spin against each other and run several times slower than one thread each.
    # Set before torch is imported; subprocesses (servers, CLI runs) inherit it.
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data" / "demo"
RESOURCES = REPO / "src" / "antrenor" / "resources"

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """A word-level fast tokenizer over a small vocabulary, with a chat template; unknown words -> [UNK]."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = "[UNK] [PAD] <|user|> <|assistant|> <|system|> <|end|> a b c d e unu doi trei patru".split()
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split("<|end|>", "isolated"),
                                                     pre_tokenizers.WhitespaceSplit()])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = 64
    return tokenizer


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory, tiny_tokenizer):
    folder = tmp_path_factory.mktemp("tiny-tokenizer")
    tiny_tokenizer.save_pretrained(folder)
    return folder


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


TINY_WORDS = "[UNK] [PAD] <|user|> <|assistant|> <|system|> <|end|> [CLS] [SEP] [MASK]".split() + [f"w{i}" for i in range(100)]


def tiny_word_tokenizer():
    """Word-level tokenizer over w0..w99 with chat roles, EOS, and BERT's special tokens."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(TINY_WORDS)}, unk_token="[UNK]"))
    specials = [pre_tokenizers.Split(s, "isolated") for s in ("<|end|>", "<|user|>", "<|assistant|>", "<|system|>")]
    backend.pre_tokenizer = pre_tokenizers.Sequence(specials + [pre_tokenizers.WhitespaceSplit()])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]", eos_token="<|end|>",
                                        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    """A 2-layer random Llama with the tiny tokenizer, saved as a normal HF folder."""
    from transformers import LlamaConfig, LlamaForCausalLM, set_seed

    set_seed(0)
    folder = tmp_path_factory.mktemp("tiny-llama")
    config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=len(TINY_WORDS), max_position_embeddings=256,
                         eos_token_id=5, pad_token_id=1, bos_token_id=None)
    LlamaForCausalLM(config).save_pretrained(folder)
    tiny_word_tokenizer().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory):
    from tokenizers import processors
    from transformers import BertConfig, BertForMaskedLM, set_seed

    set_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                        vocab_size=len(TINY_WORDS), max_position_embeddings=128, pad_token_id=1)
    BertForMaskedLM(config).save_pretrained(folder)
    tokenizer = tiny_word_tokenizer()
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 6), ("[SEP]", 7)])
    tokenizer.save_pretrained(folder)
    return folder


def prepared(tmp_path_factory, name: str, rows: list[dict]) -> Path:
    """Run `prepare` on rows; return the prepared folder."""
    from antrenor import prepare

    folder = tmp_path_factory.mktemp(name)
    source = write_jsonl(folder / "input.jsonl", rows)
    prepare({"input": [str(source)], "output": str(folder / "data"), "dedup": {"near": False}})
    return folder / "data"


@pytest.fixture(scope="session")
def sft_data(tmp_path_factory):
    import random

    rng = random.Random(0)
    rows = [{"instruction": " ".join(f"w{rng.randrange(100)}" for _ in range(6)), "output": f"w{i % 7} w{i % 5} w3"}
            for i in range(60)]
    return prepared(tmp_path_factory, "sft", rows)


@pytest.fixture(scope="session")
def classification_data(tmp_path_factory):
    import random

    rng = random.Random(1)
    rows = []
    for i in range(90):
        label = ["a", "b", "c"][i % 3]
        marker = {"a": "w1 w2", "b": "w3 w4", "c": "w5 w6"}[label]
        rows.append({"text": f"{marker} " + " ".join(f"w{rng.randrange(10, 100)}" for _ in range(5)), "label": label})
    return prepared(tmp_path_factory, "cls", rows)


@pytest.fixture(scope="session")
def text_data(tmp_path_factory):
    import random

    rng = random.Random(2)
    rows = [{"text": " ".join(f"w{rng.randrange(20)}" for _ in range(rng.randrange(5, 60)))} for _ in range(50)]
    return prepared(tmp_path_factory, "text", rows)
