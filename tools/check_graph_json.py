#!/usr/bin/python3
"""Checks that a graph JSON file loads as EAP-IG's Graph.from_json and MIB load it (hannamw/EAP-IG, graph.py):
the graph is rebuilt from "cfg" with Graph.from_model's rules, written out again here (nodes and edges in its
order), and the file must hold exactly its nodes and edges, each with the fields from_json reads.

Graph.from_model's rules: nodes input, then per layer a{L}.h0 .. a{L}.h{H-1} and m{L}, then logits; edges, layer by
layer, from every node of the residual stream so far to each head's q, k, v input (source by source, head by
head, q k v), then (sequential blocks) from the residual stream and this layer's heads to m{L} (with a parallel
attention and MLP, m{L} reads what the heads read, in the same loop); finally from every node to logits.

usage: check_graph_json.py GRAPH.json   (prints "ok: N nodes, M edges" or the first problem, exit 1)
"""
import json
import numbers
import sys


def from_model(cfg):
    nodes = ["input"]
    edges = []
    residual_stream = ["input"]
    for layer in range(cfg["n_layers"]):
        heads = [f"a{layer}.h{head}" for head in range(cfg["n_heads"])]
        mlp = f"m{layer}"
        nodes += heads + [mlp]
        if cfg["parallel_attn_mlp"]:
            for node in residual_stream:
                for head in heads:
                    for letter in "qkv":
                        edges.append(f"{node}->{head}<{letter}>")
                edges.append(f"{node}->{mlp}")
            residual_stream += heads + [mlp]
        else:
            for node in residual_stream:
                for head in heads:
                    for letter in "qkv":
                        edges.append(f"{node}->{head}<{letter}>")
            residual_stream += heads
            for node in residual_stream:
                edges.append(f"{node}->{mlp}")
            residual_stream.append(mlp)
    for node in residual_stream:
        edges.append(f"{node}->logits")
    return nodes + ["logits"], edges


def fail(message):
    print(f"check_graph_json: {message}")
    sys.exit(1)


def main():
    if len(sys.argv) != 2:
        fail("usage: check_graph_json.py GRAPH.json")
    with open(sys.argv[1]) as f:
        d = json.load(f)
    if not all(k in d for k in ("cfg", "nodes", "edges")):
        fail("Bad input JSON format - Missing keys")  # from_json's assertion
    cfg = d["cfg"]
    for key in ("n_layers", "n_heads", "parallel_attn_mlp", "d_model"):
        if key not in cfg:
            fail(f"cfg lacks {key}")
    nodes, edges = from_model(cfg)
    if list(d["nodes"]) != nodes:
        fail(f"nodes differ from Graph.from_model's: {list(d['nodes'])[:5]}... vs {nodes[:5]}...")
    for name, node in d["nodes"].items():
        if not isinstance(node.get("in_graph"), bool):
            fail(f"node {name}: in_graph is not a boolean")
        if "score" in node and not isinstance(node["score"], numbers.Real):
            fail(f"node {name}: score is not a number")
    if list(d["edges"]) != edges:
        missing = [e for e in edges if e not in d["edges"]][:3]
        extra = [e for e in d["edges"] if e not in set(edges)][:3]
        fail(f"edges differ from Graph.from_model's ({len(d['edges'])} vs {len(edges)}; missing {missing}, "
             f"unknown {extra}, or another order)")
    for name, edge in d["edges"].items():
        if not isinstance(edge.get("score"), numbers.Real) or isinstance(edge.get("score"), bool):
            fail(f"edge {name}: score is not a number")
        if not isinstance(edge.get("in_graph"), bool):
            fail(f"edge {name}: in_graph is not a boolean")
    print(f"ok: {len(nodes)} nodes, {len(edges)} edges")


if __name__ == "__main__":
    main()
