#!/usr/bin/env python3
"""An expert PyTorch CPU implementation of EAP-IG over every edge (EAP-IG's attribute.py, made fast), for
bench_discover's comparison: the same scores as `cscrub discover --method eap-ig` on the same pairs.

What makes it fast, as a PyTorch expert would write it for a CPU:
- weights without gradients (autograd computes activation gradients only), float32, OpenBLAS tuned as
  bench_torch.py tunes it (core type; glibc huge pages from the caller), and the faster of 1 and 2 torch threads;
- the metric from the two unembedding rows (ln_f of the last position · (W_U[answer] - W_U[distractor])), never
  the full logits;
- the corrupted run is step 0 of the interpolation (its embeddings are the corrupted ones): it records the
  corrupted activations while it runs with gradients, so M steps cost M + 1 forwards (one clean, no gradients);
- no split copies of the residual stream per head (TransformerLens's use_split_qkv_input): backward hooks on q, k,
  v and ln_2's output give dq, dk, dv, d ln_2(x); each head's own input gradient is LN_1ᵀ(dq_h W_q[h]ᵀ), batched
  over heads with bmm, and ln_2's likewise; each is contracted with the activation differences as it arrives,
  one matrix product per port and layer over every pair at once (Δ stored [source, batch * pos * d_model]);
- a head's Δ from Δz: (z_corrupted - z_clean)_h W_O[h], one bmm per layer.

With --serve it answers one request per line ("run") with the seconds one EAP-IG took, after printing
"ready CORE THREADS" (the OpenBLAS core type and the torch thread count it chose) once calibrated.
usage: bench_eap_torch.py MODEL_DIR --batch 32 --positions 16 --steps 5 (--repeat 3 | --serve) [--scores OUT.npy]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import choose_openblas_core, openblas_core_in_use  # noqa: E402  (sets OPENBLAS_CORETYPE first)

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from reference_forward import Model  # noqa: E402


def layer_norm_backward(d_out, normalized, inverse_scale, weight):
    """d input of layer norm from d output; normalized = (x - mean) / scale, inverse_scale = 1 / scale."""
    g = d_out * weight
    return (g - g.mean(-1, keepdim=True) - normalized * (g * normalized).mean(-1, keepdim=True)) * inverse_scale


class EapIg:
    def __init__(self, model, batch, positions, steps):
        self.model, self.batch, self.positions, self.steps = model, batch, positions, steps
        w, H, L = model.w, model.n_head, model.n_layer
        self.sources = 1 + L * (H + 1)
        self.destinations = L * (3 * H + 1) + 1
        D, dh = model.d_model, model.d_head
        # Per head: W_q[h] etc. as [H, d_head, D] (for dq_h · W_q[h]ᵀ) and W_O[h] as [H, d_head, D].
        self.w_in = []
        self.w_out = []
        for layer in range(L):
            c_attn = w[f"h.{layer}.attn.c_attn.weight"]  # [D, 3D]
            self.w_in.append([c_attn[:, i * D:(i + 1) * D].reshape(D, H, dh).permute(1, 2, 0).contiguous()
                              for i in range(3)])
            self.w_out.append(w[f"h.{layer}.attn.c_proj.weight"].reshape(H, dh, D).contiguous())

    def forward(self, embed, record=None, hooks=None):
        """Returns the metric per pair. `record` (dict) receives z and mlp_out per layer; `hooks` attaches the
        backward hooks that contract gradients."""
        m, w = self.model, self.model.w
        B, P, H, dh, D = self.batch, self.positions, m.n_head, m.d_head, m.d_model
        x = embed + w["wpe.weight"][:P]
        mask = torch.full((P, P), float("-inf")).triu(1)
        for layer in range(m.n_layer):
            p = f"h.{layer}."
            mean = x.mean(-1, keepdim=True)
            inverse_scale = torch.rsqrt(x.var(-1, unbiased=False, keepdim=True) + m.eps)
            h = F.layer_norm(x, (D,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], m.eps)
            qkv = torch.addmm(w[p + "attn.c_attn.bias"], h.view(-1, D), w[p + "attn.c_attn.weight"])
            q, k, v = qkv.view(B, P, 3, H, dh).unbind(2)
            if hooks is not None:
                normalized = ((x - mean) * inverse_scale).detach()
                for port, tensor in enumerate((q, k, v)):
                    tensor.register_hook(hooks.attention(layer, port, normalized, inverse_scale.detach()))
            q, k, v = (t.permute(0, 2, 1, 3) for t in (q, k, v))
            scores = torch.baddbmm(mask.expand(B * H, P, P), q.reshape(-1, P, dh), k.reshape(-1, P, dh).transpose(1, 2),
                                   alpha=1.0 / math.sqrt(dh))
            z = torch.bmm(torch.softmax(scores, dim=-1), v.reshape(-1, P, dh))
            z = z.view(B, H, P, dh).transpose(1, 2).reshape(-1, D)
            if record is not None:
                record[("z", layer)] = z.detach()
            x = x + torch.addmm(w[p + "attn.c_proj.bias"], z, w[p + "attn.c_proj.weight"]).view(B, P, D)
            mean = x.mean(-1, keepdim=True)
            inverse_scale = torch.rsqrt(x.var(-1, unbiased=False, keepdim=True) + m.eps)
            h = F.layer_norm(x, (D,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], m.eps)
            if hooks is not None:
                h.register_hook(hooks.mlp(layer, ((x - mean) * inverse_scale).detach(), inverse_scale.detach()))
            hidden = F.gelu(torch.addmm(w[p + "mlp.c_fc.bias"], h.view(-1, D), w[p + "mlp.c_fc.weight"]), approximate="tanh")
            mlp_out = torch.addmm(w[p + "mlp.c_proj.bias"], hidden, w[p + "mlp.c_proj.weight"]).view(B, P, D)
            if record is not None:
                record[("mlp", layer)] = mlp_out.detach()
            x = x + mlp_out
        if hooks is not None:
            x.register_hook(hooks.logits())
        last = F.layer_norm(x[:, -1], (D,), w["ln_f.weight"], w["ln_f.bias"], m.eps)
        return (last * self.direction).sum(-1)

    def run(self, clean_tokens, corrupted_tokens, answers, distractors):
        m, w = self.model, self.model.w
        B, P, H, D, L = self.batch, self.positions, m.n_head, m.d_model, m.n_layer
        rows = B * P
        self.direction = w["wte.weight"][answers] - w["wte.weight"][distractors]
        scores = torch.zeros(self.sources, self.destinations)
        delta = torch.empty(self.sources, rows * D)
        clean_embed = w["wte.weight"][clean_tokens]
        corrupted_embed = w["wte.weight"][corrupted_tokens]
        clean = {}
        with torch.inference_mode():
            self.forward(clean_embed, record=clean)
        delta[0] = (corrupted_embed - clean_embed).reshape(-1)
        hooks = Contraction(self, delta, scores)
        for step in range(self.steps):
            record = {} if step == 0 else None
            embed = (corrupted_embed + (step / self.steps) * (clean_embed - corrupted_embed)).requires_grad_(True)
            metric = self.forward(embed, record=record, hooks=hooks)
            if step == 0:  # the corrupted run: the differences, before the backward reads them
                with torch.no_grad():
                    for layer in range(L):
                        first = 1 + layer * (H + 1)
                        dz = (record[("z", layer)] - clean[("z", layer)]).view(rows, H, -1).transpose(0, 1)
                        delta[first:first + H] = torch.bmm(dz, self.w_out[layer]).view(H, -1)
                        delta[first + H] = (record[("mlp", layer)] - clean[("mlp", layer)]).reshape(-1)
            metric.sum().backward()
        return scores / (B * self.steps)


class Contraction:
    """Backward hooks that turn each gradient into its destinations' inputs and contract them with Δ."""

    def __init__(self, eap, delta, scores):
        self.eap, self.delta, self.scores = eap, delta, scores

    def attention(self, layer, port, normalized, inverse_scale):
        eap, m = self.eap, self.eap.model
        H, D = m.n_head, m.d_model
        rows = eap.batch * eap.positions
        first_source = 1 + layer * (H + 1)
        first_destination = layer * (3 * H + 1) + port * H

        def hook(grad):  # [B, P, H, dh]
            per_head = torch.bmm(grad.reshape(rows, H, -1).transpose(0, 1), eap.w_in[layer][port])  # [H, rows, D]
            inputs = layer_norm_backward(per_head, normalized.view(1, rows, D), inverse_scale.view(1, rows, 1),
                                         m.w[f"h.{layer}.ln_1.weight"])
            self.scores[:first_source, first_destination:first_destination + H] += \
                self.delta[:first_source] @ inputs.view(H, -1).T
        return hook

    def mlp(self, layer, normalized, inverse_scale):
        m = self.eap.model
        H = m.n_head
        sources = 1 + layer * (H + 1) + H
        destination = layer * (3 * H + 1) + 3 * H

        def hook(grad):  # [B, P, D]
            inputs = layer_norm_backward(grad, normalized, inverse_scale, m.w[f"h.{layer}.ln_2.weight"])
            self.scores[:sources, destination] += self.delta[:sources] @ inputs.reshape(-1)
        return hook

    def logits(self):
        def hook(grad):
            self.scores[:, -1] += self.delta @ grad.reshape(-1)
        return hook


