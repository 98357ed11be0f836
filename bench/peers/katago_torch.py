#!/usr/bin/env python3
"""PyTorch re-implementation of KataGo's inference graph (../shared/models/katago/FORMAT.md), reading the
same model files as fusekit: the GPU peer of katago-bench and a cross-check of fusekit's outputs.

  katago_torch.py --model NET.bin.gz [--check DIR] [--batch 1,8,64,256] [--dtype fp16|fp32]
                  [--compile] [--json FILE]

--check DIR: DIR holds bin_input.npy and global_input.npy plus fusekit's raw outputs (katago-eval
--output-dir DIR writes all of them); prints the largest differences on on-board entries.
Timing: channels_last, fp16 by default, the forward captured in a CUDA graph (eager) and, with
--compile, torch.compile'd and then captured; medians of CUDA-event-timed replays.
Supports classic, global-pooling and nested-bottleneck blocks (model versions 8..16, BN trunk tip).
"""
import argparse
import gzip
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F


# ---- model file -------------------------------------------------------------------------------------
class Reader:
    def __init__(self, path):
        raw = open(path, "rb").read()
        self.b = gzip.decompress(raw) if path.endswith(".gz") else raw
        self.i = 0
        self.binary = ".bin" in os.path.basename(path)

    def tok(self):
        b, i = self.b, self.i
        while b[i] in b" \t\r\n":
            i += 1
        j = i
        while j < len(b) and b[j] not in b" \t\r\n":
            j += 1
        self.i = j
        return b[i:j].decode()

    def int(self):
        return int(self.tok())

    def floats(self, n):
        if not self.binary:
            return np.array([float(self.tok()) for _ in range(n)], dtype=np.float32)
        at = self.b.index(b"@BIN@", self.i) + 5
        self.i = at + 4 * n
        return np.frombuffer(self.b[at:self.i], dtype="<f4").copy()


def read_model(path):
    r = Reader(path)
    m = {"name": r.tok(), "version": r.int()}
    v = m["version"]
    r.int(), r.int()
    if v >= 13:
        [float(r.tok()) for _ in range(7)]
    if v >= 15:
        meta = r.int()
        assert meta == 0, "metadata encoder nets are not supported by this peer"
        [r.int() for _ in range(7)]

    def conv():
        name, ky, kx, ic, oc, _, _ = r.tok(), r.int(), r.int(), r.int(), r.int(), r.int(), r.int()
        w = r.floats(ky * kx * ic * oc).reshape(ky, kx, ic, oc).transpose(3, 2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(w))

    def bn():
        r.tok()
        c, eps, hs, hb = r.int(), float(r.tok()), r.int(), r.int()
        mean, var = r.floats(c), r.floats(c)
        scale = r.floats(c) if hs else np.ones(c, np.float32)
        bias = r.floats(c) if hb else np.zeros(c, np.float32)
        s = scale / np.sqrt(var.astype(np.float64) + eps)
        return torch.tensor(s, dtype=torch.float32), torch.tensor(bias - s * mean, dtype=torch.float32)

    def act():
        r.tok()
        if v < 11:
            return "relu"
        return {"ACTIVATION_IDENTITY": "identity", "ACTIVATION_RELU": "relu", "ACTIVATION_MISH": "mish",
                "ACTIVATION_SILU": "silu"}[r.tok()]

    def matmul():
        r.tok()
        i, o = r.int(), r.int()
        return torch.from_numpy(r.floats(i * o).reshape(i, o))

    def matbias():
        r.tok()
        return torch.from_numpy(r.floats(r.int()))

    def block():
        kind = r.tok()
        r.tok()
        if kind == "ordinary_block":
            return {"kind": "ordinary", "pre": (bn(), act()), "conv1": conv(), "mid": (bn(), act()), "conv2": conv()}
        if kind == "gpool_block":
            pre = (bn(), act())
            cr, cg = conv(), conv()
            g = (bn(), act())
            lin = matmul()
            mid = (bn(), act())
            return {"kind": "gpool", "pre": pre, "convr": cr, "convg": cg, "g": g, "lin": lin, "mid": mid,
                    "conv2": conv()}
        if kind == "nested_bottleneck_block":
            n = r.int()
            pre, pconv = (bn(), act()), conv()
            inner = [block() for _ in range(n)]
            return {"kind": "nbt", "pre": (pre[0], pre[1]), "pconv": pconv, "inner": inner, "post": (bn(), act()),
                    "qconv": conv()}
        raise SystemExit(f"block kind {kind} is not supported by this peer")

    r.tok()
    nblocks = r.int()
    [r.int() for _ in range(5)]
    if v >= 15:
        assert r.int() == 0, "RMSNorm trunk tips are not supported by this peer"
        [r.int() for _ in range(5)]
    m["stem"], m["stem_g"] = conv(), matmul()
    m["blocks"] = [block() for _ in range(nblocks)]
    m["tip"] = (bn(), act())
    r.tok()
    if v >= 17:
        [r.int() for _ in range(4)]
    p = {"p1": conv(), "g1": conv(), "g1n": (bn(), act()), "lin_g": matmul(), "p1n": (bn(), act()), "p2": conv(),
         "pass": matmul()}
    if v >= 15:
        p["pass_b"], p["pass_act"], p["pass2"] = matbias(), act(), matmul()
    m["policy"] = p
    r.tok()
    if v >= 17:
        [r.int() for _ in range(3)]
    m["value"] = {"v1": conv(), "v1n": (bn(), act()), "v2": matmul(), "v2b": matbias(), "v2a": act(), "v3": matmul(),
                  "v3b": matbias(), "sv3": matmul(), "sv3b": matbias(), "own": conv()}
    return m


