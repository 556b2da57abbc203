#!/usr/bin/python3
"""Write the binary files of the bad-input corpus (tests/bad_inputs/cases.tsv) into OUT_DIR.

Model directories: every case is a directory OUT_DIR/<case>/ holding config.json and model.safetensors, built from one tiny,
valid GPT-2 (1 layer, 2 heads, d_model 8, vocab 16, n_ctx 8; OUT_DIR/valid) with exactly one thing broken.
The model files are generated rather than committed so that the corpus stays small and each defect is
spelled out here. Broken config.json files are committed (tests/bad_inputs/configs/) and paired with the
valid weights. Models that need GPT-2's tokenizer (for `cscrub run`) link the bundled model's files.

The safetensors files are written by hand (8-byte little-endian header length, JSON header, raw data) so
that headers can be broken in ways no library would write.

Token-id arrays: OUT_DIR/npy/<case>.npy, .npy files broken in one way each (dtype, order, header, size,
ids), written by hand for the same reason.

Hostile inputs: OUT_DIR/hostile/<case>, what an adversary would give instead of a file (FIFOs, /dev/zero,
nesting that overflowed parsers' stacks, an extends chain 3,001 files long, files past their size limit):
each must be refused at once, never read forever or recursed into.

Usage: /usr/bin/python3 tests/bad_inputs/make_bad_binaries.py OUT_DIR
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLED_MODEL = os.path.join(HERE, "..", "..", "models", "gpt2-ioi-mini")
GPT2_VOCAB = 50257
NUMPY_DTYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I32": "<i4"}


def tiny_config(layers=1, heads=2, d_model=8, vocab=16, n_ctx=8):
    return {"model_type": "gpt2", "n_layer": layers, "n_head": heads, "n_embd": d_model, "n_positions": n_ctx,
            "n_ctx": n_ctx, "vocab_size": vocab, "n_inner": None, "layer_norm_epsilon": 1e-5,
            "activation_function": "gelu_new"}


def tiny_weights(config, seed=0):
    """GPT-2's tensors (Hugging Face names and Conv1D layout), float32, small random values."""
    rng = np.random.default_rng(seed)
    d, mlp, vocab, n_ctx = config["n_embd"], 4 * config["n_embd"], config["vocab_size"], config["n_positions"]

    def normal(*shape, std=0.1, mean=0.0):
        return (rng.standard_normal(shape) * std + mean).astype(np.float32)

    tensors = {"wte.weight": normal(vocab, d), "wpe.weight": normal(n_ctx, d, std=0.05)}
    for layer in range(config["n_layer"]):
        p = f"h.{layer}."
        tensors.update({
            p + "ln_1.weight": normal(d, mean=1.0), p + "ln_1.bias": normal(d, std=0.05),
            p + "attn.c_attn.weight": normal(d, 3 * d, std=0.3), p + "attn.c_attn.bias": normal(3 * d),
            p + "attn.c_proj.weight": normal(d, d, std=0.2), p + "attn.c_proj.bias": normal(d, std=0.02),
            p + "ln_2.weight": normal(d, mean=1.0), p + "ln_2.bias": normal(d, std=0.05),
            p + "mlp.c_fc.weight": normal(d, mlp, std=0.3), p + "mlp.c_fc.bias": normal(mlp),
            p + "mlp.c_proj.weight": normal(mlp, d, std=0.1), p + "mlp.c_proj.bias": normal(d, std=0.02),
        })
    tensors["ln_f.weight"] = normal(d, mean=1.0)
    tensors["ln_f.bias"] = normal(d, std=0.05)
    return tensors