def pairs(vocab, batch, positions):
    generator = torch.Generator().manual_seed(0)
    clean = torch.randint(0, vocab, (batch, positions), generator=generator)
    corrupted = torch.randint(0, vocab, (batch, positions), generator=generator)
    answers = torch.randint(0, vocab, (batch,), generator=generator)
    return clean, corrupted, answers, (answers + 1) % vocab


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--positions", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the faster of 1 and 2)")
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--scores", help="write the [sources, destinations] scores of the first run as .npy")
    parser.add_argument("--pairs-out", help="write the pairs as a pair file (JSON Lines), for checking the scores")
    args = parser.parse_args()
    model = Model(args.model_dir)
    eap = EapIg(model, args.batch, args.positions, args.steps)
    data = pairs(model.w["wte.weight"].shape[0], args.batch, args.positions)
    if args.pairs_out:
        import json
        with open(args.pairs_out, "w") as f:
            for b in range(args.batch):
                f.write(json.dumps({"clean": data[0][b].tolist(), "corrupted": data[1][b].tolist(),
                                    "answer": int(data[2][b]), "distractor": int(data[3][b])}) + "\n")

    def timed():
        start = time.perf_counter()
        scores = eap.run(*data)
        return time.perf_counter() - start, scores

    if args.repeat == 0 and not args.serve:
        return  # the pairs only
    threads = args.threads
    if threads == 0:  # its best thread count, measured
        best = None
        for candidate in (1, 2):
            torch.set_num_threads(candidate)
            timed()
            seconds = min(timed()[0] for _ in range(2))
            if best is None or seconds < best[0]:
                best = (seconds, candidate)
        threads = best[1]
    torch.set_num_threads(threads)
    seconds, scores = timed()
    if args.scores:
        np.save(args.scores, scores.numpy())
    if args.serve:
        print(f"ready {openblas_core_in_use()} {threads}", flush=True)
        for _ in sys.stdin:
            print(f"{timed()[0]:.6f}", flush=True)
        return
    print(f"torch threads {threads}, OpenBLAS {openblas_core_in_use()}: best of {args.repeat}: "
          f"{min(timed()[0] for _ in range(args.repeat)):.3f} s")


if __name__ == "__main__":
    main()
