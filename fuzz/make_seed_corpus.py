#!/usr/bin/python3
"""Regenerate the fuzzers' seed corpora (fuzz/corpus/<target>/) and the tiny model (fuzz/data/tiny_model).

The seeds are small, well-formed (or nearly so) files of each format, so that libFuzzer starts from inputs
that reach deep into the readers: safetensors files of a 1-layer model, configs of real checkpoints,
text in many scripts, the repository's hypothesis files and numpy's own .npy files. Deterministic: running
it twice writes the same bytes. Needs Debian's python3 (numpy, torch).

Usage: /usr/bin/python3 fuzz/make_seed_corpus.py
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

FUZZ_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(FUZZ_DIR)
CORPUS = os.path.join(FUZZ_DIR, "corpus")
# The shape every safetensors seed has, and the config.json the safetensors fuzzer loads them with.
TINY = ["--layers", "1", "--heads", "2", "--d-model", "4", "--vocab", "5", "--n-ctx", "3"]


def fresh_dir(name):
    path = os.path.join(CORPUS, name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def write(path, data):
    with open(path, "wb") as out:
        out.write(data.encode() if isinstance(data, str) else data)


def random_model(out_dir, *flags):
    subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "tools", "make_random_model.py"), out_dir, *TINY, *flags],
                   check=True)


def safetensors_bytes(header):
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text


def safetensors_seeds():
    out = fresh_dir("safetensors")
    tiny_model = os.path.join(FUZZ_DIR, "data", "tiny_model")
    shutil.rmtree(tiny_model, ignore_errors=True)
    random_model(tiny_model)
    shutil.copy(os.path.join(tiny_model, "model.safetensors"), os.path.join(out, "f32.safetensors"))
    variants = {
        "f16_prefix_lm_head": ["--dtype", "F16", "--prefix", "--lm-head", "--seed", "1"],
        "bf16_buffers": ["--dtype", "BF16", "--buffers", "--seed", "2"],
        "f32_prefix_buffers_lm_head": ["--prefix", "--buffers", "--lm-head", "--seed", "3"],
    }
    with tempfile.TemporaryDirectory() as scratch:
        for name, flags in variants.items():
            random_model(os.path.join(scratch, name), *flags)
            shutil.copy(os.path.join(scratch, name, "model.safetensors"), os.path.join(out, name + ".safetensors"))
    write(os.path.join(out, "empty_header.safetensors"), safetensors_bytes({}))
    write(os.path.join(out, "metadata_only.safetensors"), safetensors_bytes({"__metadata__": {"format": "pt"}}))
    every_dtype = {}
    offset = 0
    for dtype, size in [("F64", 8), ("F32", 4), ("F16", 2), ("BF16", 2), ("I64", 8), ("I32", 4), ("I16", 2),
                        ("I8", 1), ("U64", 8), ("U32", 4), ("U16", 2), ("U8", 1), ("BOOL", 1)]:
        every_dtype["t_" + dtype] = {"dtype": dtype, "shape": [2], "data_offsets": [offset, offset + 2 * size]}
        offset += 2 * size
    every_dtype["empty"] = {"dtype": "F32", "shape": [0, 3], "data_offsets": [offset, offset]}
    every_dtype["scalar"] = {"dtype": "F32", "shape": [], "data_offsets": [offset, offset + 4]}
    write(os.path.join(out, "every_dtype.safetensors"), safetensors_bytes(every_dtype) + bytes(range(offset + 4)))


def config_seeds():
    out = fresh_dir("config")
    shutil.copy(os.path.join(FUZZ_DIR, "data", "tiny_model", "config.json"), os.path.join(out, "tiny.json"))
    shutil.copy(os.path.join(SOURCE_DIR, "models", "gpt2-ioi-mini", "config.json"), os.path.join(out, "gpt2-ioi-mini.json"))
    shutil.copy(os.path.join(SOURCE_DIR, "models", "gpt2-small", "config.json"), os.path.join(out, "gpt2-small.json"))
    tiny = {"n_layer": 1, "n_head": 2, "n_embd": 4, "n_positions": 3, "vocab_size": 5}
    variants = {
        "minimal": tiny,
        "old_n_ctx_only": {"n_layer": 1, "n_head": 2, "n_embd": 4, "n_ctx": 3, "vocab_size": 5},
        "n_inner": dict(tiny, n_inner=16, layer_norm_epsilon=1e-5),
        "flags": dict(tiny, activation_function="gelu_pytorch_tanh", scale_attn_weights=True,
                      scale_attn_by_inverse_layer_idx=False, reorder_and_upcast_attn=False),
        "unsupported_activation": dict(tiny, activation_function="relu"),
        "nulls": dict(tiny, n_inner=None, layer_norm_epsilon=None, activation_function=None),
    }
    for name, config in variants.items():
        write(os.path.join(out, name + ".json"), json.dumps(config, indent=1))
    # Inputs found while fuzzing (now Catch2 tests in tests/io/test_model_dir.cpp).
    write(os.path.join(out, "found_number_overflow.json"), '{"n_layer": 1e400}')
    write(os.path.join(out, "found_epsilon_too_large.json"), json.dumps(dict(tiny, layer_norm_epsilon=1e300)))
    write(os.path.join(out, "found_default_n_inner_overflow.json"), json.dumps(dict(tiny, n_embd=2**30, n_head=1)))


def npy_seeds():
    out = fresh_dir("npy")
    arrays = {
        "f4_scalar": np.array(1.5, dtype="<f4"),
        "f4_2x3": np.arange(6, dtype="<f4").reshape(2, 3) / 7,
        "f4_special": np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45], dtype="<f4"),
        "i4_vector": np.array([0, -1, 2**31 - 1, -2**31], dtype="<i4"),
        "i8_3d": np.arange(24, dtype="<i8").reshape(2, 3, 4) - 12,
        "f4_empty": np.zeros((2, 0, 4), dtype="<f4"),
        "i4_fortran_vector": np.asfortranarray(np.arange(5, dtype="<i4")),
        "i4_fortran_matrix": np.asfortranarray(np.arange(6, dtype="<i4").reshape(2, 3)),
        "f8_unsupported": np.array([1.0, 2.0], dtype="<f8"),
        "f4_big_endian": np.array([1.0, 2.0], dtype=">f4"),
        "bool_unsupported": np.array([True, False]),
    }
    for name, array in arrays.items():
        np.save(os.path.join(out, name + ".npy"), array, allow_pickle=False)
    with open(os.path.join(out, "f4_v2.npy"), "wb") as handle:
        np.lib.format.write_array(handle, np.arange(4, dtype="<f4"), version=(2, 0))
    with open(os.path.join(out, "i8_v3.npy"), "wb") as handle:
        np.lib.format.write_array(handle, np.arange(3, dtype="<i8"), version=(3, 0))
    # Found by fuzzing: an empty array (one extent is 0) whose other extents multiply past 2^63; written back,
    # the count overflowed int64 before reaching the 0. numpy refuses such a shape.
    with open(os.path.join(out, "found_empty_overflowing_shape.npy"), "wb") as handle:
        dict_text = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1209,64,83648,2,19648,2,9602,2,0,20,264), }"
        handle.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) + dict_text.ljust(117) + b"\n")


def hypothesis_seeds():
    out = fresh_dir("hypothesis")
    for directory in ["hypotheses", os.path.join("tests", "graph", "bad_hypotheses")]:
        for root, _, files in os.walk(os.path.join(SOURCE_DIR, directory)):
            for name in sorted(files):
                if name.endswith(".toml"):
                    relative = os.path.relpath(os.path.join(root, name), SOURCE_DIR)
                    shutil.copy(os.path.join(SOURCE_DIR, relative), os.path.join(out, relative.replace(os.sep, "__")))
    # The TOML examples of the format's documentation.
    with open(os.path.join(SOURCE_DIR, "docs", "hypothesis-format.md")) as handle:
        blocks = handle.read().split("```toml\n")[1:]
    for index, block in enumerate(blocks):
        write(os.path.join(out, f"docs_example_{index}.toml"), block.split("```")[0])
    # Inputs the fuzzer found (now Catch2 tests in tests/graph/test_bad_hypotheses.cpp).
    found = {
        "found_non_ascii_key": b"[nodes\xd2\x8came_movers]\nheads = [\"9.9\"]\nfeature = \"io_name\"\n",
        "found_quote_in_value": b'extends =8"E./../../hypotheses\xcf\x98\x8f\xddv"smal/li.toml"\n',
        "found_table_header": b"[=\n",
        "found_long_extends": b'extends = "' + b"a" * 300 + b'.toml"\n',
        "found_bracket_in_value": b'[remove]\nnodes =3["backu`_nam\x11\xcb\x96\x00\x10a\x00\x00]\n',
        "found_backslash_non_ascii": b'a = """\\\xef\xbb\xbb"""\n',
    }
    for name, text in found.items():
        write(os.path.join(out, name + ".toml"), text)


def dataset_seeds():
    # The bad-input corpus's datasets: each a real generated line with one thing broken (and valid lines),
    # so mutations start deep in the reader. The 200 kB nested one would only slow the fuzzer down.
    out = fresh_dir("dataset")
    source = os.path.join(SOURCE_DIR, "tests", "bad_inputs", "datasets")
    for name in sorted(os.listdir(source)):
        if name.endswith(".jsonl") and os.path.getsize(os.path.join(source, name)) < 8192:
            shutil.copy(os.path.join(source, name), os.path.join(out, name))


def task_seeds():
    # The first byte picks the task (fuzz_task.cpp): 0 IOI, 1 induction, 2 pronouns. Seeds: each task's own
    # file and the bad-input corpus's task files (laid out like induction.toml).
    out = fresh_dir("task")
    for selector, name in enumerate(["ioi_paper_vocabulary.toml", "induction.toml", "pronoun.toml"]):
        with open(os.path.join(SOURCE_DIR, "datasets", name), "rb") as handle:
            write(os.path.join(out, name), bytes([selector]) + handle.read())
    source = os.path.join(SOURCE_DIR, "tests", "bad_inputs", "tasks")
    for name in sorted(os.listdir(source)):
        with open(os.path.join(source, name), "rb") as handle:
            write(os.path.join(out, "bad_" + name), b"\x01" + handle.read())


def tokenizer_seeds():
    out = fresh_dir("tokenizer")
    with open(os.path.join(SOURCE_DIR, "tests", "io", "tokenizer_cases", "edge_cases.json")) as handle:
        cases = json.load(handle)
    for category, texts in cases.items():
        write(os.path.join(out, "edge_" + category + ".txt"), "\n".join(texts))
    texts = {
        "prose": "When Mary and John went to the store, John gave a drink to Mary. It's 3.14159, isn't it?\n",
        "code": "int main(int argc, char** argv) {\n\tfor (int i = 0; i < argc; ++i) printf(\"%s\\n\", argv[i]);\r\n}\n",
        "python": "def f(x):\n    return {'a': [1, 2, 3], \"b\": x ** 2}  # comment\n\n\n",
        "scripts": "Ελληνικά русский עברית العربية हिन्दी 日本語の文章 한국어 ไทย Tiếng Việt",
        "emoji": "👩‍👩‍👧‍👦 🇫🇷 ✋🏽 ❤️ 1️⃣ 🏳️‍🌈",
        "combining": "e\u0301 n\u0303 a\u030a\u0323 \u0928\u093f Z\u0351\u0362\u034d",
        "contractions": "I'm you're he's we've they'd she'll it'S DON'T 'tis o'clock rock'n'roll '''",
        "numbers": "1234567890 ١٢٣ ⅷ ² ½ 0x1F 1e-5 -3 +7 1,000,000.00",
        "whitespace": " \t\n\r\x0b\x0c\u0085\u00a0\u1680\u2000\u2028\u2029\u202f\u205f\u3000\ufeff x  \n\n y\t\t",
        "endoftext": "<|endoftext|>Hello<|endoftext|> world",
        "controls": "\x00\x01\x02\x7f\u0080\u009f text \x1b[31m red",
        "noncharacters": "\ufffe\uffff\U0010fffe\U0010ffff\ufffd \U0001f600",
        "invalid_utf8": b"abc \xff\xfe \xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82",
    }
    for name, text in texts.items():
        write(os.path.join(out, name + ".txt"), text)


def pairs_seeds():
    """Pair files (`patch --pairs`): ids and texts, pairs of two lengths, and the bad-input corpus's pair files."""
    out = fresh_dir("pairs")
    valid = [
        {"clean": [464, 3290, 318, 257], "corrupted": [464, 3797, 318, 257], "answer": 922, "distractor": 1049},
        {"clean": "When Mary and John went to the store, John gave a drink to",
         "corrupted": "When Mary and John went to the store, Alice gave a drink to",
         "answer": " Mary", "distractor": " John"},
        {"clean": [50256, 464], "corrupted": [50256, 383], "answer": " the", "distractor": 290},
    ]
    write(os.path.join(out, "valid.jsonl"), "".join(json.dumps(pair) + "\n" for pair in valid))
    write(os.path.join(out, "one_pair.jsonl"), json.dumps(valid[1]) + "\n")
    bad = os.path.join(SOURCE_DIR, "tests", "bad_inputs", "pairs")
    for name in sorted(os.listdir(bad)):
        shutil.copy(os.path.join(bad, name), os.path.join(out, "bad_" + name))


