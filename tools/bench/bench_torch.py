#!/usr/bin/env python3
"""PyTorch's best CPU forward of a GPT-2 model directory, for bench_engine's comparison.

Tuned as a PyTorch user would tune it on this machine: Debian's torch with OpenBLAS (libopenblas0-pthread),
on a CPU with AVX-512 OPENBLAS_CORETYPE=SkylakeX (OpenBLAS 0.3.21 does not know Zen 4 and 5 and would fall back
to SSE3 kernels; elsewhere OpenBLAS's own detection, since SkylakeX kernels die of an illegal instruction
without AVX-512), and one torch thread (torch's threads otherwise fight OpenBLAS's). bench_engine also runs it with
GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (huge pages for fresh tensors: 2x faster on virtual machines, where
page faults are expensive). Prints one line: tokens/s.

With --serve it times one forward per request instead, so that bench_engine can alternate its own forwards
with PyTorch's (both then see the same machine: on a shared virtual machine the speed drifts by 20% within
a minute). It first prints "ready CORE" (the OpenBLAS core type in use) once the model is loaded. Requests on
stdin, one per line: "all" or "last"; each answer is one line, the seconds taken.

usage: bench_torch.py MODEL_DIR --batch 64 --positions 16 (--repeat 5 [--last-only] | --serve)
"""
import os


def choose_openblas_core():
    """CSCRUB_BENCH_OPENBLAS_CORETYPE if set; else SkylakeX on a CPU with AVX-512, else OpenBLAS's own choice.

    Never inherited: an OPENBLAS_CORETYPE=Haswell exported on AVX-512 machines here cost 40%."""
    core = os.environ.get("CSCRUB_BENCH_OPENBLAS_CORETYPE")
    if core is None:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line.split() for line in cpuinfo if line.startswith("flags")), [])
        core = "SkylakeX" if "avx512f" in flags else ""
    if core:
        os.environ["OPENBLAS_CORETYPE"] = core
    else:
        os.environ.pop("OPENBLAS_CORETYPE", None)


choose_openblas_core()  # before torch loads OpenBLAS

import argparse  # noqa: E402
import ctypes  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from reference_forward import Model  # noqa: E402


def fast_forward(model, tokens, last_only):
    w = model.w
    batch, pos = tokens.shape
    H, dh, D = model.n_head, model.d_head, model.d_model
    x = w["wte.weight"][tokens] + w["wpe.weight"][:pos]
    mask = torch.full((pos, pos), float("-inf")).triu(1)
    for layer in range(model.n_layer):
        p = f"h.{layer}."
        h = F.layer_norm(x, (D,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], model.eps)
        qkv = torch.addmm(w[p + "attn.c_attn.bias"], h.view(-1, D), w[p + "attn.c_attn.weight"])
        q, k, v = qkv.view(batch, pos, 3, H, dh).permute(2, 0, 3, 1, 4)
        scores = torch.baddbmm(mask.expand(batch * H, pos, pos), q.reshape(-1, pos, dh),
                               k.reshape(-1, pos, dh).transpose(1, 2), alpha=1.0 / math.sqrt(dh))
        z = torch.bmm(torch.softmax(scores, dim=-1), v.reshape(-1, pos, dh))
        z = z.view(batch, H, pos, dh).transpose(1, 2).reshape(-1, D)
        x = x + torch.addmm(w[p + "attn.c_proj.bias"], z, w[p + "attn.c_proj.weight"]).view(batch, pos, D)
        h = F.layer_norm(x, (D,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], model.eps)
        hidden = F.gelu(torch.addmm(w[p + "mlp.c_fc.bias"], h.view(-1, D), w[p + "mlp.c_fc.weight"]), approximate="tanh")
        x = x + torch.addmm(w[p + "mlp.c_proj.bias"], hidden, w[p + "mlp.c_proj.weight"]).view(batch, pos, D)
    if last_only:
        x = x[:, -1, :]
    x = F.layer_norm(x, (D,), w["ln_f.weight"], w["ln_f.bias"], model.eps)
    return x @ w["wte.weight"].T


def openblas_core_in_use():
    """The core type of the OpenBLAS that torch loaded, or a note that torch runs without OpenBLAS."""
    with open("/proc/self/maps") as maps:
        libraries = sorted({line.split()[-1] for line in maps if "libopenblas" in line})
    if not libraries:
        return "none (reference BLAS: install libopenblas0-pthread)"
    corename = ctypes.CDLL(libraries[0]).openblas_get_corename
    corename.restype = ctypes.c_char_p
    return corename().decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--positions", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--last-only", action="store_true")
    parser.add_argument("--serve", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = Model(args.model_dir)
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, model.w["wte.weight"].shape[0], (args.batch, args.positions), generator=generator)
    with torch.inference_mode():
        if args.serve:
            print(f"ready {openblas_core_in_use()}", flush=True)
            for request in sys.stdin:
                start = time.perf_counter()
                fast_forward(model, tokens, request.strip() == "last")
                print(f"{time.perf_counter() - start:.6f}", flush=True)
            return
        fast_forward(model, tokens, args.last_only)  # warm-up
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            fast_forward(model, tokens, args.last_only)
            best = min(best, time.perf_counter() - start)
    print(f"{args.batch * args.positions / best:.1f}")


if __name__ == "__main__":
    main()
