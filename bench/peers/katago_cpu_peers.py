#!/usr/bin/env python3
"""CPU peers of katago-bench --device cpu: the same KataGo graph (katago_torch.KataGoNet, reading the same
model file) in PyTorch on the CPU (fp32: eager NCHW and channels_last, oneDNN convolutions; torch.compile)
and in ONNX Runtime (the module exported to ONNX), timed at the given thread counts. Issue #6 compares
fusekit's CPU network with the fastest of them.

  katago_cpu_peers.py --model NET.bin.gz [--batch 8] [--threads 1,16] [--seconds 3] [--json FILE]
                      [--forms nchw,channels_last,compile,onnxruntime]

Inputs: random binary features with the whole board on (the same kind katago_torch.py times). Times are
medians of wall-clock calls after two warm-up calls; positions/s = batch / median.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from katago_torch import KataGoNet, read_model  # noqa: E402


def median_seconds(fn, seconds):
    for _ in range(2):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < seconds and len(times) < 200):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), len(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", default="1,16")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--forms", default="nchw,channels_last,compile,onnxruntime")
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.manual_seed(a.batch)
    s = (torch.rand(a.batch, 22, 19, 19) < 0.25).float()
    s[:, 0] = 1
    g = torch.rand(a.batch, 19) - 0.5
    net = KataGoNet(read_model(a.model)).float().eval()
    rows = []

    def report(peer, threads, sec, runs):
        row = {"peer": peer, "threads": threads, "batch": a.batch, "ms": sec * 1e3, "positions_per_s": a.batch / sec,
               "runs": runs}
        rows.append(row)
        print(f"{peer:<30} {threads:>7} {a.batch:>6} {sec * 1e3:>10.1f} {a.batch / sec:>10.1f} {runs:>6}", flush=True)

    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, model {os.path.basename(a.model)}")
    print(f"{'peer':<30} {'threads':>7} {'batch':>6} {'ms/batch':>10} {'pos/s':>10} {'runs':>6}")
    threads = [int(t) for t in a.threads.split(",")]
    forms = a.forms.split(",")
    # PyTorch eager in both memory formats (oneDNN convolutions either way), and torch.compile (Inductor's
    # C++ code for everything between the convolutions) on the faster format.
    net_cl = KataGoNet(read_model(a.model)).float().eval().to(memory_format=torch.channels_last)
    s_cl = s.contiguous(memory_format=torch.channels_last)
    variants = [("torch eager (NCHW)", "nchw", lambda: net(s, g)),
                ("torch eager (channels_last)", "channels_last", lambda: net_cl(s_cl, g))]
    if "compile" in forms:
        compiled = torch.compile(net_cl)
        variants.append(("torch.compile (channels_last)", "compile", lambda: compiled(s_cl, g)))
    for name, form, fn in variants:
        if form not in forms:
            continue
        for t in threads:
            torch.set_num_threads(t)
            try:
                with torch.inference_mode():
                    sec, runs = median_seconds(fn, a.seconds)
            except Exception as e:  # noqa: BLE001 (a form that fails here is reported, the others still run)
                print(f"{name}: failed: {type(e).__name__}: {str(e)[:200]}")
                break
            report(name, t, sec, runs)
    # ONNX Runtime on the exported graph.
    try:
        import onnxruntime as ort
    except ImportError as e:
        print(f"onnxruntime: not available ({e})")
        ort = None
    if ort is not None and "onnxruntime" in forms:
        path = os.path.join(tempfile.mkdtemp(), "katago.onnx")
        try:
            torch.onnx.export(net, (s, g), path, input_names=["spatial", "global"], opset_version=17, dynamo=False)
        except Exception as e:  # noqa: BLE001 (report any exporter failure and go on)
            print(f"onnx export failed: {type(e).__name__}: {e}")
            path = None
        if path:
            feeds = {"spatial": s.numpy(), "global": g.numpy()}
            for t in threads:
                so = ort.SessionOptions()
                so.intra_op_num_threads = t
                so.inter_op_num_threads = 1
                sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
                sec, runs = median_seconds(lambda: sess.run(None, feeds), a.seconds)
                report(f"onnxruntime {ort.__version__}", t, sec, runs)
    if a.json:
        json.dump({"cpus": os.cpu_count(), "torch": torch.__version__, "rows": rows}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
