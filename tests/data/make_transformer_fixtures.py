#!/usr/bin/env python3
"""Fixtures for the transformer-layer tests, made with HuggingFace transformers (run on the GPU machine,
which has torch and transformers; the outputs are committed under tests/data/transformer/).

Small random GemmaConfig and SiglipVisionConfig models with the real head dims (256 and 72), weights drawn
uniformly at a scale where every op matters (HF's own init, std 0.02, would leave the residual stream
almost untouched), run in float64 on the CPU with eager attention, outputs saved in float32:

  gemma.safetensors        model.layers.N.*, model.norm.weight (HF names, float32)
  gemma_input.npy          inputs_embeds [1, 13, 64] (transformers 5 feeds them to the layers as they are: the
                           sqrt(hidden) scale lives in its embedding module)
  gemma_layer{N}.npy       the hidden state after decoder layer N (causal attention, positions 0..12)
  gemma_out.npy            after the final RMSNorm
  siglip.safetensors       vision_model.* (HF names, float32)
  siglip_pixels.npy        pixel_values [2, 3, 56, 56]
  siglip_embeddings.npy    patch embedding + position embedding [2, 16, 144]
  siglip_layer{N}.npy      the hidden state after encoder layer N
  siglip_out.npy           last_hidden_state (after post_layernorm)

Usage: python3 tests/data/make_transformer_fixtures.py OUT_DIR
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import GemmaConfig, GemmaModel, SiglipVisionConfig, SiglipVisionModel


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                fan_in = p[0].numel()
                bound = 1.0 / math.sqrt(fan_in)
            else:
                bound = 0.5
            p.copy_((torch.rand(p.shape, generator=g, dtype=torch.float64) * 2 - 1) * bound)


def save_weights(model, path, prefix):
    # Prefixed HF names (GemmaForCausalLM's "model.", SiglipVisionModel's "vision_model."); some transformers
    # versions already include the prefix in a bare model's state_dict.
    tensors = {(k if k.startswith(prefix) else prefix + k): v.detach().to(torch.float32).contiguous()
               for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata={"transformers": transformers.__version__, "torch": torch.__version__})
    return sorted(tensors)


def gemma(out: Path):
    cfg = GemmaConfig(vocab_size=32, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=1, head_dim=256, hidden_act="gelu_pytorch_tanh",
                      hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6, rope_theta=10000.0,
                      max_position_embeddings=64, attention_bias=False, attn_implementation="eager")
    torch.manual_seed(0)
    model = GemmaModel(cfg).to(torch.float64).eval()
    randomize(model, 1)
    names = save_weights(model, out / "gemma.safetensors", prefix="model.")
    x = torch.randn(1, 13, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    layer_out = {}

    def hook(i):
        def f(_m, _inp, o):
            layer_out[i] = (o[0] if isinstance(o, tuple) else o).detach()
        return f

    for i, layer in enumerate(model.layers):
        layer.register_forward_hook(hook(i))
    with torch.no_grad():
        y = model(inputs_embeds=x, use_cache=False).last_hidden_state
    np.save(out / "gemma_input.npy", x.to(torch.float32).numpy())
    for i in range(cfg.num_hidden_layers):
        np.save(out / f"gemma_layer{i}.npy", layer_out[i].to(torch.float32).numpy())
    np.save(out / "gemma_out.npy", y.to(torch.float32).numpy())
    return names


def siglip(out: Path):
    cfg = SiglipVisionConfig(hidden_size=144, intermediate_size=176, num_hidden_layers=2, num_attention_heads=2,
                             num_channels=3, image_size=56, patch_size=14, hidden_act="gelu_pytorch_tanh",
                             layer_norm_eps=1e-6, attn_implementation="eager", vision_use_head=False)
    torch.manual_seed(0)
    model = SiglipVisionModel(cfg).to(torch.float64).eval()
    randomize(model, 3)
    names = save_weights(model, out / "siglip.safetensors", prefix="vision_model.")
    px = torch.rand(2, 3, 56, 56, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) * 2 - 1
    with torch.no_grad():
        r = model(pixel_values=px, output_hidden_states=True)
    np.save(out / "siglip_pixels.npy", px.to(torch.float32).numpy())
    np.save(out / "siglip_embeddings.npy", r.hidden_states[0].to(torch.float32).numpy())
    for i in range(cfg.num_hidden_layers):
        np.save(out / f"siglip_layer{i}.npy", r.hidden_states[i + 1].to(torch.float32).numpy())
    np.save(out / "siglip_out.npy", r.last_hidden_state.to(torch.float32).numpy())
    return names


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    info = {"transformers": transformers.__version__, "torch": torch.__version__,
            "gemma": gemma(out), "siglip": siglip(out)}
    (out / "versions.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info, indent=1))