def graph_json(n_layers, n_heads, parallel=False, seed=0):
    """EAP-IG's graph JSON (see include/cscrub/discover/edge_graph.hpp): every edge of the model's graph."""
    rng = np.random.default_rng(seed)
    sources, edges = ["input"], {}
    for layer in range(n_layers):
        heads = [f"a{layer}.h{head}" for head in range(n_heads)]
        for port in "qkv":
            for head in heads:
                for source in sources:
                    edges[f"{source}->{head}<{port}>"] = None
        for source in sources + ([] if parallel else heads):
            edges[f"{source}->m{layer}"] = None
        sources += heads + [f"m{layer}"]
    for source in sources:
        edges[f"{source}->logits"] = None
    scores = rng.standard_normal(len(edges)).round(4)
    in_graph = rng.random(len(edges)) < 0.3
    return {
        "cfg": {"n_layers": n_layers, "n_heads": n_heads, "parallel_attn_mlp": parallel, "d_model": 4 * n_heads},
        "nodes": {**{source: {"in_graph": bool(i % 2 == 0), "score": float(i) / 8} for i, source in enumerate(sources)},
                  "logits": {"in_graph": True}},
        "edges": {name: {"score": float(score), "in_graph": bool(chosen)}
                  for name, score, chosen in zip(edges, scores, in_graph)},
    }


