#!/usr/bin/env python3
"""PyTorch peer for fusekit's RMSNorm benchmark: the same shapes, the same timing method (CUDA events
around batches of 10 calls, warm-up, median, inputs rotated across sets larger than L2), eager and
torch.compile, each also captured in a CUDA graph (the strongest form). With --fusekit-json it prints
fusekit's numbers from the same run beside them and the ratio to the fastest torch variant."""
import argparse
import json
import statistics

import torch


def gemma_rmsnorm_residual(x, r, w, eps: float = 1e-6):
    s = x + r
    h = s.float()
    y = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return (y * (1.0 + w.float())).to(x.dtype), s


def gemma_rmsnorm(x, w, eps: float = 1e-6):
    h = x.float()
    y = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return (y * (1.0 + w.float())).to(x.dtype)


def time_us(fn, sets, reps=50, batch=10):
    """Median microseconds per call; events bracket batches of `batch` calls, as in fusekit_gpu_bench."""
    for i in range(2 * batch):
        fn(i % len(sets))
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    stops = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
    k = 0
    for i in range(reps):
        starts[i].record()
        for _ in range(batch):
            fn(k % len(sets))
            k += 1
        stops[i].record()
    torch.cuda.synchronize()
    t = sorted(1e3 * a.elapsed_time(b) / batch for a, b in zip(starts, stops))
    return t[len(t) // 2]


def time_graph_us(fn, sets, reps=50, batch=10):
    """Median microseconds per call when `batch` calls are captured in one CUDA graph and replayed."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for i in range(3):
            fn(i % len(sets))
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        for j in range(batch):
            fn(j % len(sets))
    for _ in range(3):
        g.replay()
    return time_us(lambda i: g.replay(), [0], reps, batch=1) / batch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fusekit-json")
    ap.add_argument("--reps", type=int, default=50)
    args = ap.parse_args()
    dev = torch.device("cuda")
    props = torch.cuda.get_device_properties(dev)
    l2 = getattr(props, "L2_cache_size", 50 << 20)
    print(f"GPU: {props.name} | torch {torch.__version__} | median of {args.reps} batches of 10 calls, CUDA events")

    n = 1 << 30
    a = torch.ones(n, dtype=torch.uint8, device=dev)
    b = torch.empty_like(a)
    copy_us = time_us(lambda i: b.copy_(a), [0], reps=20, batch=2)
    copy_gbps = 2 * n / (copy_us * 1e3)
    print(f"torch d2d copy 1 GiB: {copy_us:.1f} us, {copy_gbps:.0f} GB/s")
    del a, b

    compiled_res = torch.compile(gemma_rmsnorm_residual)
    compiled = torch.compile(gemma_rmsnorm)
    rows_cols = [(6304, 2048, True), (6304, 2048, False), (788, 2048, True), (11, 2048, True), (6304, 16384, True)]
    fk = {}
    if args.fusekit_json:
        with open(args.fusekit_json) as f:
            for r in json.load(f)["results"]:
                fk.setdefault((r["op"].split(" (")[0], r["shape"]), (r["median_us"], r["graph_us"]))
    hdr = ["eager", "compile", "eager+graph", "compile+graph", "fusekit", "fk+graph", "vs best"]
    print(f"{'op':<18} {'shape':>11} " + " ".join(f"{h:>13}" for h in hdr))
    for rows, cols, residual in rows_cols:
        nbytes = rows * cols * 2 * (4 if residual else 2)
        sets = max(2, min(32, 3 * l2 // nbytes + 1))
        xs = [torch.randn(rows, cols, device=dev, dtype=torch.bfloat16) for _ in range(sets)]
        rs = [torch.randn(rows, cols, device=dev, dtype=torch.bfloat16) for _ in range(sets)]
        w = torch.randn(cols, device=dev, dtype=torch.bfloat16) * 0.1
        if residual:
            name = "rmsnorm+residual"
            f_eager = lambda i: gemma_rmsnorm_residual(xs[i], rs[i], w)
            f_comp = lambda i: compiled_res(xs[i], rs[i], w)
        else:
            name = "rmsnorm"
            f_eager = lambda i: gemma_rmsnorm(xs[i], w)
            f_comp = lambda i: compiled(xs[i], w)
        t = [time_us(f_eager, xs, args.reps), time_us(f_comp, xs, args.reps),
             time_graph_us(f_eager, xs, args.reps), time_graph_us(f_comp, xs, args.reps)]
        ours = fk.get((name, f"{rows}x{cols}"))
        cells = [f"{v:.2f}" for v in t]
        if ours:
            cells += [f"{ours[0]:.2f}", f"{ours[1]:.2f}", f"{min(t) / ours[1]:.2f}x"]
        else:
            cells += ["-", "-", "-"]
        print(f"{name:<18} {f'{rows}x{cols}':>11} " + " ".join(f"{c:>13}" for c in cells))
    print("(us per call, medians; 'vs best' = fastest torch column / fusekit graph: > 1 means fusekit is faster)")


if __name__ == "__main__":
    main()