def tiny_gpt_neo(seed=3):
    """A 2-layer GPT-Neo (global then local attention, window 2): config.json and tensors (nn.Linear [out, in])."""
    d, vocab, n_ctx = 8, 16, 8
    config = {"model_type": "gpt_neo", "num_layers": 2, "num_heads": 2, "hidden_size": d, "max_position_embeddings": n_ctx,
              "vocab_size": vocab, "intermediate_size": None, "attention_types": [[["global", "local"], 1]],
              "window_size": 2, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}
    rng = np.random.default_rng(seed)

    def normal(*shape, std=0.1, mean=0.0):
        return (rng.standard_normal(shape) * std + mean).astype(np.float32)

    tensors = {"transformer.wte.weight": normal(vocab, d), "transformer.wpe.weight": normal(n_ctx, d, std=0.05)}
    for layer in range(2):
        p = f"transformer.h.{layer}."
        a = p + "attn.attention."
        tensors.update({
            p + "ln_1.weight": normal(d, mean=1.0), p + "ln_1.bias": normal(d, std=0.05),
            a + "q_proj.weight": normal(d, d, std=0.3), a + "k_proj.weight": normal(d, d, std=0.3),
            a + "v_proj.weight": normal(d, d, std=0.3), a + "out_proj.weight": normal(d, d, std=0.2),
            a + "out_proj.bias": normal(d, std=0.02),
            p + "ln_2.weight": normal(d, mean=1.0), p + "ln_2.bias": normal(d, std=0.05),
            p + "mlp.c_fc.weight": normal(4 * d, d, std=0.3), p + "mlp.c_fc.bias": normal(4 * d),
            p + "mlp.c_proj.weight": normal(d, 4 * d, std=0.1), p + "mlp.c_proj.bias": normal(d, std=0.02),
        })
    tensors["transformer.ln_f.weight"] = normal(d, mean=1.0)
    tensors["transformer.ln_f.bias"] = normal(d, std=0.05)
    return config, tensors


def tiny_gpt_neox(seed=4):
    """A 1-layer GPT-NeoX (Pythia's layout: fused per-head query_key_value, rotary on half of each head, untied
    embed_out): config.json and tensors."""
    d, vocab = 8, 16
    config = {"model_type": "gpt_neox", "num_hidden_layers": 1, "num_attention_heads": 2, "hidden_size": d,
              "intermediate_size": 4 * d, "max_position_embeddings": 8, "vocab_size": vocab, "layer_norm_eps": 1e-5,
              "hidden_act": "gelu", "rotary_pct": 0.5, "rotary_emb_base": 10000, "use_parallel_residual": True,
              "tie_word_embeddings": False}
    rng = np.random.default_rng(seed)

    def normal(*shape, std=0.1, mean=0.0):
        return (rng.standard_normal(shape) * std + mean).astype(np.float32)

    p = "gpt_neox.layers.0."
    tensors = {
        "gpt_neox.embed_in.weight": normal(vocab, d),
        p + "input_layernorm.weight": normal(d, mean=1.0), p + "input_layernorm.bias": normal(d, std=0.05),
        p + "post_attention_layernorm.weight": normal(d, mean=1.0), p + "post_attention_layernorm.bias": normal(d, std=0.05),
        p + "attention.query_key_value.weight": normal(3 * d, d, std=0.3), p + "attention.query_key_value.bias": normal(3 * d),
        p + "attention.dense.weight": normal(d, d, std=0.2), p + "attention.dense.bias": normal(d, std=0.02),
        p + "mlp.dense_h_to_4h.weight": normal(4 * d, d, std=0.3), p + "mlp.dense_h_to_4h.bias": normal(4 * d),
        p + "mlp.dense_4h_to_h.weight": normal(d, 4 * d, std=0.1), p + "mlp.dense_4h_to_h.bias": normal(d, std=0.02),
        "gpt_neox.final_layer_norm.weight": normal(d, mean=1.0), "gpt_neox.final_layer_norm.bias": normal(d, std=0.05),
        "embed_out.weight": normal(vocab, d),
    }
    return config, tensors


class Entry:
    """One tensor as it will be stored: name, dtype string, shape and raw bytes (each may be made wrong)."""

    def __init__(self, name, array, dtype="F32"):
        self.name, self.dtype, self.shape = name, dtype, list(array.shape)
        with np.errstate(over="ignore"):  # F16 cases overflow on purpose
            self.data = array.astype(NUMPY_DTYPES[dtype]).tobytes()
        self.offsets = None  # None: consecutive, as a correct writer lays them out


def entries_of(tensors, dtype="F32"):
    return [Entry(name, array, dtype) for name, array in tensors.items()]


def header_and_data(entries):
    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for entry in entries:
        offsets = entry.offsets if entry.offsets is not None else [offset, offset + len(entry.data)]
        header[entry.name] = {"dtype": entry.dtype, "shape": entry.shape, "data_offsets": offsets}
        chunks.append(entry.data)
        offset += len(entry.data)
    return header, b"".join(chunks)