def graph_json_seeds():
    """Circuit graph files: small graphs, sequential and parallel, with and without node scores."""
    out = fresh_dir("graph_json")
    write(os.path.join(out, "one_layer_one_head.json"), json.dumps(graph_json(1, 1)))
    write(os.path.join(out, "two_layers_two_heads.json"), json.dumps(graph_json(2, 2, seed=1), indent=1))
    write(os.path.join(out, "parallel.json"), json.dumps(graph_json(2, 1, parallel=True, seed=2)))
    without_node_scores = graph_json(1, 2, seed=3)
    for node in without_node_scores["nodes"].values():
        node.pop("score", None)
    write(os.path.join(out, "no_node_scores.json"), json.dumps(without_node_scores))


# The fixed model.safetensors of each family's config fuzzer, and its own config.json (fuzz/data/tiny_FAMILY).
FAMILY_TINY = {
    "gpt_neo": ["--family", "gpt_neo", "--layers", "2", "--heads", "2", "--d-model", "4", "--vocab", "5", "--n-ctx", "3",
                "--window", "2"],
    "gpt_neox": ["--family", "gpt_neox", "--layers", "1", "--heads", "2", "--d-model", "8", "--vocab", "5", "--n-ctx", "3",
                 "--rotary-pct", "0.5"],
}


