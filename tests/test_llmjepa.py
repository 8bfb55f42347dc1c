"""LLM-JEPA: packing of view pairs for a causal LM, the text-pair files, and a run on a tiny GPT-2 folder."""

from __future__ import annotations

import json

import pytest
import torch
from cli_process import run_cli

from openjepa.core.errors import DataError
from openjepa.data.text_pairs import read_text_pairs
from openjepa.methods.llmjepa import last_real, real_first, with_ends

PAIRS = [(f"add {a} and {b}", f"{a}+{b}") for a in ("one", "two", "three", "four", "five")
         for b in ("six", "seven", "eight", "nine")]


def test_real_entries_move_to_the_front_in_order_and_empty_columns_go():
    ids = torch.tensor([[5, -1, 6, -1], [-1, -1, -1, 8]])
    packed, real = real_first(ids, ids >= 0)
    assert packed.tolist() == [[5, 6], [8, -1]] and real.tolist() == [[True, True], [True, False]]


def test_views_get_their_begin_and_end_ids_around_their_tokens():
    ids = torch.tensor([[5, 6, -1], [7, -1, -1]])
    assert with_ends(ids, 1, 2).tolist() == [[1, 5, 6, 2], [1, 7, 2, -1]]
    assert with_ends(ids, None, None).tolist() == ids.tolist()
    hidden = torch.arange(8.0).view(2, 4, 1)
    assert last_real(hidden, with_ends(ids, 1, 2) >= 0)[:, 0].tolist() == [3.0, 6.0]


def test_text_pair_files_are_read_and_bad_lines_named(tmp_path):
    good = tmp_path / "pairs.jsonl"
    good.write_text("\n".join(json.dumps({"text": a, "code": b}) for a, b in PAIRS[:3]) + "\n\n")
    pairs = read_text_pairs(good, ("text", "code"))
    assert pairs.first[0] == "add one and six" and pairs.second[2] == "one+eight" and len(pairs) == 3
    table = tmp_path / "pairs.tsv"
    table.write_text("question\tsql\nhow many cats\tSELECT COUNT(*) FROM cats\n")
    assert read_text_pairs(table, ("question", "sql")).second == ["SELECT COUNT(*) FROM cats"]
    for name, content, fields, expected in (
        ("a.jsonl", '{"text": "x", "code": "y"}\nnot json\n', ("text", "code"), "line 2: not JSON"),
        ("b.jsonl", '{"text": "x"}\n', ("text", "code"), "line 1: no text for 'code'"),
        ("c.csv", "text,sql\nx,y\n", ("text", "code"), "the header lacks code"),
        ("d.txt", "x", ("text", "code"), "ending in .jsonl, .csv, .tsv"),
    ):
        (tmp_path / name).write_text(content)
        with pytest.raises(DataError, match=expected) as err:
            read_text_pairs(tmp_path / name, fields)
        assert "\n" not in str(err.value)


def write_tiny_gpt2(folder, texts):
    """A 1-layer GPT-2 and a byte-level BPE learnt on ``texts``, saved as transformers folders are."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<bos>", "<eos>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>", bos_token="<bos>",
                                        eos_token="<eos>")
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=2, n_positions=64,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    GPT2LMHeadModel(config).save_pretrained(folder)


def test_llmjepa_fine_tunes_a_language_model_folder_and_evaluates_view_prediction(tmp_path):
    pytest.importorskip("transformers")
    model = tmp_path / "gpt2"
    write_tiny_gpt2(model, [t for pair in PAIRS for t in pair])
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(json.dumps({"text": a, "code": b}) for a, b in PAIRS))
    run = tmp_path / "run"
    done = run_cli(["train", "llmjepa_lm", "--data", str(data), "--out", str(run), "--steps", "4", "--quiet",
                    f"data.model={model}", "train.batch_size=8", "train.precision=fp32", "data.test_fraction=0.25",
                    "optim.lr=1e-3", "eval.batch_size=4"])
    assert done.code == 0, done.err
    done = run_cli(["eval", str(run)])
    assert done.code == 0, done.err
    entry = json.loads((run / "eval.json").read_text())["view_prediction"]
    assert entry["pairs"] == 5 and set(entry["trained"]) == {"next_token", "cosine", "r1"}
    assert entry["trained"]["next_token"] < entry["random_init"]["next_token"]  # 4 steps at lr 1e-3 fit the pairs
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all("cosine" in m and "next_token" in m for m in metrics if "loss" in m)


def test_a_language_model_folder_that_does_not_load_says_so(tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"text": "a", "code": "b"}))
    (tmp_path / "lm").mkdir()
    failed = run_cli(["train", "llmjepa_lm", "--data", str(data), "--out", str(tmp_path / "r"), "--steps", "2",
                      f"data.model={tmp_path / 'lm'}"])
    assert failed.code != 0 and "language model folder" in failed.err and "does not load" in failed.err
    assert "Traceback" not in failed.err


def test_checkpoints_write_tied_weights_once_and_read_them_back_under_both_names(tmp_path):
    from openjepa.runs.checkpoint import load_checkpoint, save_checkpoint

    embedding = torch.randn(5, 3)
    state = {"wte.weight": embedding, "lm_head.weight": embedding, "bias": torch.zeros(3)}
    folder = save_checkpoint(tmp_path, 1, state, {}, {})
    from safetensors import safe_open

    with safe_open(folder / "model.safetensors", "pt") as f:
        assert sorted(f.keys()) == ["bias", "wte.weight"]
    model, _, _ = load_checkpoint(folder)
    assert torch.equal(model["lm_head.weight"], embedding) and torch.equal(model["wte.weight"], embedding)