# ---- network ----------------------------------------------------------------------------------------
ACTS = {"identity": lambda x: x, "relu": F.relu, "mish": F.mish, "silu": F.silu}


class KataGoNet(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m
        self.params = torch.nn.ParameterList()
        self._register(m)

    def _register(self, obj):  # moves every tensor into the module, so .to()/.half() reach them
        if isinstance(obj, dict):
            for k, val in obj.items():
                obj[k] = self._register(val)
            return obj
        if isinstance(obj, (list, tuple)):
            out = [self._register(x) for x in obj]
            return tuple(out) if isinstance(obj, tuple) else out
        if isinstance(obj, torch.Tensor):
            p = torch.nn.Parameter(obj, requires_grad=False)
            self.params.append(p)
            return p
        return obj

    @staticmethod
    def normact(x, na, mask):
        (s, b), a = na
        return ACTS[a](x * s.view(1, -1, 1, 1) + b.view(1, -1, 1, 1)) * mask

    @staticmethod
    def conv(x, w):
        return F.conv2d(x, w, padding=w.shape[-1] // 2)

    @staticmethod
    def gpool(x, mask, msum):
        mean = x.sum((2, 3)) / msum
        mx = (x + (mask - 1)).amax((2, 3))
        return torch.cat([mean, mean * (msum.sqrt() - 14) / 10, mx], 1)

    @staticmethod
    def vpool(x, msum):
        mean = x.sum((2, 3)) / msum
        d = msum.sqrt() - 14
        return torch.cat([mean, mean * d / 10, mean * (d * d / 100 - 0.1)], 1)

    def block(self, b, x, mask, msum):
        k = b["kind"]
        if k == "ordinary":
            h = self.normact(self.conv(self.normact(x, b["pre"], mask), b["conv1"]), b["mid"], mask)
            return x + self.conv(h, b["conv2"])
        if k == "gpool":
            a = self.normact(x, b["pre"], mask)
            g = self.normact(self.conv(a, b["convg"]), b["g"], mask)
            r = self.conv(a, b["convr"]) + (self.gpool(g, mask, msum) @ b["lin"])[:, :, None, None]
            return x + self.conv(self.normact(r, b["mid"], mask), b["conv2"])
        t = self.conv(self.normact(x, b["pre"], mask), b["pconv"])
        for inner in b["inner"]:
            t = self.block(inner, t, mask, msum)
        return x + self.conv(self.normact(t, b["post"], mask), b["qconv"])

    def forward(self, spatial, glob):
        m = self.m
        mask = spatial[:, 0:1]
        msum = mask.sum((2, 3))
        x = self.conv(spatial, m["stem"]) + (glob @ m["stem_g"])[:, :, None, None]
        for b in m["blocks"]:
            x = self.block(b, x, mask, msum)
        x = self.normact(x, m["tip"], mask)
        p = m["policy"]
        g = self.normact(self.conv(x, p["g1"]), p["g1n"], mask)
        gp = self.gpool(g, mask, msum)
        h = self.normact(self.conv(x, p["p1"]) + (gp @ p["lin_g"])[:, :, None, None], p["p1n"], mask)
        policy = self.conv(h, p["p2"])
        if "pass2" in p:
            pas = ACTS[p["pass_act"]](gp @ p["pass"] + p["pass_b"]) @ p["pass2"]
        else:
            pas = gp @ p["pass"]
        v = m["value"]
        vh = self.normact(self.conv(x, v["v1"]), v["v1n"], mask)
        hv = ACTS[v["v2a"]](self.vpool(vh, msum) @ v["v2"] + v["v2b"])
        return policy, pas, hv @ v["v3"] + v["v3b"], hv @ v["sv3"] + v["sv3b"], self.conv(vh, v["own"])


# ---- main -------------------------------------------------------------------------------------------
def graphed(fn, *args):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn(*args)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out = fn(*args)
    return g, out


def time_graph(g, reps=50):
    times = []
    for _ in range(5):
        g.replay()
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        g.replay()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--check")
    ap.add_argument("--batch", default="1,8,64,256")
    ap.add_argument("--dtype", default="fp16")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    dt = torch.float16 if a.dtype == "fp16" else torch.float32
    dev = "cuda"
    net = KataGoNet(read_model(a.model)).to(dev).eval()
    result = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "dtype": a.dtype, "rows": []}

    if a.check:
        torch.backends.cudnn.allow_tf32 = False  # a true fp32 reference (cuDNN convs default to TF32)
        torch.backends.cuda.matmul.allow_tf32 = False
        s = torch.from_numpy(np.load(os.path.join(a.check, "bin_input.npy"))).to(dev)
        g = torch.from_numpy(np.load(os.path.join(a.check, "global_input.npy"))).to(dev)
        with torch.no_grad():
            ref = [t.float().cpu().numpy() for t in net.float()(s, g)]
        names = ["policy", "policy_pass", "value", "scorevalue", "ownership"]
        onb = s[:, 0:1].cpu().numpy() != 0
        worst = {}
        for name, want in zip(names, ref):
            got = np.load(os.path.join(a.check, name + ".npy"))
            d = np.abs(got - want)
            if name in ("policy", "ownership"):
                d = d * np.broadcast_to(onb, d.shape)
            worst[name] = float(d.max())
        print("fusekit vs torch fp32 (max |diff| on the board):", json.dumps(worst))
        result["check"] = worst

    torch.backends.cudnn.allow_tf32 = True
    net = net.to(dt).to(memory_format=torch.channels_last)
    compiled = torch.compile(net) if a.compile else None
    print(f"{result['gpu']}, torch {torch.__version__}, {a.dtype}, channels_last")
    print(f"{'batch':>6} {'graph ms':>10} {'pos/s':>10} {'compile+graph ms':>17} {'pos/s':>10}")
    for n in [int(x) for x in a.batch.split(",")]:
        torch.manual_seed(n)
        s = (torch.rand(n, 22, 19, 19, device=dev) < 0.25).to(dt)
        s[:, 0] = 1
        s = s.contiguous(memory_format=torch.channels_last)
        g = (torch.rand(n, 19, device=dev) - 0.5).to(dt)
        row = {"batch": n}
        with torch.no_grad():
            gr, _ = graphed(net, s, g)
            row["graph_ms"] = time_graph(gr)
            del gr
            if compiled is not None:
                gr, _ = graphed(compiled, s, g)
                row["compile_graph_ms"] = time_graph(gr)
                del gr
        best = min(v for k, v in row.items() if k.endswith("_ms"))
        row["best_positions_per_s"] = n / (best * 1e-3)
        result["rows"].append(row)
        cg = row.get("compile_graph_ms", float("nan"))
        print(f"{n:>6} {row['graph_ms']:>10.3f} {n / row['graph_ms'] * 1e3:>10.0f} {cg:>17.3f} {n / cg * 1e3:>10.0f}", flush=True)
    if a.json:
        json.dump(result, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