def family_config_seeds(family, real_model):
    """Configs of one family: the tiny model's, the real checkpoint's (models/REAL_MODEL), variants spelling settings
    every way Hugging Face reads them, and the bad-input corpus's broken configs of the family."""
    out = fresh_dir(family + "_config")
    tiny_model = os.path.join(FUZZ_DIR, "data", "tiny_" + family)
    shutil.rmtree(tiny_model, ignore_errors=True)
    subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "tools", "make_random_model.py"), tiny_model,
                    *FAMILY_TINY[family]], check=True)
    with open(os.path.join(tiny_model, "config.json")) as handle:
        tiny = json.load(handle)
    write(os.path.join(out, "tiny.json"), json.dumps(tiny, indent=1))
    shutil.copy(os.path.join(SOURCE_DIR, "models", real_model, "config.json"), os.path.join(out, real_model + ".json"))
    if family == "gpt_neo":
        variants = {
            "hidden_spellings": dict(tiny, num_hidden_layers=tiny["num_layers"], num_attention_heads=tiny["num_heads"]),
            "attention_layers": dict(tiny, attention_layers=["global", "local"]),
            "all_local": dict(tiny, attention_types=[[["local"], 2]], window_size=1),
            "gelu_exact_untied": dict(tiny, activation_function="gelu", tie_word_embeddings=False, intermediate_size=8),
        }
    else:
        variants = {
            "rope_parameters": dict({k: v for k, v in tiny.items() if k not in ("rotary_pct", "rotary_emb_base")},
                                    rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                     "partial_rotary_factor": 0.5}),
            "every_spelling": dict(tiny, partial_rotary_factor=0.5, rope_theta=10000, rope_scaling=None),
            "sequential_no_bias": dict(tiny, use_parallel_residual=False, attention_bias=False, hidden_act="gelu_new"),
            "no_rotary": dict(tiny, rotary_pct=0.0),
        }
    for name, config in variants.items():
        write(os.path.join(out, name + ".json"), json.dumps(config, indent=1))
    bad = os.path.join(SOURCE_DIR, "tests", "bad_inputs", "configs_" + family)
    for name in sorted(os.listdir(bad)):
        shutil.copy(os.path.join(bad, name), os.path.join(out, "bad_" + name))


