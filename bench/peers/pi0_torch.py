#!/usr/bin/env python3
"""PyTorch peer of pi0-policy (transformer/pi0.hpp): the same Pi0-shaped call at batch 1 in bf16 with
random weights. SigLIP So400m/14 over 3 images (conv patch embedding, SDPA), the projector, Gemma-2B-shaped
prefill over 788 tokens writing a KV cache, then 10 denoising steps of the Gemma-300M-shaped expert over
11 suffix tokens against the cache (block mask: the state row sees the prefix and itself), Euler in fp32.

Timed forms, each a median of CUDA-event timings after warm-up:
  eager                   stage functions launched from Python
  compile                 torch.compile of each stage function (default mode)
  compile + CUDA graph    the compiled stages captured once per stage and once for the whole call, replayed
(eager + CUDA graph is timed too). Usage: python3 bench/peers/pi0_torch.py [--iters N] [--layers N] [--json F]
"""
import argparse
import json
import math

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--iters", type=int, default=20)
p.add_argument("--layers", type=int, default=18)
p.add_argument("--vision-layers", type=int, default=27)
p.add_argument("--json", default="")
p.add_argument("--no-compile", action="store_true")
args = p.parse_args()

dev, dt = "cuda", torch.bfloat16
torch.manual_seed(0)
VH, VL, VHEADS, VD, VMLP, IMG, PATCH = 1152, args.vision_layers, 16, 72, 4304, 224, 14
NP = (IMG // PATCH) ** 2
CAMS, LANG, A, HOR, STEPS = 3, 20, 32, 10, 10
P = CAMS * NP + LANG
S = 1 + HOR
HQ, HKV, D = 8, 1, 256


def lin(o, i, bias=False):
    w = (torch.rand(o, i, device=dev, dtype=torch.float32) * 2 - 1).mul_(1 / math.sqrt(i)).to(dt)
    b = (torch.rand(o, device=dev) * 0.2 - 0.1).to(dt) if bias else None
    return w, b


def vec(n, base=0.0):
    return (torch.rand(n, device=dev) * 0.2 - 0.1 + base).to(dt)


def gemma(width, mlp, layers):
    return [dict(in_w=vec(width), post_w=vec(width), qkv=lin((HQ + 2 * HKV) * D, width)[0], o=lin(width, HQ * D)[0],
                 gu=lin(2 * mlp, width)[0], down=lin(width, mlp)[0]) for _ in range(layers)], vec(width)


vision = dict(patch=lin(VH, 3 * PATCH * PATCH, True), pos=vec(NP * VH).view(NP, VH),
              layers=[dict(ln1=(vec(VH, 1.0), vec(VH)), ln2=(vec(VH, 1.0), vec(VH)), qkv=lin(3 * VH, VH, True),
                           o=lin(VH, VH, True), fc1=lin(VMLP, VH, True), fc2=lin(VH, VMLP, True)) for _ in range(VL)],
              post=(vec(VH, 1.0), vec(VH)))
projector = lin(2048, VH, True)
embed = (torch.rand(1024, 2048, device=dev) * 2 - 1).to(dt)
prefix_layers, _ = gemma(2048, 16384, args.layers)
expert_layers, expert_norm = gemma(1024, 4096, args.layers)
state_proj, action_in, mlp_out, action_out = lin(1024, A, True), lin(1024, A, True), lin(1024, 1024, True), lin(A, 1024, True)
mlp_in = lin(1024, 2048, True)


def time_emb(t, dim=1024):
    frac = torch.linspace(0, 1, dim // 2, device=dev, dtype=torch.float64)
    period = 4e-3 * (4.0 / 4e-3) ** frac
    x = t * 2 * math.pi / period
    return torch.cat([torch.sin(x), torch.cos(x)]).to(dt)


temb = [time_emb(1.0 - k / STEPS) for k in range(STEPS)]


def rms(x, w, eps=1e-6):
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return (xf * (1.0 + w.float())).to(x.dtype)


inv_freq = 1.0 / (10000.0 ** (torch.arange(0, D, 2, device=dev, dtype=torch.float32) / D))


def cos_sin(pos):
    f = pos.float()[:, None] * inv_freq[None, :]
    e = torch.cat([f, f], -1)
    return e.cos().to(dt), e.sin().to(dt)


def rope(x, cos, sin):  # x [B, n, H, D]
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return x * cos[None, :, None, :] + torch.cat([-x2, x1], -1) * sin[None, :, None, :]


def gemma_stack(x, layers, cos, sin, kc, vc, start, mask):
    n = x.shape[1]
    for li, L in enumerate(layers):
        h = rms(x, L["in_w"])
        qkv = F.linear(h, L["qkv"])
        q = qkv[..., : HQ * D].view(1, n, HQ, D)
        k = qkv[..., HQ * D:(HQ + HKV) * D].view(1, n, HKV, D)
        v = qkv[..., (HQ + HKV) * D:].view(1, n, HKV, D)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        kc[li, :, start:start + n] = k
        vc[li, :, start:start + n] = v
        K, V = kc[li, :, :start + n], vc[li, :, :start + n]
        a = F.scaled_dot_product_attention(q.transpose(1, 2), K.transpose(1, 2), V.transpose(1, 2), attn_mask=mask,
                                           enable_gqa=True)
        x = x + F.linear(a.transpose(1, 2).reshape(1, n, HQ * D), L["o"])
        h = rms(x, L["post_w"])
        g, u = F.linear(h, L["gu"]).chunk(2, -1)
        x = x + F.linear(F.gelu(g, approximate="tanh") * u, L["down"])
    return x


kc = torch.zeros(args.layers, 1, P + S, HKV, D, device=dev, dtype=dt)
vc = torch.zeros_like(kc)
images = torch.sin(torch.arange(CAMS * 3 * IMG * IMG, device=dev, dtype=torch.float32) * 1e-3).view(CAMS, 3, IMG, IMG)
lang = (1000 + 37 * torch.arange(LANG, device=dev)) % 1024
state = (0.1 * torch.cos(torch.arange(A, device=dev, dtype=torch.float32))).view(1, A)
noise = torch.randn(1, HOR, A, device=dev)
actions = torch.zeros_like(noise)
prefix_x = torch.zeros(1, P, 2048, device=dev, dtype=dt)
pre_cos, pre_sin = cos_sin(torch.arange(P, device=dev))
suf_cos, suf_sin = cos_sin(torch.arange(P, P + S, device=dev))
suf_mask = torch.ones(S, P + S, device=dev, dtype=torch.bool)
suf_mask[0, P + 1:] = False  # the state row sees the prefix and itself


def vit_stage():
    x = F.conv2d(images.to(dt), vision["patch"][0].view(VH, 3, PATCH, PATCH), vision["patch"][1], stride=PATCH)
    x = x.flatten(2).transpose(1, 2) + vision["pos"]
    for L in vision["layers"]:
        h = F.layer_norm(x, (VH,), *L["ln1"], eps=1e-6)
        qkv = F.linear(h, *L["qkv"]).view(CAMS, NP, 3, VHEADS, VD).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        x = x + F.linear(a.transpose(1, 2).reshape(CAMS, NP, VH), *L["o"])
        h = F.layer_norm(x, (VH,), *L["ln2"], eps=1e-6)
        x = x + F.linear(F.gelu(F.linear(h, *L["fc1"]), approximate="tanh"), *L["fc2"])
    x = F.layer_norm(x, (VH,), *vision["post"], eps=1e-6)
    prefix_x[0, : CAMS * NP] = F.linear(x.reshape(CAMS * NP, VH), *projector)
    prefix_x[0, CAMS * NP:] = embed[lang] * math.sqrt(2048)


def prefill_stage():
    gemma_stack(prefix_x, prefix_layers, pre_cos, pre_sin, kc, vc, 0, None)


def denoise_step(k_temb):
    st = F.linear(state.to(dt), *state_proj).view(1, 1, 1024)
    h = F.linear(actions.to(dt), *action_in)
    u = F.silu(F.linear(torch.cat([h, k_temb.expand(1, HOR, 1024)], -1), *mlp_in))
    x = torch.cat([st, F.linear(u, *mlp_out)], 1)
    x = gemma_stack(x, expert_layers, suf_cos, suf_sin, kc, vc, P, suf_mask)
    v = F.linear(rms(x[:, 1:], expert_norm), *action_out).float()
    actions.add_(v, alpha=-1.0 / STEPS)


def denoise_stage(step_fn):
    actions.copy_(noise)
    for k in range(STEPS):
        step_fn(temb[k])


def median_ms(fn, iters):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    t = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        t.append(a.elapsed_time(b))
    return sorted(t)[len(t) // 2]


def graph_of(fn):
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g


def measure(name, vit, pre, step):
    whole = lambda: (vit(), pre(), denoise_stage(step))
    r = {"vit_ms": median_ms(vit, args.iters), "prefill_ms": median_ms(pre, args.iters),
         "denoise_ms": median_ms(lambda: denoise_stage(step), args.iters)}
    r["step_ms"] = r["denoise_ms"] / STEPS
    r["total_ms"] = median_ms(whole, args.iters)
    gs = [graph_of(vit), graph_of(pre), graph_of(lambda: denoise_stage(step)), graph_of(whole)]
    rg = {"vit_ms": median_ms(gs[0].replay, args.iters), "prefill_ms": median_ms(gs[1].replay, args.iters),
          "denoise_ms": median_ms(gs[2].replay, args.iters), "total_ms": median_ms(gs[3].replay, args.iters)}
    rg["step_ms"] = rg["denoise_ms"] / STEPS
    for label, v in ((name, r), (name + " + CUDA graph", rg)):
        print(f"{label:28s} ViT {v['vit_ms']:8.3f} ms  prefill {v['prefill_ms']:8.3f} ms  denoise {v['denoise_ms']:8.3f} ms "
              f"({v['step_ms']:.3f}/step)  end to end {v['total_ms']:8.3f} ms", flush=True)
    return {name: r, name + " + CUDA graph": rg}


print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, bf16, layers {args.layers}, vision layers {VL}", flush=True)
results = {}
with torch.no_grad():
    results.update(measure("eager", vit_stage, prefill_stage, denoise_step))
    if not args.no_compile:
        cv, cp, cs = torch.compile(vit_stage), torch.compile(prefill_stage), torch.compile(denoise_step)
        results.update(measure("compile", cv, cp, cs))
if args.json:
    with open(args.json, "w") as f:
        json.dump({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "results": results}, f, indent=1)
