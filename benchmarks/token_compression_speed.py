"""The token compressor's cost against the CLIP ViT forward it follows (chapter 05).

    python benchmarks/token_compression_speed.py              # ViT-L/14-336 architecture, random weights
    python benchmarks/token_compression_speed.py --json out.json --batch 4

Builds ``openai/clip-vit-large-patch14-336``'s architecture (no download; random weights cost the
same) and the seed's compressors (24×24 → 4, 6, 8, 12), and reports per image: the ViT's and each
compressor's latency and FLOPs, their ratio, and the compressor's throughput in input tokens per
second. Target: the 6×6 compressor at most 1 % of the ViT's FLOPs (measured on 2 CPU cores, batch 1:
0.6 % of the FLOPs, 2.1 % of the time; small convolutions use a CPU less well than the ViT's matmuls).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

os.environ.setdefault("MMDL_PROGRESS", "0")

from mmdl_lib.chapters.token_compression.compressor import TokenCompressor
from mmdl_lib.chapters.token_compression.token_encoder import CLIPTokenEncoder
from mmdl_lib.env import hardware
from mmdl_lib.metrics.cost import cost_row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="openai/clip-vit-large-patch14-336")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    device = torch.device(args.device)
    encoder = CLIPTokenEncoder.from_transformers(args.encoder, pretrained=False).to(device)
    images = torch.rand(args.batch, 3, encoder.image_size, encoder.image_size, device=device)
    vit = cost_row(encoder.image_tower, encoder.encode_tokens, images, repeats=3)
    tokens = encoder.encode_tokens(images)
    latency = next(k for k in vit if k.startswith("latency"))
    results = {"encoder": args.encoder, "grid": encoder.grid, "width": encoder.width, "device": str(device),
               "hardware": hardware(), "vit": vit, "compressors": {}}
    print(f"{args.encoder}: {encoder.grid}×{encoder.grid} tokens of width {encoder.width}, "
          f"{vit[latency]:.1f} ms and {vit['GFLOPs_per_image']:.1f} GFLOPs per image on {device}")
    for grid in (4, 6, 8, 12):
        compressor = TokenCompressor(encoder.width, encoder.grid, grid).to(device)
        row = cost_row(compressor, compressor, tokens, repeats=20)
        with torch.no_grad():
            started = time.perf_counter()
            for _ in range(10):
                compressor(tokens)
            seconds = (time.perf_counter() - started) / 10
        row["time_over_vit"] = row[latency] / vit[latency]
        row["flops_over_vit"] = row["GFLOPs_per_image"] / vit["GFLOPs_per_image"]
        row["input_tokens_per_s"] = tokens.shape[0] * encoder.grid ** 2 / seconds
        results["compressors"][f"{grid}x{grid}"] = row
        print(f"  → {grid}×{grid}: {row[latency]:.2f} ms ({row['time_over_vit']:.2%} of the ViT's time), "
              f"{row['GFLOPs_per_image']:.2f} GFLOPs ({row['flops_over_vit']:.2%}), {row['params_M']:.1f} M parameters, "
              f"{row['input_tokens_per_s']:,.0f} input tokens/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
