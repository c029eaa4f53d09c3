#!/usr/bin/env bash
# Put trained weights (fetched from a device call's files) into the package as the default model:
#   bash benchmarks/ship_default_model.sh VAE_FOLDER DIT_FOLDER
# e.g. VAE_FOLDER=.data/tiny_vae, DIT_FOLDER=.data/tiny_streaming_crr05 (config.json + model.safetensors each,
# as `device_run.sh` exports them in float16). Checks the 50 MB budget of the package's weights and that
# `--model default` loads them, then prints what to commit.
set -eu
vae=${1:?VAE folder}
dit=${2:?DiT folder}
dest=src/sana_streaming/weights/default
for folder in "$vae" "$dit"; do
    for file in config.json model.safetensors; do
        [ -f "$folder/$file" ] || { echo "error: $folder/$file is missing" >&2; exit 2; }
    done
done
# the editor settings the model recommends (editor.json: the source-guided refinement): the DiT folder's, else
# the shipped model's are kept
settings=$(mktemp)
if [ -f "$dit/editor.json" ]; then cp "$dit/editor.json" "$settings"
elif [ -f "$dest/model/editor.json" ]; then cp "$dest/model/editor.json" "$settings"
else rm -f "$settings"; fi
rm -rf "$dest/vae" "$dest/model"
mkdir -p "$dest/vae" "$dest/model"
cp "$vae/config.json" "$vae/model.safetensors" "$dest/vae/"
cp "$dit/config.json" "$dit/model.safetensors" "$dest/model/"
if [ -f "$settings" ]; then mv "$settings" "$dest/model/editor.json"; echo "editor settings: $(cat "$dest/model/editor.json")"; fi
bytes=$(cat "$dest"/*/model.safetensors "$dest"/*/config.json | wc -c)
echo "default model: $((bytes / 1000000)) MB in $dest"
if [ "$bytes" -gt 50000000 ]; then
    echo "error: over the 50 MB budget of the shipped weights" >&2
    exit 1
fi
# Every device call sends the working tree (tracked files and what is carried): at most 64 MiB in all.
tree=$(git ls-files -z | xargs -0 cat | wc -c)
shipped_before=$(git ls-files -z -- "$dest" | xargs -0 -r cat | wc -c)
tree=$((tree - shipped_before + bytes))
echo "tracked tree with these weights: $((tree / 1000000)) MB (device calls send at most 67 MB, carried data included)"
if [ "$tree" -gt 60000000 ]; then
    echo "warning: under 7 MB left for carried data on device calls (.data: clips, text features)" >&2
fi
python -c "
import torch
from sana_streaming.engine.loading import load_model, load_vae
cpu, fp32 = torch.device('cpu'), torch.float32
model = load_model('default', preset=None, device=cpu, dtype=fp32).part
vae = load_vae('default', model, device=cpu, dtype=fp32).part
print(f'loads: {model.cfg.name}, {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters; '
      f'VAE {sum(p.numel() for p in vae.parameters()) / 1e6:.1f} M')
"
echo "next: sana-streaming eval-model --model default, the model card ($dest/README.md), git add $dest"
