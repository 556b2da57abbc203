#!/usr/bin/env python3
"""Exact edge patching in PyTorch, written to be fast: the same downstream-only algorithm as cscrub's
src/discover/exact_patching.cpp, for bench_exact's comparison.

The score of edge p -> c is the mean over pairs of logit_diff(clean run in which only c's input at that port gets
a_corrupted[p] - a_clean[p] added) - logit_diff(clean run). As cscrub does it: the clean and corrupted runs are
recorded once per call (here per layer request, timed, as cscrub's call for one layer's edges records them too); a
patched run recomputes only the child and the layers after it; only the positions from the pairs' first difference
on (earlier positions' keys and values come from the clean run's cache); the last block only at the last position;
the edges into one child together, batched over pairs (at most 4,096 rows per run); the metric from the answer's and
distractor's unembedding rows only. Tuned as bench_torch.py: OpenBLAS with the core type this CPU needs, glibc huge
pages (set by the caller), no autograd; the torch thread count that is fastest here (1 or 2, measured at start-up on
one layer's edges).

Input: a JSON file {"clean": [[ids]], "corrupted": [[ids]], "answer": [ids], "distractor": [ids]} (pairs of equal
length that agree before one common position).

usage: exact_torch.py MODEL_DIR PAIRS.json --serve
  prints "ready CORE THREADS" once loaded and tuned; then per request line:
    "layer L"   scores the edges into layer L's destinations (L = n_layer: the logits); answers the seconds taken
    "scores F"  writes every score so far (EAP-IG's edge order, NaN where not scored) to F as JSON; answers "ok"
"""
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_torch  # noqa: E402  (chooses the OpenBLAS core type before torch loads)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

MAX_ROWS = 4096


def edges_of(n_layers, n_heads):
    """EAP-IG's edges as (source, destination) indices, sources: input, then per layer heads and MLP;
    destinations: per layer q, k, v of each head, then the MLP; then the logits."""
    edges = []
    per_layer = 3 * n_heads + 1
    for layer in range(n_layers):
        earlier = 1 + layer * (n_heads + 1)
        for source in range(earlier):
            for head in range(n_heads):
                for port in range(3):
                    edges.append((source, layer * per_layer + port * n_heads + head))
        for source in range(earlier + n_heads):
            edges.append((source, layer * per_layer + 3 * n_heads))
    logits = n_layers * per_layer
    for source in range(1 + n_layers * (n_heads + 1)):
        edges.append((source, logits))
    return edges