def tokenizer_json_seeds():
    """tokenizer.json files: the bad-input corpus's small byte-level BPE (written by make_bad_binaries.py) in
    several spellings, and each of its broken ones (the files, not the FIFOs, devices or 300 MB file)."""
    out = fresh_dir("tokenizer_json")
    sys.dont_write_bytecode = True  # no __pycache__ in the bad-input corpus
    sys.path.insert(0, os.path.join(SOURCE_DIR, "tests", "bad_inputs"))
    import make_bad_binaries  # noqa: E402 (the corpus's own generator)
    base = make_bad_binaries.small_tokenizer_json()
    write(os.path.join(out, "valid.json"), json.dumps(base, ensure_ascii=False))
    lists = json.loads(json.dumps(base))
    lists["model"]["merges"] = [merge.split(" ") for merge in base["model"]["merges"]]
    write(os.path.join(out, "merges_as_lists.json"), json.dumps(lists, ensure_ascii=False, indent=1))
    nfc = json.loads(json.dumps(base))
    nfc["normalizer"] = {"type": "NFC"}
    nfc["pre_tokenizer"].update(add_prefix_space=True, use_regex=False)
    write(os.path.join(out, "nfc_prefix_space_no_regex.json"), json.dumps(nfc, ensure_ascii=False))
    added = json.loads(json.dumps(base))  # Pythia's: special tokens in the vocabulary, a non-special one outside it
    added["added_tokens"].append({"id": len(base["model"]["vocab"]), "content": "  ", "single_word": False,
                                  "lstrip": False, "rstrip": False, "normalized": True, "special": False})
    write(os.path.join(out, "added_tokens.json"), json.dumps(added, ensure_ascii=False))
    with tempfile.TemporaryDirectory() as scratch:
        make_bad_binaries.tokenizer_json_cases(scratch)
        for name in sorted(os.listdir(scratch)):
            file = os.path.join(scratch, name, "tokenizer.json")
            if name.startswith("tokjson_") and os.path.isfile(file) and not os.path.islink(file) and \
                    os.path.getsize(file) < 65536:
                shutil.copy(file, os.path.join(out, "bad_" + name[len("tokjson_"):] + ".json"))


def main():
    safetensors_seeds()
    config_seeds()
    npy_seeds()
    hypothesis_seeds()
    dataset_seeds()
    task_seeds()
    tokenizer_seeds()
    pairs_seeds()
    graph_json_seeds()
    tokenizer_json_seeds()
    family_config_seeds("gpt_neo", "gpt-neo-125m")
    family_config_seeds("gpt_neox", "pythia-160m")


if __name__ == "__main__":
    main()
