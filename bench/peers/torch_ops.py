#!/usr/bin/env python3
"""PyTorch peer for fusekit_gpu_bench: the same ops and shapes, the same timing method (CUDA events
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


def layernorm(x, w, b, eps: float = 1e-6):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def gelu_tanh_mul(gu):
    g, u = gu.chunk(2, dim=-1)
    return torch.nn.functional.gelu(g, approximate="tanh") * u


def mish(x):
    return torch.nn.functional.mish(x)


def norm_act_mish(x, scale, bias, mask):
    # NHWC storage: x [N, H, W, C], per-channel scale/bias over the last axis, mask [N, H, W, 1]
    return torch.nn.functional.mish(x * scale + bias) * mask


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope_qk(q, k, cos, sin):
    # Hugging Face apply_rotary_pos_emb with cos/sin [T, 1, D] precomputed once per forward (not timed);
    # in place like fusekit's rope_qk
    q.copy_(q * cos + rotate_half(q) * sin)
    k.copy_(k * cos + rotate_half(k) * sin)


def softmax_scaled(x):
    return torch.softmax(x.float() * 0.0625, dim=-1).to(x.dtype)


def gemma_rmsnorm(x, w, eps: float = 1e-6):
    h = x.float()
    y = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
    return (y * (1.0 + w.float())).to(x.dtype)


def linear(x, w):
    return torch.nn.functional.linear(x, w)


def linear_geglu(x, w):
    g, u = torch.nn.functional.linear(x, w).chunk(2, dim=-1)
    return torch.nn.functional.gelu(g, approximate="tanh") * u


def rmsnorm_linear(x, nw, w):
    return linear(gemma_rmsnorm(x, nw), w)


def rmsnorm_linear_geglu(x, nw, w):
    return linear_geglu(gemma_rmsnorm(x, nw), w)


def normact_conv_residual(x, scale, bias, mask, w, r):
    a = torch.nn.functional.mish(x * scale + bias) * mask
    return torch.nn.functional.conv2d(a, w, padding=1) + r


def conv3x3(x, w):
    return torch.nn.functional.conv2d(x, w, padding=1)


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
    ap.add_argument("--only", choices=["ops", "gemm", "conv"], help="one group of cases (default: all)")
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

    def rand(*shape, dtype=torch.bfloat16):
        return torch.rand(*shape, device=dev, dtype=torch.float32).mul_(4).sub_(2).to(dtype)

    # (fusekit op name, shape label, torch function, binder: f -> (set index -> call), number of input sets)
    cases = []
    if args.only in (None, "gemm"):
        add_gemm_cases(cases, rand, l2)
    if args.only in (None, "conv"):
        add_conv_cases(cases, rand, l2)
    if args.only == "conv":
        return report(cases, args)
    for rows, cols, residual in [] if args.only == "gemm" else [(6304, 2048, True), (6304, 2048, False), (788, 2048, True), (11, 2048, True),
                                 (6304, 16384, True)]:
        nbytes = rows * cols * 2 * (4 if residual else 2)
        sets = max(2, min(32, 3 * l2 // nbytes + 1))
        xs = [rand(rows, cols) for _ in range(sets)]
        rs = [rand(rows, cols) for _ in range(sets)]
        w = rand(cols)
        if residual:
            cases.append(("rmsnorm+residual", f"{rows}x{cols}", gemma_rmsnorm_residual,
                          lambda f, xs=xs, rs=rs, w=w: (lambda i: f(xs[i], rs[i], w)), sets))
        else:
            cases.append(("rmsnorm", f"{rows}x{cols}", gemma_rmsnorm,
                          lambda f, xs=xs, w=w: (lambda i: f(xs[i], w)), sets))
    if args.only == "gemm":
        return report(cases, args)
    sets = max(2, min(32, 3 * l2 // (768 * 1152 * 4) + 1))
    lx = [rand(768, 1152) for _ in range(sets)]
    lw, lb = rand(1152), rand(1152)
    cases.append(("layernorm", "768x1152", layernorm, lambda f: (lambda i: f(lx[i], lw, lb)), sets))
    sets = max(2, min(32, 3 * l2 // (788 * 16384 * 6) + 1))
    gu = [rand(788, 2 * 16384) for _ in range(sets)]
    cases.append(("gelu_tanh*mul [gate|up]", "788x2x16384", gelu_tanh_mul, lambda f: (lambda i: f(gu[i])), sets))
    n = 256 * 384 * 19 * 19
    sets = max(2, min(32, 3 * l2 // (n * 4) + 1))
    mx = [rand(256, 19, 19, 384, dtype=torch.float16) for _ in range(sets)]  # NHWC storage order
    cases.append(("mish", "256x384x19x19", mish, lambda f: (lambda i: f(mx[i])), sets))
    sc, bc = rand(384, dtype=torch.float16), rand(384, dtype=torch.float16)
    mk = (torch.arange(256 * 19 * 19, device=dev) % 7 != 0).to(torch.float16).view(256, 19, 19, 1)
    cases.append(("norm_act mish (NHWC, mask)", "256x384x19x19", norm_act_mish,
                  lambda f: (lambda i: f(mx[i], sc, bc, mk)), sets))
    T, D = 788, 256
    sets = max(2, min(32, 3 * l2 // (T * 9 * D * 4) + 1))
    qs = [rand(T, 8, D) for _ in range(sets)]
    ks = [rand(T, 1, D) for _ in range(sets)]
    inv = 1.0 / (10000.0 ** (torch.arange(0, D, 2, device=dev).float() / D))
    ang = torch.arange(T, device=dev).float()[:, None] * inv[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos().to(torch.bfloat16)[:, None, :], emb.sin().to(torch.bfloat16)[:, None, :]
    cases.append(("rope q+k in place", "788x(8+1)x256", rope_qk, lambda f: (lambda i: f(qs[i], ks[i], cos, sin)), sets))
    sets = max(2, min(32, 3 * l2 // (6304 * 788 * 4) + 1))
    sx = [rand(6304, 788) for _ in range(sets)]
    cases.append(("softmax", "6304x788", softmax_scaled, lambda f: (lambda i: f(sx[i])), sets))

    return report(cases, args)


def add_gemm_cases(cases, rand, l2):
    """Linear layers y = x W^T in bf16 (cuBLAS), the Pi0 shapes of fusekit_gpu_bench's GEMM rows."""
    shapes = [(788, n, k) for n, k in [(2560, 2048), (2048, 2048), (32768, 2048), (2048, 16384)]]
    shapes += [(768, n, k) for n, k in [(3456, 1152), (4304, 1152), (1152, 4304)]]
    shapes += [(11, n, k) for n, k in [(2560, 1024), (8192, 1024), (1024, 4096), (2048, 2048), (32768, 2048),
                                       (1024, 2048)]]
    for m, n, k in shapes + [(8192, 8192, 8192)]:
        nbytes = 2 * (n * k + m * k + m * n)
        sets = max(2, min(8, 3 * l2 // nbytes + 1))
        xs = [rand(m, k) for _ in range(sets)]
        ws = [rand(n, k) for _ in range(sets)]
        cases.append(("gemm", f"{m}x{n}x{k}", linear, lambda f, xs=xs, ws=ws: (lambda i: f(xs[i], ws[i])), sets, False))
    for m, n, k in [(788, 32768, 2048), (11, 8192, 1024)]:
        sets = max(2, min(8, 3 * l2 // (2 * (n * k + m * k + m * n // 2)) + 1))
        xs = [rand(m, k) for _ in range(sets)]
        ws = [rand(n, k) for _ in range(sets)]
        cases.append(("gemm geglu (gate fused)", f"{m}x{n}x{k}", linear_geglu,
                      lambda f, xs=xs, ws=ws: (lambda i: f(xs[i], ws[i])), sets, True))
    # Gemma's pre-norm projections at decode (fusekit: the norm as the GEMM's prologue), compiled: the
    # norm's Triton kernel then cuBLAS
    for m, n, k, geglu in [(11, 2560, 1024, False), (11, 8192, 1024, True), (11, 2560, 2048, False)]:
        sets = max(2, min(8, 3 * l2 // (2 * (n * k + m * k + m * n)) + 1))
        xs = [rand(m, k) for _ in range(sets)]
        ws = [rand(n, k) for _ in range(sets)]
        nw = rand(k, dtype=torch.float32)
        cases.append(("rmsnorm -> gemm geglu (prologue)" if geglu else "rmsnorm -> gemm (prologue)", f"{m}x{n}x{k}",
                      rmsnorm_linear_geglu if geglu else rmsnorm_linear,
                      lambda f, xs=xs, ws=ws, nw=nw: (lambda i: f(xs[i], nw, ws[i])), sets, True))


def add_conv_cases(cases, rand, l2):
    """KataGo's trunk conv in fp16, channels_last (cuDNN, benchmark mode): NormAct + conv + residual."""
    torch.backends.cudnn.benchmark = True
    cl = torch.channels_last
    c = 192
    w = rand(c, c, 3, 3, dtype=torch.float16).mul_(0.02).contiguous(memory_format=cl)
    scale, bias = rand(1, c, 1, 1, dtype=torch.float16), rand(1, c, 1, 1, dtype=torch.float16)
    for n, fused in [(1, True), (8, True), (64, True), (256, True), (1, False), (8, False), (256, False)]:
        nbytes = 2 * n * 19 * 19 * c * (3 if fused else 2)
        sets = max(2, min(8, 3 * l2 // nbytes + 1))
        xs = [rand(n, c, 19, 19, dtype=torch.float16).contiguous(memory_format=cl) for _ in range(sets)]
        shape = f"{n}x{c}x19x19"
        if fused:
            rs = [rand(n, c, 19, 19, dtype=torch.float16).contiguous(memory_format=cl) for _ in range(sets)]
            mask = (torch.rand(n, 1, 19, 19, device=xs[0].device) > 0.1).to(torch.float16)
            cases.append(("conv3x3 normact+residual", shape, normact_conv_residual,
                          lambda f, xs=xs, rs=rs, mask=mask: (lambda i: f(xs[i], scale, bias, mask, w, rs[i])), sets))
        else:
            cases.append(("conv3x3", shape, conv3x3, lambda f, xs=xs: (lambda i: f(xs[i], w)), sets))


def report(cases, args):
    fk = {}
    if args.fusekit_json:
        with open(args.fusekit_json) as f:
            for r in json.load(f)["results"]:
                fk.setdefault((r["op"], r["shape"]), (r["median_us"], r["graph_us"]))
    hdr = ["eager", "compile", "eager+graph", "compile+graph", "fusekit", "fk+graph", "vs best"]
    print(f"{'op':<34} {'shape':>17} " + " ".join(f"{h:>13}" for h in hdr))
    for case in cases:
        name, shape, fn, bind, sets = case[:5]
        use_compile = case[5] if len(case) > 5 else True  # a lone GEMM: torch.compile calls the same cuBLAS
        idx = list(range(sets))
        compiled = torch.compile(fn) if use_compile else None
        t = [time_us(bind(fn), idx, args.reps), compiled and time_us(bind(compiled), idx, args.reps),
             time_graph_us(bind(fn), idx, args.reps), compiled and time_graph_us(bind(compiled), idx, args.reps)]
        ours = fk.get((name, shape))
        cells = [f"{v:.2f}" if v else "-" for v in t]
        t = [v for v in t if v]
        if ours:
            cells += [f"{ours[0]:.2f}", f"{ours[1]:.2f}", f"{min(t) / min(ours):.2f}x"]
        else:
            cells += ["-", "-", "-"]
        print(f"{name:<34} {shape:>17} " + " ".join(f"{c:>13}" for c in cells))
    print("(us per call, medians; 'vs best' = fastest torch column / fastest fusekit column: > 1 = fusekit faster)")


if __name__ == "__main__":
    main()
