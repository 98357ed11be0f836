#!/usr/bin/env python3
"""PyTorch peer for fusekit_attention_bench: the same rows, timed the same way (CUDA events around batches
of 10 calls after warm-up, median of --reps batches, inputs rotated across sets), with
torch.nn.functional.scaled_dot_product_attention in every backend that accepts the call (FlashAttention,
cuDNN, memory-efficient), eager and replayed from a CUDA graph. The fastest is torch's number. With
--fusekit-json it prints fusekit's numbers from the same run beside it."""
import argparse
import json
import statistics

import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

# name, batch, q_len, kv_len, q_heads, kv_heads, dim, causal, padded_len, block_mask (as attention_bench.cpp)
ROWS = [
    ("pi0_decode", 1, 11, 799, 8, 1, 256, False, 0, True),
    ("pi0_prefill", 1, 788, 788, 8, 1, 256, False, 760, False),
    ("siglip", 3, 256, 256, 16, 16, 72, False, 0, False),
    ("long_causal", 8, 4096, 4096, 16, 16, 128, True, 0, False),
    ("decode_b1_gqa", 1, 1, 4096, 32, 8, 128, True, 0, False),
    ("prefill_1k", 4, 1024, 1024, 16, 16, 64, True, 0, False),
]
BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION}


def time_us(fn, sets, reps, batch=10):
    for i in range(2 * batch):
        fn(i % sets)
    torch.cuda.synchronize()

    def median(one_batch):
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
        for a, b in ev:
            a.record()
            one_batch()
            b.record()
        torch.cuda.synchronize()
        return statistics.median(a.elapsed_time(b) * 1e3 / batch for a, b in ev)

    k = [0]

    def eager_batch():
        for _ in range(batch):
            fn(k[0] % sets)
            k[0] += 1

    eager = median(eager_batch)
    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for i in range(3):
            fn(i % sets)
    torch.cuda.current_stream().wait_stream(s)
    with torch.cuda.graph(g):
        for j in range(batch):
            fn(j % sets)
    for _ in range(3):
        g.replay()
    graph = median(g.replay)
    return eager, graph


def run_row(row, dtype, reps):
    name, B, Sq, Skv, Hq, Hkv, D, causal, padded, block = row
    dev = "cuda"
    sets = 4
    # [B, S, H, D] storage like fusekit's, seen as [B, H, S, D]
    q = [torch.randn(B, Sq, Hq, D, device=dev, dtype=dtype).transpose(1, 2) for _ in range(sets)]
    k = [torch.randn(B, Skv, Hkv, D, device=dev, dtype=dtype).transpose(1, 2) for _ in range(sets)]
    v = [torch.randn(B, Skv, Hkv, D, device=dev, dtype=dtype).transpose(1, 2) for _ in range(sets)]
    mask = None
    if padded:
        mask = torch.zeros(B, 1, 1, Skv, device=dev, dtype=torch.bool)
        mask[..., :padded] = True
    if block:
        mask = torch.ones(B, 1, Sq, Skv, device=dev, dtype=torch.bool)
        mask[:, :, 0, Skv - Sq + 1:] = False
    is_causal = causal and Sq == Skv  # decode rows (Sq < Skv, bottom-right) see every key: no mask
    results = {}
    # GQA: SDPA's enable_gqa (only cuDNN takes it), and K/V expanded to every query head beforehand (not
    # timed: the strongest form for torch; a model would pay for the copy)
    variants = [("", k, v, Hq != Hkv)]
    if Hq != Hkv:
        g = Hq // Hkv
        variants.append((" kv-expanded", [x.repeat_interleave(g, dim=1) for x in k],
                         [x.repeat_interleave(g, dim=1) for x in v], False))
    for suffix, kk, vv, gqa in variants:
        for bname, backend in BACKENDS.items():
            def fn(i, kk=kk, vv=vv, gqa=gqa):
                return F.scaled_dot_product_attention(q[i], kk[i], vv[i], attn_mask=mask, is_causal=is_causal,
                                                      enable_gqa=gqa)
            try:
                with sdpa_kernel([backend]):
                    fn(0)
                    torch.cuda.synchronize()
                    results[bname + suffix] = time_us(fn, sets, reps)
            except Exception:  # this backend does not take the call
                torch.cuda.synchronize()
                continue
    return results


def main():
    warnings.filterwarnings("ignore")  # SDPA explains every backend that declines a call
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--fusekit-json")
    args = ap.parse_args()
    ours = {}
    if args.fusekit_json:
        for r in json.load(open(args.fusekit_json)):
            ours[(r["name"], r["dtype"])] = min(r["median_us"], r["graph_us"])
    print(f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(f"{'row':<14} {'dtype':<5} {'torch best us':>13} {'backend':<28} {'fusekit us':>10} {'torch/fusekit':>13}   all backends (eager/graph us)")
    for row in ROWS:
        for dtype, dname in ((torch.bfloat16, "bf16"), (torch.float16, "f16")):
            res = run_row(row, dtype, args.reps)
            if not res:
                print(f"{row[0]:<14} {dname:<5} no SDPA backend accepted the call")
                continue
            best_name, best = min(((n, min(t)) for n, t in res.items()), key=lambda x: x[1])
            mode = "graph" if res[best_name][1] <= res[best_name][0] else "eager"
            f = ours.get((row[0], dname))
            ratio = f"{best / f:13.2f}" if f else f"{'':>13}"
            fs = f"{f:10.2f}" if f else f"{'':>10}"
            detail = ", ".join(f"{n} {t[0]:.1f}/{t[1]:.1f}" for n, t in res.items())
            print(f"{row[0]:<14} {dname:<5} {best:13.2f} {best_name + ' ' + mode:<28} {fs} {ratio}   {detail}")


if __name__ == "__main__":
    main()