def safetensors_bytes(entries):
    header, data = header_and_data(entries)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def write_dir(out, name, config=None, safetensors=None, config_text=None):
    directory = os.path.join(out, name)
    os.makedirs(directory, exist_ok=True)
    if config_text is not None:
        with open(os.path.join(directory, "config.json"), "wb") as f:
            f.write(config_text)
    elif config is not None:
        with open(os.path.join(directory, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
    if safetensors is not None:
        with open(os.path.join(directory, "model.safetensors"), "wb") as f:
            f.write(safetensors)
    return directory


def link_gpt2_tokenizer(directory):
    for name in ("encoder.json", "vocab.bpe"):
        target = os.path.abspath(os.path.join(BUNDLED_MODEL, name))
        if not os.path.exists(target):
            sys.exit(f"make_bad_models.py: {target} is missing (the bundled model's tokenizer)")
        os.symlink(target, os.path.join(directory, name))


def safetensors_cases(out, config, tensors):
    """Broken model.safetensors files next to a valid config.json."""
    valid = safetensors_bytes(entries_of(tensors))
    header_length = struct.unpack("<Q", valid[:8])[0]

    def case(name, data):
        write_dir(out, name, config, data)

    def with_entries(name, change):
        entries = entries_of(tensors)
        change(entries)
        case(name, safetensors_bytes(entries))

    def find(entries, name):
        return next(e for e in entries if e.name == name)

    def raw_header(text):  # a header that is not what json.dumps would write
        return struct.pack("<Q", len(text)) + text + valid[8 + header_length:]

    case("st_empty", b"")
    case("st_five_bytes", valid[:5])
    case("st_header_past_end", struct.pack("<Q", 1 << 20) + valid[8:200])
    case("st_header_length_max", struct.pack("<Q", (1 << 64) - 1) + valid[8:])
    case("st_header_garbage", raw_header(bytes(np.random.default_rng(7).integers(0, 256, 300, dtype=np.uint8))))
    case("st_header_not_object", raw_header(b"[1, 2, 3]"))
    case("st_header_invalid_utf8", raw_header(b'{"wte.\xff\xfe": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'))
    case("st_header_zero_length", struct.pack("<Q", 0) + valid[8:])
    case("st_truncated_data", valid[: len(valid) - 100])
    case("st_only_header", valid[: 8 + header_length])

    def unknown_dtype(entries):
        find(entries, "h.0.attn.c_attn.weight").dtype = "F8_E4M3"
    with_entries("st_unknown_dtype", unknown_dtype)

    def integer_dtype(entries):
        entries[0] = Entry("wte.weight", tensors["wte.weight"], "I32")
    with_entries("st_integer_dtype", integer_dtype)

    def double_dtype(entries):
        index = next(i for i, e in enumerate(entries) if e.name == "ln_f.weight")
        entries[index] = Entry("ln_f.weight", tensors["ln_f.weight"], "F64")
    with_entries("st_double_dtype", double_dtype)

    def dtype_not_string(entries):
        find(entries, "wpe.weight").dtype = 32
    with_entries("st_dtype_not_string", dtype_not_string)

    def size_mismatch(entries):  # the shape claims one more row than the bytes hold
        entry = find(entries, "wte.weight")
        entry.shape = [entry.shape[0] + 1, entry.shape[1]]
    with_entries("st_shape_bytes_mismatch", size_mismatch)

    def reversed_offsets(entries):
        entry = find(entries, "wte.weight")
        entry.offsets = [len(entry.data), 0]
    with_entries("st_offsets_reversed", reversed_offsets)

    def overlapping(entries):  # wpe claims wte's bytes
        wte, wpe = find(entries, "wte.weight"), find(entries, "wpe.weight")
        wpe.offsets = [8, 8 + len(wpe.data)]
        assert len(wte.data) > 8 + len(wpe.data)
    with_entries("st_overlapping", overlapping)

    def offsets_float(entries):
        entries[0].offsets = [0.5, 512]
    with_entries("st_offsets_not_integers", offsets_float)

    def negative_extent(entries):
        entries[0].shape = [-16, 8]
    with_entries("st_negative_extent", negative_extent)

    def huge_shape(entries):  # 2^62 x 2^62 elements: the byte count overflows 64 bits
        entries[0].shape = [1 << 62, 1 << 62]
    with_entries("st_huge_shape", huge_shape)

    def missing(entries):
        entries.remove(find(entries, "ln_f.bias"))
    with_entries("st_missing_tensor", missing)

    def extra_layer(entries):  # weights of a second layer the 1-layer config does not have
        entries.append(Entry("h.1.ln_1.weight", tensors["h.0.ln_1.weight"]))
    with_entries("st_extra_layer", extra_layer)

    def transposed(entries):
        entry = find(entries, "h.0.attn.c_attn.weight")
        entry.shape = list(reversed(entry.shape))
    with_entries("st_transposed_weight", transposed)

    def duplicate(entries):
        entries.append(Entry("transformer.wte.weight", tensors["wte.weight"]))
    with_entries("st_duplicate_tensor", duplicate)

    def untied(entries):
        entries.append(Entry("lm_head.weight", tensors["wte.weight"] * 2))
    with_entries("st_untied_lm_head", untied)

    def nan_weight(entries):
        array = tensors["h.0.mlp.c_fc.weight"].copy()
        array[3, 5] = np.nan
        entries[[e.name for e in entries].index("h.0.mlp.c_fc.weight")] = Entry("h.0.mlp.c_fc.weight", array)
    with_entries("st_nan_weight", nan_weight)

    def inf_weight_f16(entries):  # 70000 does not fit in float16: it becomes +Inf in the file
        array = tensors["wpe.weight"].copy()
        array[2, 1] = 70000.0
        entries[[e.name for e in entries].index("wpe.weight")] = Entry("wpe.weight", array, "F16")
    with_entries("st_inf_weight_f16", inf_weight_f16)

    write_dir(out, "st_missing_file", config)
    directory = write_dir(out, "st_is_directory", config)
    os.makedirs(os.path.join(directory, "model.safetensors"), exist_ok=True)


def config_cases(out, tensors):
    """Committed broken config.json files (configs/*.json), each next to the valid weights."""
    valid = safetensors_bytes(entries_of(tensors))
    configs = os.path.join(HERE, "configs")
    for file in sorted(os.listdir(configs)):
        with open(os.path.join(configs, file), "rb") as f:
            write_dir(out, "config_" + os.path.splitext(file)[0], safetensors=valid, config_text=f.read())
    write_dir(out, "config_missing", safetensors=valid)
    os.makedirs(os.path.join(write_dir(out, "config_is_directory", safetensors=valid), "config.json"))


def family_cases(out):
    """GPT-Neo and GPT-NeoX directories: committed broken configs (configs_gpt_neo/, configs_gpt_neox/) next to
    valid weights of the family, and broken checkpoints next to a valid config."""
    for family, (config, tensors) in (("gpt_neo", tiny_gpt_neo()), ("gpt_neox", tiny_gpt_neox())):
        valid = safetensors_bytes(entries_of(tensors))
        write_dir(out, "valid_" + family, config, valid)
        configs = os.path.join(HERE, "configs_" + family)
        for file in sorted(os.listdir(configs)):
            with open(os.path.join(configs, file), "rb") as f:
                write_dir(out, family + "_config_" + os.path.splitext(file)[0], safetensors=valid, config_text=f.read())

        def with_entries(name, change, config=config, tensors=tensors):
            entries = entries_of(tensors)
            change(entries)
            write_dir(out, name, config, safetensors_bytes(entries))

        def drop(name):
            return lambda entries: entries.remove(next(e for e in entries if e.name == name))

        def reshape(name, shape):
            def change(entries):
                entry = next(e for e in entries if e.name == name)
                entry.shape = shape
            return change

        if family == "gpt_neo":
            with_entries("gpt_neo_missing_v_proj", drop("transformer.h.1.attn.attention.v_proj.weight"))
            # Conv1D's [in, out] where nn.Linear's [out, in] belongs: the MLP's matrices are not square.
            with_entries("gpt_neo_conv1d_layout", reshape("transformer.h.0.mlp.c_fc.weight", [8, 32]))
            with_entries("gpt_neo_qkv_bias", lambda entries: entries.append(
                Entry("transformer.h.0.attn.attention.q_proj.bias", np.zeros(8, np.float32))))
        else:
            with_entries("gpt_neox_missing_embed_out", drop("embed_out.weight"))
            with_entries("gpt_neox_qkv_wrong_shape", reshape("gpt_neox.layers.0.attention.query_key_value.weight", [8, 24]))
            with_entries("gpt_neox_inv_freq_mismatch", lambda entries: entries.append(
                Entry("gpt_neox.layers.0.attention.rotary_emb.inv_freq", np.array([0.5], np.float32))))
            with_entries("gpt_neox_position_embedding", lambda entries: entries.append(
                Entry("gpt_neox.wpe.weight", np.zeros((8, 8), np.float32))))


def non_finite_cases(out):
    """Valid, finite weights whose forward pass overflows float32 (issue 7 part 5)."""
    config = tiny_config()
    # MLP weights of 1e30: the hidden units reach ~1e30, their projection ~1e60 = Inf; the final layer norm
    # of an Inf residual is NaN.
    tensors = tiny_weights(config)
    tensors["h.0.mlp.c_fc.weight"][:] = 1e30
    tensors["h.0.mlp.c_proj.weight"][:] = 1e30
    write_dir(out, "overflow_mlp", config, safetensors_bytes(entries_of(tensors)))

    # The same overflow in a model with GPT-2's vocabulary and tokenizer, so that `cscrub run` can score it;
    # valid_gpt2_vocab is that model without the overflow.
    config = tiny_config(vocab=GPT2_VOCAB, n_ctx=64)
    for name, overflow in (("valid_gpt2_vocab", False), ("overflow_mlp_gpt2_vocab", True)):
        tensors = tiny_weights(config, seed=1)
        if overflow:
            tensors["h.0.mlp.c_fc.weight"][:] = 1e30
            tensors["h.0.mlp.c_proj.weight"][:] = 1e30
        link_gpt2_tokenizer(write_dir(out, name, config, safetensors_bytes(entries_of(tensors))))

    # A final layer-norm gain of 1e30 and embeddings of ~1e10: the residual stays finite, the logits
    # (~1e40) overflow to +-Inf.
    config = tiny_config()
    tensors = tiny_weights(config, seed=2)
    tensors["ln_f.weight"][:] = 1e30
    tensors["wte.weight"] *= 1e11
    write_dir(out, "overflow_logits", config, safetensors_bytes(entries_of(tensors)))


def byte_level_alphabet():
    """GPT-2's bytes_to_unicode: one printable character per byte, the spelling of its single-byte token."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + \
        list(range(ord("\u00ae"), ord("\u00ff") + 1))
    characters, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            characters[byte] = chr(byte)
        else:
            characters[byte] = chr(256 + extra)
            extra += 1
    return [characters[byte] for byte in range(256)]


def tokenizer_cases(out, config, tensors):
    """A valid model whose tokenizer files are broken: every command that loads the directory refuses it."""
    valid = safetensors_bytes(entries_of(tensors))
    byte_vocab = json.dumps({character: i for i, character in enumerate(byte_level_alphabet())}).encode()
    files = {
        "tok_vocab_not_json": {"vocab.json": b"{\"a\": 0, \"b\": ", "merges.txt": b"#version: 0.2\n"},
        "tok_vocab_string_id": {"vocab.json": b"{\"a\": \"zero\"}", "merges.txt": b"#version: 0.2\n"},
        "tok_vocab_invalid_utf8": {"vocab.json": b"{\"a\xff\": 0}", "merges.txt": b"#version: 0.2\n"},
        "tok_vocab_missing_bytes": {"vocab.json": b"{\"a\": 0, \"b\": 1}", "merges.txt": b"#version: 0.2\n"},
        # "q" + "z" is a valid rule, but the vocabulary has no token "qz" for its result.
        "tok_merges_unknown_token": {"vocab.json": byte_vocab, "merges.txt": b"#version: 0.2\nq z\n"},
        "tok_merges_invalid_utf8": {"vocab.json": byte_vocab, "merges.txt": b"#version: 0.2\na \xff\xfe\n"},
        "tok_merges_three_fields": {"vocab.json": byte_vocab, "merges.txt": b"#version: 0.2\na b\rc\n"},
        "tok_vocab_without_merges": {"vocab.json": b"{\"a\": 0}"},
    }
    for name, contents in files.items():
        directory = write_dir(out, name, config, valid)
        for file, data in contents.items():
            with open(os.path.join(directory, file), "wb") as f:
                f.write(data)


def small_tokenizer_json():
    """A byte-level BPE tokenizer.json (Hugging Face's format): the 256 byte tokens, a few merges towards "hello"
    and " the", and <|endoftext|> as a special added token."""
    vocab = {character: i for i, character in enumerate(byte_level_alphabet())}
    merges = ["\u0120 t", "h e", "\u0120t he", "l l", "e ll", "h ell", "hell o"]
    for merge in merges:
        vocab[merge.replace(" ", "")] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return {
        "version": "1.0",
        "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": merges},
    }


def tokenizer_json_cases(out):
    """Model directories whose tokenizer.json (what Hugging Face reads first; GPT-NeoX's only tokenizer file) has
    one defect each: tokjson_<name>/tokenizer.json. valid_tokenizer_json holds the unbroken original."""
    def write_tokenizer(name, contents):
        directory = os.path.join(out, name)
        os.makedirs(directory)
        with open(os.path.join(directory, "tokenizer.json"), "wb") as f:
            f.write(contents if isinstance(contents, bytes) else json.dumps(contents, ensure_ascii=False).encode())
        return directory

    write_tokenizer("valid_tokenizer_json", small_tokenizer_json())

    def changed(change):
        tokenizer = small_tokenizer_json()
        change(tokenizer)
        return tokenizer

    def setter(*path_and_value):
        *path, key, value = path_and_value

        def change(tokenizer):
            target = tokenizer
            for step in path:
                target = target[step]
            if value is DELETE:
                del target[key]
            else:
                target[key] = value
        return change

    def renumbered(vocab):  # ids in the order given
        return {token: i for i, token in enumerate(vocab)}

    text = json.dumps(small_tokenizer_json(), ensure_ascii=False)
    cases = {
        "not_json": text[:200].encode(),
        "not_object": b"[1, 2, 3]",
        "no_model": changed(setter("model", DELETE)),
        "wordpiece": changed(setter("model", "type", "WordPiece")),
        "dropout": changed(setter("model", "dropout", 0.1)),
        "byte_fallback": changed(setter("model", "byte_fallback", True)),
        "subword_prefix": changed(setter("model", "continuing_subword_prefix", "##")),
        "normalizer_lowercase": changed(setter("normalizer", {"type": "Lowercase"})),
        "pre_tokenizer_whitespace": changed(setter("pre_tokenizer", {"type": "Whitespace"})),
        "no_pre_tokenizer": changed(setter("pre_tokenizer", None)),
        "prefix_space_string": changed(setter("pre_tokenizer", "add_prefix_space", "yes")),
        "vocab_empty": changed(setter("model", "vocab", {})),
        "vocab_id_string": changed(setter("model", "vocab", "!", "zero")),
        # One id of 2^24 - 1 in a 100-byte file had 16 million strings allocated (half a GB) before the refusal.
        "vocab_id_huge": changed(setter("model", "vocab", "\u0120t", 16777215)),
        "vocab_id_twice": changed(setter("model", "vocab", "\u0120t", 5)),
        "vocab_id_missing": changed(setter("model", "vocab", "\u0120t", 264)),
        "vocab_not_byte_level": changed(setter("model", "vocab", "a b", 264)),
        "vocab_missing_bytes": changed(lambda t: t["model"].update(
            vocab=renumbered([c for c in t["model"]["vocab"] if c != "!"]), merges=[])),
        "merge_three_parts": changed(lambda t: t["model"]["merges"].append("h e l")),
        "merge_unknown_token": changed(lambda t: t["model"]["merges"].append("q z")),
        "merge_object": changed(lambda t: t["model"]["merges"].append({"h": "e"})),
        "merges_not_list": changed(setter("model", "merges", "h e")),
        "added_lstrip": changed(setter("added_tokens", 0, "lstrip", True)),
        "added_no_content": changed(setter("added_tokens", 0, "content", DELETE)),
        "added_id_conflict": changed(setter("added_tokens", 0, "id", 5)),
        "added_id_huge": changed(setter("added_tokens", 0, "id", 10 ** 9)),
        "duplicate_key": text.replace('"type": "BPE"', '"type": "BPE", "type": "BPE"').encode(),
        "deep_nesting": text.replace('"normalizer": null', '"normalizer": ' + "[" * 100000 + "]" * 100000).encode(),
    }
    for name, contents in cases.items():
        write_tokenizer("tokjson_" + name, contents)
    # What an adversary gives instead of a file: a FIFO, /dev/zero, a directory, a sparse 300 MB file.
    os.makedirs(os.path.join(out, "tokjson_fifo"))
    os.mkfifo(os.path.join(out, "tokjson_fifo", "tokenizer.json"))
    os.makedirs(os.path.join(out, "tokjson_dev_zero"))
    os.symlink("/dev/zero", os.path.join(out, "tokjson_dev_zero", "tokenizer.json"))
    os.makedirs(os.path.join(out, "tokjson_directory", "tokenizer.json"))
    with open(os.path.join(write_tokenizer("tokjson_huge", b""), "tokenizer.json"), "wb") as f:
        f.truncate(300 << 20)
    # A GPT-NeoX model directory whose tokenizer.json is broken: the commands that read text refuse it.
    config, tensors = tiny_gpt_neox()
    directory = write_dir(out, "tokjson_in_gpt_neox_model", config, safetensors_bytes(entries_of(tensors)))
    with open(os.path.join(directory, "tokenizer.json"), "w") as f:
        json.dump(changed(setter("model", "dropout", 0.1)), f, ensure_ascii=False)


DELETE = object()


def npy_bytes(descr, shape, data, fortran=False, version=1, header_length=None, header=None):
    """A .npy file: magic, version, header length, the header dict padded to 64 bytes, then `data`."""
    if header is None:
        shape_text = "(" + "".join(f"{extent}, " for extent in shape).rstrip(" ")
        shape_text = (shape_text.rstrip(",") if len(shape) > 1 else shape_text) + ")"
        header = f"{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape_text}, }}".encode()
    length_format = "<H" if version == 1 else "<I"
    preamble = 6 + 2 + struct.calcsize(length_format)
    header += b" " * (-(preamble + len(header) + 1) % 64) + b"\n"
    length = len(header) if header_length is None else header_length
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(length_format, length) + header + data


def npy_cases(out):
    directory = os.path.join(out, "npy")
    os.makedirs(directory)
    ids = np.array([464, 3290, 318, 257], dtype="<i4")
    cases = {
        "empty": b"",
        "text": b"464, 3290, 318\n",
        "preamble_only": b"\x93NUMPY\x01",
        "version_9": npy_bytes("<i4", [4], ids.tobytes(), version=9),
        "header_past_end": npy_bytes("<i4", [4], ids.tobytes(), header_length=60000),
        "header_garbage": npy_bytes("<i4", [4], ids.tobytes(), header=b"{'descr': '<i4', 'fortran_order': Maybe, 'shape': (4,), }"),
        "header_unterminated": npy_bytes("<i4", [4], ids.tobytes(), header=b"{'descr': '<i4"),
        "header_negative_extent": npy_bytes("<i4", [4], ids.tobytes(), header=b"{'descr': '<i4', 'fortran_order': False, 'shape': (-4,), }"),
        "float32_ids": npy_bytes("<f4", [4], ids.astype("<f4").tobytes()),
        "float64_ids": npy_bytes("<f8", [4], ids.astype("<f8").tobytes()),
        "big_endian": npy_bytes(">i4", [4], ids.astype(">i4").tobytes()),
        "object_dtype": npy_bytes("|O", [4], b"\0" * 32),
        "truncated": npy_bytes("<i4", [10], ids.tobytes()),
        "trailing_bytes": npy_bytes("<i4", [4], ids.tobytes() + b"\0\0"),
        "fortran_order": npy_bytes("<i4", [2, 2], ids.tobytes(), fortran=True),
        "rank_3": npy_bytes("<i4", [1, 2, 2], ids.tobytes()),
        "scalar": npy_bytes("<i4", [], ids[:1].tobytes()),
        "zero_tokens": npy_bytes("<i4", [0], b""),
        "zero_sequences": npy_bytes("<i4", [0, 4], b""),
        "negative_id": npy_bytes("<i8", [4], np.array([464, -5, 318, 257], dtype="<i8").tobytes()),
        "id_beyond_vocab": npy_bytes("<i4", [4], np.array([464, 50257, 318, 257], dtype="<i4").tobytes()),
        "id_beyond_int32": npy_bytes("<i8", [2], np.array([464, 1 << 40], dtype="<i8").tobytes()),
        "huge_shape": npy_bytes("<i4", [1 << 40, 1 << 40], ids.tobytes()),
        "tokens_10000": npy_bytes("<i4", [1, 10000], np.full(10000, 262, dtype="<i4").tobytes()),
    }
    for name, data in cases.items():
        with open(os.path.join(directory, name + ".npy"), "wb") as f:
            f.write(data)


def bundled_model_with(directory, name, replace):
    """The bundled model's files, linked, with file `name` replaced by `replace(path)` (a FIFO, a link)."""
    os.makedirs(directory)
    for file in ("config.json", "model.safetensors", "encoder.json", "vocab.bpe"):
        path = os.path.join(directory, file)
        if file == name:
            replace(path)
        else:
            os.symlink(os.path.abspath(os.path.join(BUNDLED_MODEL, file)), path)


def hostile_cases(out):
    directory = os.path.join(out, "hostile")
    os.makedirs(directory)
    os.mkfifo(os.path.join(directory, "fifo"))  # no writer ever opens it: a blocking read waits forever
    for name, file in (("config", "config.json"), ("weights", "model.safetensors"), ("encoder", "encoder.json")):
        bundled_model_with(os.path.join(directory, "fifo_" + name), file, os.mkfifo)
        bundled_model_with(os.path.join(directory, "zero_" + name), file, lambda path: os.symlink("/dev/zero", path))

    def write(name, text):
        with open(os.path.join(directory, name), "w") as f:
            f.write(text)

    # toml++ recursed once per key part (40,000 and 200,000 parts overflowed the stack under ASan).
    write("dotted_key.toml", ".".join(["a"] * 40000) + " = 1\n")
    write("table_header.toml", "[" + ".".join(["a"] * 200000) + "]\n")
    write("inline_tables.toml", "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n")
    write("task_dotted_key.toml", ".".join(["a"] * 40000) + " = 1\n")
    write("task_table_header.toml", "[" + ".".join(["a"] * 200000) + "]\n")
    # Past the 4 MiB limit of a hypothesis file (comments: it would parse).
    write("huge_hypothesis.toml", ("# " + "x" * 1000 + "\n") * 5000)
    # 40,000 nodes giving one head to all: the checks compared every pair (hours, 800 million problems).
    write("many_nodes.toml", 'name = "many"\n[defaults]\ntask = "ioi"\n' +
          "".join(f'[nodes.n{i}]\nheads = "0.1"\nfeature = "io_name"\n' for i in range(40000)) +
          '[output]\nparents = ["n0"]\n')
    write("many_positions.toml", 'name = "wide"\n[defaults]\ntask = "ioi"\n[nodes.a]\nheads = "0.1"\n'
          'feature = "io_name"\npositions = [' + ",".join(str(i) for i in range(100000)) + ']\n'
          '[output]\nparents = ["a"]\n')
    # A run record whose `recovered` is 300,000 nested arrays.
    write("record_nested.json", '{"recovered": ' + "[" * 300000 + "1" + "]" * 300000 + ', "provenance": {}}')
    bundled_model_with(os.path.join(directory, "config_nested"), "config.json",
                       lambda path: open(path, "w").write('{"n_layer": ' + "[" * 100000 + "]" * 100000 + "}"))
    write("extends_fifo.toml", 'extends = "fifo"\nname = "a variant of a FIFO"\n')
    # Each file extends the one before: 3,001 files, past the limit of 64.
    chain = os.path.join(directory, "extends")
    os.makedirs(chain)
    with open(os.path.join(BUNDLED_MODEL, "..", "..", "hypotheses", "gpt2-ioi-mini", "ioi.toml")) as f:
        base = f.read()
    with open(os.path.join(chain, "f0.toml"), "w") as f:
        f.write(base)
    for i in range(1, 3001):
        with open(os.path.join(chain, f"f{i}.toml"), "w") as f:
            f.write(f'extends = "f{i - 1}.toml"\nname = "variant {i}"\n')


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    config = tiny_config()
    tensors = tiny_weights(config)
    write_dir(out, "valid", config, safetensors_bytes(entries_of(tensors)))
    safetensors_cases(out, config, tensors)
    config_cases(out, tensors)
    tokenizer_cases(out, config, tensors)
    family_cases(out)
    non_finite_cases(out)
    npy_cases(out)
    hostile_cases(out)
    tokenizer_json_cases(out)


if __name__ == "__main__":
    main()
