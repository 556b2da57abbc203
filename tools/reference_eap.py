#!/usr/bin/python3
"""Independent PyTorch reference of EAP and EAP-IG edge scores, written from EAP-IG's definitions
(hannamw/EAP-IG, attribute.py) on tools/reference_forward.py's forward pass, for cscrub's tests.

For each pair, one at a time (no padding), in float64 unless --float32:
  Δ[p] = a_corrupted[p] - a_clean[p] for every source p: hook_embed, attn.hook_result (each head), hook_mlp_out;
  EAP:    the gradient of the pair's metric on the clean run;
  EAP-IG: the gradient averaged over M runs of the clean tokens whose token embeddings are
          corrupted + (k/M)(clean - corrupted), k = 0..M-1;
  score(p -> c) += Σ_positions Δ[p] · d metric / d(c's input): hook_q_input/k_input/v_input (head h), hook_mlp_in,
  the last hook_resid_post (the logits node);
then the mean over pairs. The metric reads the last position with the pair's answer and distractor:
logit_diff, prob_diff, kl (KL of the clean run's distribution from this run's), loss (-log p(answer)).

The graph (nodes, edges and their order) is rebuilt here from EAP-IG's rules: every source that writes before
the destination reads (a head of layer L reads the input and every head and MLP of earlier layers; the MLP of
layer L also the heads of layer L, unless attention and MLP run in parallel (GPT-NeoX's use_parallel_residual);
the logits everything). Any family reference_forward.py runs: GPT-2, GPT-Neo, GPT-NeoX (Pythia).

usage: reference_eap.py --model DIR --pairs PAIRS.jsonl --method eap|eap-ig [--steps M] [--metric M] --out GRAPH.json
PAIRS.jsonl: one {"clean": [ids], "corrupted": [ids], "answer": id, "distractor": id} per line (ids only).
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_forward import Model, forward  # noqa: E402


def graph_of(n_layers, n_heads, parallel):
    """EAP-IG's sources and edges: (source names, [(edge name, source name, destination key)])."""
    sources = ["input"]
    edges = []
    for layer in range(n_layers):
        earlier = list(sources)
        for head in range(n_heads):
            for letter in "qkv":
                for source in earlier:
                    edges.append((f"{source}->a{layer}.h{head}<{letter}>", source, ("qkv", layer, head, letter)))
        heads = [f"a{layer}.h{head}" for head in range(n_heads)]
        for source in earlier + ([] if parallel else heads):
            edges.append((f"{source}->m{layer}", source, ("mlp", layer)))
        sources += heads + [f"m{layer}"]
    for source in sources:
        edges.append((f"{source}->logits", source, ("logits",)))
    return sources, edges


def metric_of(kind, last_logits, clean_last_logits, answer, distractor):
    if kind == "logit_diff":
        return last_logits[answer] - last_logits[distractor]
    log_p = torch.log_softmax(last_logits, dim=-1)
    if kind == "prob_diff":
        return log_p[answer].exp() - log_p[distractor].exp()
    if kind == "loss":
        return -log_p[answer]
    if kind == "kl":
        clean_log_p = torch.log_softmax(clean_last_logits, dim=-1)
        return (clean_log_p.exp() * (clean_log_p - log_p)).sum()
    sys.exit(f"unknown metric {kind}")


def source_activations(model, tokens):
    """Logits and every source's activation [pos, d_model] (no gradients)."""
    acts = {}

    def hook(name, tensor):
        if name == "hook_embed":
            acts["input"] = tensor[0].clone()
        elif name.endswith("attn.hook_result"):
            layer = int(name.split(".")[1])
            for head in range(model.n_head):
                acts[f"a{layer}.h{head}"] = tensor[0, :, head].clone()
        elif name.endswith("hook_mlp_out"):
            acts[f"m{int(name.split('.')[1])}"] = tensor[0].clone()
        return tensor

    with torch.no_grad():
        logits = forward(model, tokens.unsqueeze(0), hook)
    return logits[0], acts


def destination_gradients(model, tokens, embed, metric):
    """The gradient of metric(last-position logits) with respect to every destination's input, running `tokens`
    with the token embeddings replaced by `embed` (or not, when None)."""
    kept = {}

    def hook(name, tensor):
        if name == "hook_embed" and embed is not None:
            tensor = embed.unsqueeze(0).clone()
        if name.endswith(("hook_q_input", "hook_k_input", "hook_v_input", "hook_mlp_in")) or \
                name == f"blocks.{model.n_layer - 1}.hook_resid_post":
            tensor.retain_grad()
            kept[name] = tensor
        elif not tensor.requires_grad and name == "hook_embed":
            tensor = tensor.detach().requires_grad_(True)  # the leaf the gradient starts from
        return tensor

    logits = forward(model, tokens.unsqueeze(0), hook, split_inputs=True)
    metric(logits[0, -1]).backward()
    gradients = {}
    for name, tensor in kept.items():
        parts = name.split(".")
        layer, site = int(parts[1]), parts[2]
        grad = tensor.grad[0]
        if site in ("hook_q_input", "hook_k_input", "hook_v_input"):
            for head in range(model.n_head):
                gradients[("qkv", layer, head, site[5])] = grad[:, head]
        elif site == "hook_mlp_in":
            gradients[("mlp", layer)] = grad
        else:
            gradients[("logits",)] = grad
    return gradients


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--method", choices=["eap", "eap-ig"], required=True)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--metric", default="logit_diff", choices=["logit_diff", "prob_diff", "kl", "loss"])
    parser.add_argument("--float32", action="store_true")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = Model(args.model, torch.float32 if args.float32 else torch.float64)
    with open(args.pairs) as f:
        pairs = [json.loads(line) for line in f if line.strip()]
    parallel = model.family == "gpt_neox" and model.parallel
    sources, edges = graph_of(model.n_layer, model.n_head, parallel)
    scores = torch.zeros(len(edges), dtype=torch.float64)
    steps = args.steps if args.method == "eap-ig" else 1
    for pair in pairs:
        clean = torch.tensor(pair["clean"], dtype=torch.long)
        corrupted = torch.tensor(pair["corrupted"], dtype=torch.long)
        clean_logits, clean_acts = source_activations(model, clean)
        _, corrupted_acts = source_activations(model, corrupted)
        delta = {name: corrupted_acts[name] - clean_acts[name] for name in sources}

        def metric(last_logits):
            return metric_of(args.metric, last_logits, clean_logits[-1], pair["answer"], pair["distractor"])

        for step in range(steps):
            embed = None
            if args.method == "eap-ig":
                embed = corrupted_acts["input"] + (step / steps) * (clean_acts["input"] - corrupted_acts["input"])
            gradients = destination_gradients(model, clean, embed, metric)
            for index, (_, source, destination) in enumerate(edges):
                scores[index] += (delta[source] * gradients[destination]).sum().to(torch.float64) / steps
    scores /= len(pairs)
    graph = {"cfg": {"n_layers": model.n_layer, "n_heads": model.n_head, "parallel_attn_mlp": parallel,
                     "d_model": model.d_model},
             "nodes": {name: {"in_graph": False} for name in sources + ["logits"]},
             "edges": {name: {"score": scores[i].item(), "in_graph": False} for i, (name, _, _) in enumerate(edges)}}
    with open(args.out, "w") as f:
        json.dump(graph, f)


if __name__ == "__main__":
    main()