class ExactPatching:
    def __init__(self, model, pairs):
        self.w = model.w
        self.L, self.H, self.D, self.dh, self.eps = model.n_layer, model.n_head, model.d_model, model.d_head, model.eps
        clean = torch.tensor(pairs["clean"], dtype=torch.long)
        corrupted = torch.tensor(pairs["corrupted"], dtype=torch.long)
        self.B, self.P = clean.shape
        differ = (clean != corrupted).any(dim=0).nonzero()
        self.s = int(differ[0]) if len(differ) else self.P - 1
        self.S = self.P - self.s
        w = self.w
        unembed = w["wte.weight"]
        self.direction = unembed[torch.tensor(pairs["answer"])] - unembed[torch.tensor(pairs["distractor"])]  # [B, D]
        self.layer_weights = []
        for layer in range(self.L):
            p = f"h.{layer}."
            self.layer_weights.append({key: w[p + name] for key, name in [
                ("ln1_w", "ln_1.weight"), ("ln1_b", "ln_1.bias"), ("qkv_w", "attn.c_attn.weight"),
                ("qkv_b", "attn.c_attn.bias"), ("out_w", "attn.c_proj.weight"), ("out_b", "attn.c_proj.bias"),
                ("ln2_w", "ln_2.weight"), ("ln2_b", "ln_2.bias"), ("fc_w", "mlp.c_fc.weight"),
                ("fc_b", "mlp.c_fc.bias"), ("proj_w", "mlp.c_proj.weight"), ("proj_b", "mlp.c_proj.bias")]})
        self.tokens = clean, corrupted
        self.record_pairs()
        # query i of the suffix (position s + i) sees keys 0 .. s + i
        self.mask = torch.full((self.S, self.P), float("-inf")).triu(self.s + 1)
        self.edges = edges_of(self.L, self.H)
        self.scores = [math.nan] * len(self.edges)

    def ln(self, x, weight, bias):
        return F.layer_norm(x, (self.D,), weight, bias, self.eps)

    def mlp(self, lw, x):
        hidden = F.gelu(torch.addmm(lw["fc_b"], self.ln(x, lw["ln2_w"], lw["ln2_b"]).reshape(-1, self.D), lw["fc_w"]),
                        approximate="tanh")
        return torch.addmm(lw["proj_b"], hidden, lw["proj_w"]).view(x.shape)

    def heads(self, x):  # [N, T, D] -> [N, H, T, dh]
        return x.view(x.shape[0], x.shape[1], self.H, self.dh).transpose(1, 2)

    def record_pairs(self):
        """The clean and corrupted runs, as cscrub records them at the start of each call."""
        self.clean = self.record(self.tokens[0], keep_cache=True)
        corrupted_run = self.record(self.tokens[1], keep_cache=False)
        self.delta = corrupted_run["sources"] - self.clean["sources"]  # [sources, B, S, D]
        self.clean_metric = self.metric(self.clean["final"][:, -1], torch.arange(self.B))

    def record(self, tokens, keep_cache):
        """A plain run; the source outputs at the suffix rows, and for the clean run the streams and q|k|v."""
        B, P, s, D = self.B, self.P, self.s, self.D
        x = self.w["wte.weight"][tokens] + self.w["wpe.weight"][:P]
        sources = [self.w["wte.weight"][tokens][:, s:]]
        run = {"pre": [], "mid": [], "k": [], "v": [], "q": []}
        for lw in self.layer_weights:
            run["pre"].append(x[:, s:])
            qkv = torch.addmm(lw["qkv_b"], self.ln(x, lw["ln1_w"], lw["ln1_b"]).view(-1, D), lw["qkv_w"]).view(B, P, 3 * D)
            q, k, v = (self.heads(part) for part in qkv.split(D, dim=-1))
            if keep_cache:
                run["q"].append(q)
                run["k"].append(k)
                run["v"].append(v)
            mask = torch.full((P, P), float("-inf")).triu(1)
            z = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.dh) + mask, dim=-1) @ v  # [B, H, P, dh]
            w_o = lw["out_w"].view(self.H, self.dh, D)
            results = torch.einsum("bhpd,hdm->hbpm", z[:, :, s:], w_o)  # each head's output at the suffix rows
            sources.extend(results)
            x = x + torch.addmm(lw["out_b"], z.transpose(1, 2).reshape(-1, D), lw["out_w"]).view(B, P, D)
            run["mid"].append(x[:, s:])
            mlp_out = self.mlp(lw, x)
            sources.append(mlp_out[:, s:])
            x = x + mlp_out
        run["final"] = x[:, s:]
        run["sources"] = torch.stack(sources)
        return run

    def metric(self, final_last, pairs):
        return (self.ln(final_last, self.w["ln_f.weight"], self.w["ln_f.bias"]) * self.direction[pairs]).sum(-1)

    def attend(self, q, k, v, layer, pairs, heads=slice(None)):
        """q, k, v [N, heads, S, dh] at the suffix rows (q may hold only the last row); earlier keys and values from
        the clean run's cache."""
        if self.s > 0:
            k = torch.cat([self.clean["k"][layer][pairs, heads, :self.s], k], dim=2)
            v = torch.cat([self.clean["v"][layer][pairs, heads, :self.s], v], dim=2)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.dh)
        if q.shape[2] == self.S:
            scores = scores + self.mask
        return torch.softmax(scores, dim=-1) @ v

    def run_from(self, layer, x, pairs, mlp_first):
        """The layers from `layer` (its MLP only when mlp_first) on suffix rows x [N, S, D]; the final stream at the
        last position [N, D]."""
        D, N = self.D, x.shape[0]
        if mlp_first:
            lw = self.layer_weights[layer]
            if layer == self.L - 1:
                last = x[:, -1:]
                return (last + self.mlp(lw, last))[:, 0]
            x = x + self.mlp(lw, x)
            layer += 1
        for l in range(layer, self.L):
            lw = self.layer_weights[l]
            h = self.ln(x, lw["ln1_w"], lw["ln1_b"])
            if l < self.L - 1:
                q, k, v = (self.heads(part) for part in
                           torch.addmm(lw["qkv_b"], h.reshape(-1, D), lw["qkv_w"]).view(N, self.S, 3 * D).split(D, -1))
                z = self.attend(q, k, v, l, pairs).transpose(1, 2).reshape(-1, D)
                x = x + torch.addmm(lw["out_b"], z, lw["out_w"]).view(N, self.S, D)
                x = x + self.mlp(lw, x)
            else:  # keys and values at every suffix row, the rest at the last position
                kv = torch.addmm(lw["qkv_b"][D:], h.reshape(-1, D), lw["qkv_w"][:, D:]).view(N, self.S, 2 * D)
                k, v = (self.heads(part) for part in kv.split(D, -1))
                q = self.heads(torch.addmm(lw["qkv_b"][:D], h[:, -1], lw["qkv_w"][:, :D]).view(N, 1, D))
                z = self.attend(q, k, v, l, pairs).transpose(1, 2).reshape(-1, D)
                last = x[:, -1] + torch.addmm(lw["out_b"], z, lw["out_w"])
                return last + self.mlp(lw, last.unsqueeze(1))[:, 0]
        return x[:, -1]

    def score_destination(self, destination, parents):
        """The scores of the edges from sources 0 .. parents-1 into `destination`."""
        B, S, D, H, dh, per_layer = self.B, self.S, self.D, self.H, self.dh, 3 * self.H + 1
        chunk = max(1, MAX_ROWS // (B * S))
        logits = destination == self.L * per_layer
        layer, slot = divmod(destination, per_layer)
        changes = []
        for first in range(0, parents, chunk):
            count = min(chunk, parents - first)
            delta = self.delta[first:first + count]  # [G, B, S, D]
            pairs = torch.arange(B).repeat(count)
            if logits:
                final = (self.clean["final"][:, -1] + delta[:, :, -1]).reshape(-1, D)
            elif slot == 3 * H:  # the MLP of `layer`
                lw = self.layer_weights[layer]
                inputs = (self.clean["mid"][layer] + delta).reshape(-1, S, D)
                changed = self.mlp(lw, inputs) - self.clean["sources"][1 + layer * (H + 1) + H].repeat(count, 1, 1)
                after = self.clean["pre"][layer + 1] if layer + 1 < self.L else self.clean["final"]
                final = self.run_from(layer + 1, after.repeat(count, 1, 1) + changed, pairs, False)
            else:
                port, head = divmod(slot, H)
                lw = self.layer_weights[layer]
                stream = self.ln((self.clean["pre"][layer] + delta).reshape(-1, S, D), lw["ln1_w"], lw["ln1_b"])
                column = port * D + head * dh
                projected = torch.addmm(lw["qkv_b"][column:column + dh], stream.reshape(-1, D),
                                        lw["qkv_w"][:, column:column + dh]).view(-1, 1, S, dh)
                cached = [self.clean[name][layer][:, head:head + 1, self.s:].repeat(count, 1, 1, 1) for name in "qkv"]
                cached[port] = projected
                z = self.attend(*cached, layer, pairs, slice(head, head + 1))[:, 0]  # [N, S, dh]
                w_o = lw["out_w"][head * dh:(head + 1) * dh]
                source = 1 + layer * (H + 1) + head
                mid = (self.clean["mid"][layer].repeat(count, 1, 1) + (z.reshape(-1, dh) @ w_o).view(-1, S, D) -
                       self.clean["sources"][source].repeat(count, 1, 1))
                final = self.run_from(layer, mid, pairs, True)
            changes.append((self.metric(final, pairs) - self.clean_metric[pairs]).view(count, B).mean(dim=1))
        return torch.cat(changes).tolist()

    def score_layer(self, layer):
        per_layer = 3 * self.H + 1
        destinations = [self.L * per_layer] if layer == self.L else range(layer * per_layer, (layer + 1) * per_layer)
        for destination in destinations:
            values = self.score_destination(destination, self.readable(destination))
            for source, value in enumerate(values):
                self.scores[self.edge_index[(source, destination)]] = value

    def readable(self, destination):
        per_layer = 3 * self.H + 1
        if destination == self.L * per_layer:
            return 1 + self.L * (self.H + 1)
        layer, slot = divmod(destination, per_layer)
        return 1 + layer * (self.H + 1) + (self.H if slot == 3 * self.H else 0)

    @property
    def edge_index(self):
        if not hasattr(self, "_edge_index"):
            self._edge_index = {edge: i for i, edge in enumerate(self.edges)}
        return self._edge_index


def main():
    if len(sys.argv) != 4 or sys.argv[3] != "--serve":
        sys.exit(__doc__)
    model = bench_torch.Model(sys.argv[1])
    with open(sys.argv[2]) as f:
        pairs = json.load(f)
    with torch.inference_mode():
        exact = ExactPatching(model, pairs)
        # The thread count that is fastest here, on the edges into the first layer's MLP.
        best = None
        for threads in (1, 2):
            torch.set_num_threads(threads)
            start = time.perf_counter()
            exact.score_destination(3 * exact.H, exact.readable(3 * exact.H))
            seconds = time.perf_counter() - start
            if best is None or seconds < best[1]:
                best = (threads, seconds)
        torch.set_num_threads(best[0])
        print(f"ready {bench_torch.openblas_core_in_use()} {best[0]}", flush=True)
        for request in sys.stdin:
            words = request.split()
            if words[0] == "layer":
                start = time.perf_counter()
                exact.record_pairs()  # timed, as cscrub's call for one layer records the pairs too
                exact.score_layer(int(words[1]))
                print(f"{time.perf_counter() - start:.6f}", flush=True)
            elif words[0] == "scores":
                with open(words[1], "w") as f:
                    json.dump([None if math.isnan(x) else x for x in exact.scores], f)
                print("ok", flush=True)


if __name__ == "__main__":
    main()
