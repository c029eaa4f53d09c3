#!/usr/bin/env bash
# The default model's device calls (issue 6), each one call of at most 600 s on one GPU, steps side by side:
#   OUT=... bash benchmarks/train_default_model.sh sweep      # VAE candidates beside the editor continued
#   OUT=... bash benchmarks/train_default_model.sh students   # the two students (Cycle-Reverse 0.5 and 0)
#   OUT=... bash benchmarks/train_default_model.sh steady     # the VAE on long windows, beside editor and students
#   OUT=... bash benchmarks/train_default_model.sh temporal   # the shipped decoder with and without vae_train.temporal
#   OUT=... bash benchmarks/train_default_model.sh vae65      # VAEs on 65-frame windows, editor, students
#   OUT=... VAE_FROM=... EDITOR_FROM=... bash benchmarks/train_default_model.sh refine   # a VAE and its editor further
#   OUT=... bash benchmarks/train_default_model.sh refine4    # the same over 4 GPUs, beside the 128-channel VAE
#   OUT=... C128_FROM=... C128_EDITOR_FROM=... bash benchmarks/train_default_model.sh c128   # 2 GPUs: that path on
#   OUT=... C128_FROM=... bash benchmarks/train_default_model.sh edited   # 2-4 GPUs: VAEs that also see edited videos
#   OUT=... VAE_FROM=... EDITOR_FROM=... bash benchmarks/train_default_model.sh edited2   # 2 GPUs: the same further
#   OUT=... bash benchmarks/train_default_model.sh cooldown   # 2 GPUs: the editor with and without a cool-down
#   RESUME=1 OUT=... bash benchmarks/train_default_model.sh students_on   # then: the students and the decoder on
#   OUT=... STUDENT=... TEACHER=... bash benchmarks/train_default_model.sh students_more   # 2 GPUs, a fresh machine
#   OUT=... EDITOR=... bash benchmarks/train_default_model.sh grow   # 2 GPUs: the editor grown to depth 8 and 10,
#       the decoder with a stronger frame-difference term and with the motion-aware one
#   OUT=... bash benchmarks/train_default_model.sh regress   # 2 GPUs: the shipped student (and grown to depth 8)
#       trained by regression on the ground-truth edits, beside the decoder lanes of grow
#   OUT=... bash benchmarks/train_default_model.sh decay     # 2 GPUs: regress's lanes and a deeper decoder, chained
#       with RESUME=1 and ended by a linear cool-down of every lane (COOL=1) in the last call
#   OUT=... bash benchmarks/train_default_model.sh latent    # 2 GPUs: the shipped VAE whole, as it is and with a
#       latent grown to $LATENT channels
#   OUT=... bash benchmarks/train_default_model.sh wide      # 2 GPUs: the shipped VAE twice as wide (encoder and
#       decoder), its decoder alone twice as wide, beside the shipped VAE trained whole
#   OUT=... C128_VAE=... WHOLE_VAE=... bash benchmarks/train_default_model.sh follow   # 2 GPUs: students on try 11's
#       two VAEs (the 128-channel latent and the shipped one trained whole), beside those VAEs further
#       (LANES="j g" J_INIT=... J_ARGS=...: the 128-channel student alone on one GPU, from a student grown before;
#       G_MODE=decoder: g trains its decoder alone, and the students are scored through it)
# carry=[".data"] (benchmarks/prepare_device_data.sh, plus the weights of the earlier calls in .data/).
#
# sweep: while `pairs` runs on the CPU, `throughput` times the tiny recipes at 1x and 4x their batch; then, side
#   by side: (a) tiny-c64 and (g) tiny-c128 VAEs from scratch, (h) tiny-c128 at 3x the learning rate and 2x the batch, (b) the tiny VAE continued (.data/tiny_vae),
#   (c) a tiny-wide decoder on that VAE's encoder, (d) the editor continued (.data/tiny_bidirectional: valid
#   with (c), whose latents are those of .data/tiny_vae); then vae_psnr on every VAE (held-out clip).
#   LANE_SECONDS each.
# students: `long`, then the students side by side from .data/tiny_bidirectional on $VAE_PATH (default
#   .data/tiny_vae) for LANE_SECONDS each, then eval-model on each (GPU, held-out clip).
# steady: the causal VAE's decoder sees about 10 latent frames back, so training on 17-frame windows (3 latent
#   frames) left every later frame out of its training (on bikes.mp4 the reconstruction falls from about 25 dB
#   to 12-17 dB some 17 frames into any window). Pairs of $PAIRS_FRAMES (65) frames, and side by side: (i) the
#   decoder of .data/tiny_vae trained on 65-frame windows at the clips' own scale (crops of half the frame) with
#   scene cuts, its encoder (the editors' latents) unchanged; (ii) the same with the encoder too; (iv) the editor
#   continued; (v, vi) the students (Cycle-Reverse 0.5 and 0) from .data/tiny_bidirectional; then vae_psnr.
# What comes back: the weights (model.safetensors per folder) and all.tar (configs, logs, JSON results).
set -u
phase=${1:?sweep or students}
R=${OUT:?set OUT}
D=${DEVICE_RUN:-benchmarks/device_run.sh}  # (another script in its place: a dry run)
seconds=${LANE_SECONDS:-380}

decoder() {  # decoder LANE GPU VAE NAME ARGS: VAE's decoder trained on in lane LANE (cooled in the last call)
    CUDA_VISIBLE_DEVICES=$2 OUT=$R/$1 VAE_PATH=$3 VAE_NAME=$4 VAE_SECONDS=$seconds \
        VAE_ARGS="$5 $(cool "${4}_decoder" 4)" bash $D vae_decoder &
}

student() {  # student LANE GPU INIT NAME LR [VAE]: a student from INIT by regression ($regress $validation, batch
    # $batch) on VAE's latents (default the shipped VAE)
    CUDA_VISIBLE_DEVICES=$2 OUT=$R/$1 VAE_PATH=${6:-$shipped/vae} ST_INIT=$3 ST_SECONDS=$seconds ST_NAME=$4 CRR=0 \
        ST_BATCH=$batch ST_MANIFEST=/tmp/data/pairs/manifest.jsonl \
        ST_ARGS="$regress optim.lr=$5 ${validation:-} $(cool "$4" "$batch")" bash $D streaming &
}

vae_lane() {  # vae_lane LANE GPU INIT NAME: the VAE INIT trained whole in lane LANE (cooled in the last call)
    CUDA_VISIBLE_DEVICES=$2 OUT=$R/$1 VAE_INIT=$3 VAE_NAME=$4 VAE_SECONDS=$seconds VAE_ARGS="$(cool "$4" 4)" \
        bash $D vae &
}

decoder_lanes() {  # phases grow and regress: the shipped decoder on, with the motion-aware term at $DEC_WARPED
    # (GPU 0, b) and with the frame-difference term at $DEC_TEMPORAL (GPU 1, a), beside their model lanes
    decoder b 0 $shipped/vae tiny_vae_dec_warped "vae_train.warped_temporal=${DEC_WARPED:-2.0}"
    decoder a $((1 % gpus)) $shipped/vae tiny_vae_dec_temporal "vae_train.temporal=${DEC_TEMPORAL:-2.0}"
}

cool() {  # cool RUN BATCH: with COOL=1 (a chain's last call), the overrides that make the resumed run's learning
    # rate fall linearly to 0 over this call's $seconds (benchmarks/cooldown_args.py); none before
    [ -z "${COOL:-}" ] || PYTHONPATH="$PWD/src" python3 benchmarks/cooldown_args.py "/tmp/runs/$1" "$seconds" "$2"
}

eval_models() {  # EVAL=1: eval-model on each LANE/MODEL folder (GPU) with the shipped VAE, or LANE/MODEL@VAE with
    # that VAE folder; the lanes side by side and one lane's models one after another (device_run.sh archives and
    # removes every log in its OUT as it ends: two at once in one folder would take each other's)
    [ -n "${EVAL:-}" ] || return 0
    local lane spec model vae
    for lane in $(printf '%s\n' "$@" | cut -d/ -f1 | sort -u); do
        for spec in "$@"; do
            model=${spec%%@*} vae=$shipped/vae
            [ "$model" = "$spec" ] || vae=${spec#*@}
            [ "${model%%/*}" != "$lane" ] || OUT=$R/$lane EVAL_MODEL=$R/$model VAE_PATH=$vae bash $D eval_model
        done &
    done
    wait
}
latent_lanes() {  # phases latent and decay (LATENT set): the shipped VAE grown to each width in $LATENT (at most
    # two: lane g on GPU 0, lane i on GPU 1), trained whole, beside the shipped VAE trained whole (lane h, GPU 1:
    # the control); the grown VAEs are made in /tmp/vae_latentW by a fresh call
    local widths=($1) lanes=(g i) k
    mkdir -p "$R/g" "$R/h" "$R/i"
    for k in "${!widths[@]}"; do
        [ -n "${RESUME:-}" ] || PYTHONPATH="$PWD/src" python3 benchmarks/grow_model.py $shipped/vae \
            /tmp/vae_latent${widths[$k]} --latent-channels ${widths[$k]}
        vae_lane ${lanes[$k]} $((k % gpus)) /tmp/vae_latent${widths[$k]} tiny_vae_c${widths[$k]}
    done
    vae_lane h $((1 % gpus)) $shipped/vae tiny_vae_whole
}

case $phase in
    sweep)
        mkdir -p "$R/a" "$R/b" "$R/c" "$R/d" "$R/g" "$R/h"
        [ -n "${SKIP_THROUGHPUT:-}" ] || OUT=$R/d bash $D throughput &
        OUT=$R/a bash $D pairs
        wait
        OUT=$R/a VAE_PRESET=tiny-c64 VAE_NAME=tiny_c64_vae VAE_SECONDS=$seconds bash $D vae &
        OUT=$R/g VAE_PRESET=tiny-c128 VAE_NAME=tiny_c128_vae VAE_SECONDS=$seconds bash $D vae &
        OUT=$R/h VAE_PRESET=tiny-c128 VAE_NAME=tiny_c128_vae_lr6e4 VAE_SECONDS=$seconds VAE_BATCH=8 \
            VAE_ARGS="optim.lr=6e-4 optim.warmup_steps=200" bash $D vae &
        # without an earlier try's weights in .data/: a tiny VAE from scratch, and no decoder or editor lane
        trained=$([ -f .data/tiny_vae/config.json ] && echo .data/tiny_vae)
        editor=$([ -f .data/tiny_bidirectional/config.json ] && echo .data/tiny_bidirectional)
        OUT=$R/b VAE_INIT=$trained VAE_SECONDS=$seconds bash $D vae &
        if [ -n "$trained" ]; then
            OUT=$R/c VAE_DECODER=tiny-wide VAE_NAME=tiny_vae_wide VAE_SECONDS=$seconds bash $D vae_decoder &
            OUT=$R/d BI_INIT=$editor BI_SECONDS=$seconds bash $D bidirectional &
        fi
        wait
        OUT=$R bash $D vae_psnr ;;
    students)
        mkdir -p "$R/e" "$R/f"
        OUT=$R/e bash $D long
        OUT=$R/e CRR=0.5 ST_SECONDS=$seconds bash $D streaming &
        OUT=$R/f CRR=0 ST_SECONDS=$seconds bash $D streaming &
        wait
        OUT=$R/e EVAL_MODEL=$R/e/tiny_streaming_crr05 bash $D eval_model &
        OUT=$R/f EVAL_MODEL=$R/f/tiny_streaming_crr0 bash $D eval_model &
        wait ;;
    steady)
        mkdir -p "$R/i" "$R/j" "$R/k" "$R/e" "$R/f"
        OUT=$R/k bash $D long &
        # pairs of 65 frames; 65-frame windows, half-frame crops, scene cuts (the recipe's and device_run's defaults)
        OUT=$R/i CLIPS_PER_INPUT=${CLIPS_PER_INPUT:-10} PAIRS_SECONDS=240 bash $D pairs
        wait
        OUT=$R/i VAE_NAME=tiny_vae_dec65 VAE_SECONDS=$seconds bash $D vae_decoder &
        OUT=$R/j VAE_NAME=tiny_vae_full65 VAE_INIT=.data/tiny_vae VAE_SECONDS=$seconds bash $D vae &
        OUT=$R/k BI_INIT=.data/tiny_bidirectional BI_SECONDS=$seconds bash $D bidirectional &
        OUT=$R/e CRR=0.5 ST_SECONDS=$seconds bash $D streaming &
        OUT=$R/f CRR=0 ST_SECONDS=$seconds bash $D streaming &
        wait
        OUT=$R bash $D vae_psnr ;;
    temporal)  # the shipped VAE's decoder on 65-frame windows, with and without the temporal term, side by side
        mkdir -p "$R/t" "$R/u"
        shipped=src/sana_streaming/weights/default/vae
        OUT=$R/t CLIPS_PER_INPUT=${CLIPS_PER_INPUT:-3} bash $D pairs
        OUT=$R/t VAE_PATH=$shipped VAE_NAME=vae_temporal05 VAE_SECONDS=$seconds \
            VAE_ARGS="vae_train.temporal=0.5" bash $D vae_decoder &
        OUT=$R/u VAE_PATH=$shipped VAE_NAME=vae_temporal0 VAE_SECONDS=$seconds bash $D vae_decoder &
        wait ;;
    vae65)  # the next try: every VAE candidate on 65-frame windows, beside the shipped editor and two students
        mkdir -p "$R/a" "$R/b" "$R/c" "$R/d" "$R/e" "$R/f"
        shipped=src/sana_streaming/weights/default
        OUT=$R/e bash $D long &
        OUT=$R/a bash $D pairs
        wait
        OUT=$R/a VAE_INIT=$shipped/vae VAE_NAME=tiny_vae65_t05 VAE_SECONDS=$seconds \
            VAE_ARGS="vae_train.temporal=0.5" bash $D vae &
        OUT=$R/b VAE_PRESET=tiny-c64 VAE_NAME=tiny_c64_vae65 VAE_SECONDS=$seconds VAE_ARGS="vae_train.temporal=0.5" \
            bash $D vae &
        OUT=$R/c VAE_PRESET=tiny-c128 VAE_NAME=tiny_c128_vae65 VAE_SECONDS=$seconds VAE_ARGS="vae_train.temporal=0.5" \
            bash $D vae &
        OUT=$R/d VAE_PATH=$shipped/vae BI_INIT=$shipped/model BI_SECONDS=$seconds BI_ARGS="data.num_frames=65" \
            bash $D bidirectional &
        OUT=$R/e VAE_PATH=$shipped/vae TEACHER=$shipped/model CRR=0.5 ST_SECONDS=$seconds ST_ARGS="dmd.guidance=3.0" \
            bash $D streaming &  # (3.0 was the recipe's default then)
        # the same without classifier-free guidance on the teacher's score: guidance 3 pulls the student towards
        # stronger edits than the classical ground truths, which PSNR against them may punish
        OUT=$R/f VAE_PATH=$shipped/vae TEACHER=$shipped/model CRR=0.5 ST_SECONDS=$seconds ST_ARGS="dmd.guidance=1.0" \
            ST_NAME=tiny_streaming_crr05_guidance1 bash $D streaming &
        wait
        OUT=$R bash $D vae_psnr ;;
    refine)  # $VAE_FROM's decoder (its encoder, so the editors' latents, unchanged) and the whole VAE further, beside
        # $EDITOR_FROM further on $VAE_FROM's latents on 65- and 33-frame windows (the recipe's; the call of
        # 2026-11-29 named that lane editor_refine17) and two students from it (default: the shipped folders; the
        # tracked tree leaves about 5 MB of a call's 64 MiB for .data/, so candidates of 10 MB travel in place of
        # the shipped folders, uncommitted)
        mkdir -p "$R/a" "$R/b" "$R/c" "$R/d" "$R/e" "$R/f"
        vae=${VAE_FROM:-src/sana_streaming/weights/default/vae}
        editor=${EDITOR_FROM:-src/sana_streaming/weights/default/model}
        OUT=$R/e bash $D long &
        OUT=$R/a bash $D pairs
        wait
        OUT=$R/a VAE_PATH=$vae VAE_NAME=tiny_vae_refine_dec VAE_SECONDS=$seconds VAE_ARGS="vae_train.temporal=0.5" \
            bash $D vae_decoder &
        OUT=$R/b VAE_INIT=$vae VAE_NAME=tiny_vae_refine_full VAE_SECONDS=$seconds VAE_ARGS="vae_train.temporal=0.5" \
            bash $D vae &
        OUT=$R/c VAE_PATH=$vae BI_INIT=$editor BI_SECONDS=$seconds BI_ARGS="data.num_frames=65" BI_NAME=editor_refine65 \
            bash $D bidirectional &
        OUT=$R/d VAE_PATH=$vae BI_INIT=$editor BI_SECONDS=$seconds BI_NAME=editor_refine33 bash $D bidirectional &
        # the Cycle-Reverse ablation without guidance on the teacher's score (call 1 of 2026-11-29: +0.5 dB)
        OUT=$R/e VAE_PATH=$vae TEACHER=$editor CRR=0.5 ST_SECONDS=$seconds ST_ARGS="dmd.guidance=1.0" \
            ST_NAME=student_crr05_g1 bash $D streaming &
        OUT=$R/f VAE_PATH=$vae TEACHER=$editor CRR=0 ST_SECONDS=$seconds ST_ARGS="dmd.guidance=1.0" \
            ST_NAME=student_crr0_g1 bash $D streaming &
        wait
        OUT=$R bash $D vae_psnr ;;
    refine4)  # nvidia-h200-x4: a lane (or two) a GPU, each some 3x faster than six lanes on one GPU.
        # GPU 0: the shipped VAE's decoder further (its encoder, so the shipped editor's latents, unchanged);
        # GPU 1: the 128-channel VAE ($C128_FROM, default .data/call6_tiny_c128_vae65: 19.6 dB after 1,947 steps)
        #   further; a 32-channel latent holds about what a 16x-downscaled frame does (23.9 dB on the held-out clip)
        #   and 128 channels about an 8x-downscaled one (28.4 dB), so 27 dB needs the wider latent;
        # GPU 2: the shipped editor further (33-frame windows) and a 128-channel editor from scratch on $C128_FROM;
        # GPU 3: the Cycle-Reverse pair of students (0.5 and 0, guidance 1) from the shipped editor.
        mkdir -p "$R/a" "$R/c" "$R/d" "$R/g" "$R/e" "$R/f"
        shipped=src/sana_streaming/weights/default
        c128=${C128_FROM:-.data/call6_tiny_c128_vae65}
        OUT=$R/e bash $D long &
        OUT=$R/a bash $D pairs
        wait
        CUDA_VISIBLE_DEVICES=0 OUT=$R/a VAE_PATH=$shipped/vae VAE_NAME=tiny_vae_refine_dec VAE_SECONDS=$seconds \
            VAE_ARGS="vae_train.temporal=0.5" bash $D vae_decoder &
        CUDA_VISIBLE_DEVICES=1 OUT=$R/c VAE_INIT=$c128 VAE_NAME=tiny_c128_vae VAE_SECONDS=$seconds \
            VAE_ARGS="vae_train.temporal=0.5" bash $D vae &
        CUDA_VISIBLE_DEVICES=2 OUT=$R/d VAE_PATH=$shipped/vae BI_INIT=$shipped/model BI_SECONDS=$seconds \
            BI_NAME=editor_refine33 bash $D bidirectional &
        CUDA_VISIBLE_DEVICES=2 OUT=$R/g VAE_PATH=$c128 MODEL_PRESET=tiny-c128 BI_SECONDS=$seconds \
            BI_NAME=editor_c128 bash $D bidirectional &
        CUDA_VISIBLE_DEVICES=3 OUT=$R/e VAE_PATH=$shipped/vae TEACHER=$shipped/model CRR=0.5 ST_SECONDS=$seconds \
            ST_ARGS="dmd.guidance=1.0" ST_NAME=student_crr05_g1 bash $D streaming &
        CUDA_VISIBLE_DEVICES=3 OUT=$R/f VAE_PATH=$shipped/vae TEACHER=$shipped/model CRR=0 ST_SECONDS=$seconds \
            ST_ARGS="dmd.guidance=1.0" ST_NAME=student_crr0_g1 bash $D streaming &
        wait
        OUT=$R bash $D vae_psnr ;;
    c128)  # nvidia-h200-x2: GPU 0, the 128-channel VAE further ($C128_FROM); GPU 1, its editor further on those
        # latents ($C128_EDITOR_FROM, on $C128_FROM) beside the shipped editor further on the shipped VAE
        mkdir -p "$R/c" "$R/d" "$R/g"
        shipped=src/sana_streaming/weights/default
        c128=${C128_FROM:?set C128_FROM} c128_editor=${C128_EDITOR_FROM:?set C128_EDITOR_FROM}
        OUT=$R/c bash $D pairs
        CUDA_VISIBLE_DEVICES=0 OUT=$R/c VAE_INIT=$c128 VAE_NAME=tiny_c128_vae VAE_SECONDS=$seconds \
            VAE_ARGS="vae_train.temporal=0.5" bash $D vae &
        CUDA_VISIBLE_DEVICES=1 OUT=$R/g VAE_PATH=$c128 MODEL_PRESET=tiny-c128 BI_INIT=$c128_editor \
            BI_SECONDS=$seconds BI_NAME=editor_c128 bash $D bidirectional &
        CUDA_VISIBLE_DEVICES=1 OUT=$R/d VAE_PATH=$shipped/vae BI_INIT=$shipped/model BI_SECONDS=$seconds \
            BI_NAME=editor_refine33 bash $D bidirectional &
        wait
        OUT=$R bash $D vae_psnr ;;
    edited)  # nvidia-h200-x4 (x2: the 128-channel lane is left out and the whole VAE shares GPU 1 with the
        # editor): the recipe now trains the VAE on the pairs' edited videos in half the samples
        # (vae_train.edited = 0.5; on sources alone the shipped VAE keeps 21.9 dB of the families' ground truths,
        # under the 22 dB target). GPU 0: the shipped VAE's decoder (its encoder, so the shipped editor,
        # unchanged); GPU 1: the shipped VAE whole; GPU 2: the 128-channel VAE ($C128_FROM) further; GPU 3: the
        # shipped editor further. Then vae_psnr with every family.
        mkdir -p "$R/a" "$R/b" "$R/c" "$R/d"
        shipped=src/sana_streaming/weights/default
        gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
        OUT=$R/a bash $D pairs
        CUDA_VISIBLE_DEVICES=0 OUT=$R/a VAE_PATH=$shipped/vae VAE_NAME=tiny_vae_edited_dec VAE_SECONDS=$seconds \
            bash $D vae_decoder &
        CUDA_VISIBLE_DEVICES=$((1 % gpus)) OUT=$R/b VAE_INIT=$shipped/vae VAE_NAME=tiny_vae_edited_full \
            VAE_SECONDS=$seconds bash $D vae &
        if [ "$gpus" -ge 4 ]; then
            CUDA_VISIBLE_DEVICES=2 OUT=$R/c VAE_INIT=${C128_FROM:?set C128_FROM} VAE_NAME=tiny_c128_vae_edited \
                VAE_SECONDS=$seconds bash $D vae &
        fi
        CUDA_VISIBLE_DEVICES=$(( (gpus >= 4 ? 3 : 1) % gpus )) OUT=$R/d VAE_PATH=$shipped/vae \
            BI_INIT=$shipped/model BI_SECONDS=$seconds BI_NAME=editor_refine33 bash $D bidirectional &
        wait
        OUT=$R VAE_PSNR_ARGS=--families bash $D vae_psnr ;;
    edited2)  # 2 GPUs, after `edited`: $VAE_FROM (that call's whole VAE) and $EDITOR_FROM (its editor) carried.
        # GPU 0: $VAE_FROM's decoder alone (its encoder, so the editor's latents, unchanged): what ships with
        # the editor of GPU 1, $EDITOR_FROM further on $VAE_FROM's latents; beside it there, $VAE_FROM whole further
        # (the next call's start: its encoder moves, so an editor has to follow it).
        mkdir -p "$R/a" "$R/b" "$R/d"
        vae=${VAE_FROM:?set VAE_FROM} editor=${EDITOR_FROM:?set EDITOR_FROM}
        gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
        # while the pairs are made (CPU): are the VAE's and the editor's steps launch-bound, i.e. would a larger
        # batch (VAE_BATCH, BI_BATCH) come almost free? Synthetic data, 1x, 2x and 4x the recipes' batch.
        CUDA_VISIBLE_DEVICES=$((1 % gpus)) OUT=$R/d THROUGHPUT_SECONDS=100 \
            THROUGHPUT_ARGS="--stages vae bidirectional --batch-times 1 2 4" bash $D throughput &
        OUT=$R/a bash $D pairs
        wait
        CUDA_VISIBLE_DEVICES=0 OUT=$R/a VAE_PATH=$vae VAE_NAME=tiny_vae_edited2_dec VAE_SECONDS=$seconds \
            bash $D vae_decoder &
        CUDA_VISIBLE_DEVICES=$((1 % gpus)) OUT=$R/b VAE_INIT=$vae VAE_NAME=tiny_vae_edited2_full \
            VAE_SECONDS=$seconds bash $D vae &
        CUDA_VISIBLE_DEVICES=$((1 % gpus)) OUT=$R/d VAE_PATH=$vae BI_INIT=$editor BI_SECONDS=$seconds \
            BI_NAME=editor_edited2 bash $D bidirectional &
        wait
        OUT=$R VAE_PSNR_ARGS=--families bash $D vae_psnr ;;
    cooldown)  # 2 GPUs, from the shipped folders, the encoder (so every editor's latents) fixed: GPU 0, the
        # shipped editor further for $COOL_STEPS steps with its learning rate falling linearly to 0 over the last
        # half (optim.cooldown = 0.5), beside the Cycle-Reverse-0 student; GPU 1, the same steps at the constant
        # rate (the control), the shipped VAE's decoder further and the Cycle-Reverse-0.5 student. Then vae_psnr
        # and eval-model (GPU) of both editors and both students on the shipped VAE. Chained calls on a warm
        # machine: RESUME=1 and a larger COOL_STEPS (each call's end is a cooled model again).
        mkdir -p "$R/a" "$R/c" "$R/d" "$R/e" "$R/f"
        shipped=src/sana_streaming/weights/default
        steps=${COOL_STEPS:-550}
        gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
        if [ -z "${RESUME:-}" ]; then  # the first call: is a larger batch free (synthetic data, beside the pairs)?
            CUDA_VISIBLE_DEVICES=$((1 % gpus)) OUT=$R/d THROUGHPUT_SECONDS=100 \
                THROUGHPUT_ARGS="--stages vae bidirectional --batch-times 1 2 4" bash $D throughput &
        fi
        OUT=$R/e bash $D long &
        OUT=$R/a bash $D pairs
        wait
        CUDA_VISIBLE_DEVICES=0 OUT=$R/c VAE_PATH=$shipped/vae BI_INIT=$shipped/model BI_SECONDS=$seconds \
            BI_STEPS=$steps BI_ARGS="optim.cooldown=0.5" BI_NAME=editor_cooldown bash $D bidirectional &
        CUDA_VISIBLE_DEVICES=0 OUT=$R/f VAE_PATH=$shipped/vae TEACHER=$shipped/model CRR=0 ST_SECONDS=$seconds \
            ST_NAME=student_crr0 bash $D streaming &
        CUDA_VISIBLE_DEVICES=$((1 % gpus)) OUT=$R/d VAE_PATH=$shipped/vae BI_INIT=$shipped/model \
            BI_SECONDS=$seconds BI_STEPS=$steps BI_NAME=editor_constant bash $D bidirectional &
        CUDA_VISIBLE_DEVICES=$((1 % gpus)) OUT=$R/a VAE_PATH=$shipped/vae VAE_NAME=tiny_vae_dec \
            VAE_SECONDS=$seconds bash $D vae_decoder &
        CUDA_VISIBLE_DEVICES=$((1 % gpus)) OUT=$R/e VAE_PATH=$shipped/vae TEACHER=$shipped/model CRR=0.5 \
            ST_SECONDS=$seconds ST_NAME=student_crr05 bash $D streaming &
        wait
        OUT=$R VAE_PSNR_ARGS=--families bash $D vae_psnr &
        for model in c/editor_cooldown d/editor_constant e/student_crr05 f/student_crr0; do
            OUT=$R/${model%%/*} EVAL_MODEL=$R/$model VAE_PATH=$shipped/vae bash $D eval_model &
        done
        wait ;;
    students_on)  # after `cooldown`, on the machine still warm and with RESUME=1: the two students and the decoder
        # continued from that call's runs for $LANE_SECONDS, the Cycle-Reverse-0 student on GPU 0 alone; VAE_PSNR=1
        # measures the decoder after
        mkdir -p "$R/a" "$R/e" "$R/f"
        shipped=src/sana_streaming/weights/default
        gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
        CUDA_VISIBLE_DEVICES=0 OUT=$R/f VAE_PATH=$shipped/vae TEACHER=$shipped/model CRR=0 ST_SECONDS=$seconds \
            ST_NAME=student_crr0 bash $D streaming &
        CUDA_VISIBLE_DEVICES=$((1 % gpus)) OUT=$R/e VAE_PATH=$shipped/vae TEACHER=$shipped/model CRR=0.5 \
            ST_SECONDS=$seconds ST_NAME=student_crr05 bash $D streaming &
        CUDA_VISIBLE_DEVICES=$((1 % gpus)) OUT=$R/a VAE_PATH=$shipped/vae VAE_NAME=tiny_vae_dec VAE_SECONDS=$seconds \
            bash $D vae_decoder &
        wait
        if [ -n "${VAE_PSNR:-}" ]; then OUT=$R VAE_PSNR_ARGS=--families bash $D vae_psnr; fi ;;
    students_more)  # 2 GPUs, a fresh machine (RESUME=1 on the same machine still warm: every run goes on): the
        # carried Cycle-Reverse-0 student ($STUDENT) further against its teacher ($TEACHER, the editor it was
        # distilled from) with a new critic, at the recipe's batch (GPU 0) and at twice it (GPU 1, beside the shipped
        # VAE's decoder further). The first call first runs the filter's gpu tests and times its device path.
        mkdir -p "$R/a" "$R/e" "$R/f"
        shipped=src/sana_streaming/weights/default
        student=${STUDENT:?set STUDENT} teacher=${TEACHER:?set TEACHER}
        gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
        if [ -z "${RESUME:-}" ]; then
            OUT=$R/a TESTS_SECONDS=120 bash $D tests_stabilize
            OUT=$R/a bash $D stabilizer_cost
            OUT=$R/e bash $D long &
            OUT=$R/a bash $D pairs
            wait
        fi
        CUDA_VISIBLE_DEVICES=0 OUT=$R/f VAE_PATH=$shipped/vae TEACHER=$teacher ST_INIT=$student CRR=0 \
            ST_SECONDS=$seconds ST_NAME=student_crr0 bash $D streaming &
        CUDA_VISIBLE_DEVICES=$((1 % gpus)) OUT=$R/e VAE_PATH=$shipped/vae TEACHER=$teacher ST_INIT=$student CRR=0 \
            ST_SECONDS=$seconds ST_BATCH=4 ST_NAME=student_crr0_b4 bash $D streaming &
        CUDA_VISIBLE_DEVICES=$((1 % gpus)) OUT=$R/a VAE_PATH=$shipped/vae VAE_NAME=tiny_vae_dec VAE_SECONDS=$seconds \
            bash $D vae_decoder &
        wait
        if [ -n "${VAE_PSNR:-}" ]; then OUT=$R VAE_PSNR_ARGS=--families bash $D vae_psnr; fi ;;
    grow)  # 2 GPUs, a fresh machine (RESUME=1 on the same machine still warm: every run goes on): the editor
        # $EDITOR (the students' teacher) grown to depth 8 (GPU 0) and 10 (GPU 1, beside the shipped VAE's decoder
        # further with the frame-difference term at $DEC_TEMPORAL, default 2, against the recipe's 0.5: even a
        # perfect editor is held above the warp-ratio target by the VAE's flicker; on GPU 0 the same decoder with
        # the motion-aware term, vae_train.warped_temporal = $DEC_WARPED, default 2), each editor a copy of $EDITOR
        # at first (benchmarks/grow_model.py), trained on; EVAL=1 evaluates both after (GPU, the shipped VAE). Both
        # the editor and its student stopped learning at depth 4 (NOTES, try 8); depth 10 is the deepest whose
        # float16 weights come back (16 MiB a file).
        mkdir -p "$R/a" "$R/b" "$R/c" "$R/d"
        shipped=src/sana_streaming/weights/default
        editor=${EDITOR:?set EDITOR}
        gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
        if [ -z "${RESUME:-}" ]; then
            for depth in 8 10; do  # device_run.sh sets PYTHONPATH for its own steps only
                PYTHONPATH="$PWD/src" python3 benchmarks/grow_model.py "$editor" "/tmp/editor_depth$depth" --depth $depth
            done
            OUT=$R/a bash $D pairs
        fi
        CUDA_VISIBLE_DEVICES=0 OUT=$R/c VAE_PATH=$shipped/vae BI_INIT=/tmp/editor_depth8 BI_SECONDS=$seconds \
            BI_NAME=editor_depth8 bash $D bidirectional &
        CUDA_VISIBLE_DEVICES=$((1 % gpus)) OUT=$R/d VAE_PATH=$shipped/vae BI_INIT=/tmp/editor_depth10 \
            BI_SECONDS=$seconds BI_NAME=editor_depth10 bash $D bidirectional &
        decoder_lanes
        wait
        eval_models c/editor_depth8 d/editor_depth10 ;;
    regress)  # 2 GPUs, a fresh machine (RESUME=1 on the same machine still warm): the shipped student trained on
        # by regression on the ground-truth edits (dmd.weight=0 dmd.regression=1: no teacher, no critic), grown to
        # depth 8 (GPU 0) and as it is (GPU 1), on pairs of 81 frames (the rollout's 11 latent frames), at
        # $REG_LR (default 1e-4) and batch $REG_BATCH (default 4); beside them the decoder lanes of `grow` (a: the
        # frame-difference term at $DEC_TEMPORAL, b: the motion-aware one at $DEC_WARPED). EVAL=1 evaluates both
        # students after (GPU). Try 9 ran it on the try-8 student; the shipped student is its result, 72 steps further.
        mkdir -p "$R/a" "$R/b" "$R/e" "$R/f"
        shipped=src/sana_streaming/weights/default
        gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
        if [ -z "${RESUME:-}" ]; then
            PYTHONPATH="$PWD/src" python3 benchmarks/grow_model.py $shipped/model /tmp/student_depth8 --depth 8
            OUT=$R/a PAIRS_FRAMES=81 bash $D pairs
        fi
        regress="dmd.weight=0 dmd.regression=1 optim.warmup_steps=50" batch=${REG_BATCH:-4}
        student e 0 /tmp/student_depth8 student_reg_depth8 "${REG_LR:-1e-4}"
        student f $((1 % gpus)) $shipped/model student_reg_depth4 "${REG_LR:-1e-4}"
        decoder_lanes
        wait
        eval_models e/student_reg_depth8 f/student_reg_depth4 ;;
    decay)  # 2 GPUs, a fresh machine, then RESUME=1 on the same machine still warm; COOL=1 in the last call: every
        # lane ends there with the learning rate falling linearly to 0 over that call's LANE_SECONDS
        # (benchmarks/cooldown_args.py; until then constant). The try-9 student gained 0.2 dB from 72 steps at a
        # lower rate after its loss had stopped falling at 1e-4, and no lane had ever lowered its rate.
        # GPU 0: (e) the shipped student grown to depth 8 at $DEEP_LR (default 1e-4: its new blocks start at
        # zero), (b) the shipped decoder with the motion-aware term at $DEC_WARPED (default 1). GPU 1: (f) the
        # shipped student at $REG_LR (default 3e-5), (a) the shipped decoder on the recipe (its loss, at a rate
        # falling for the first time), (c) the shipped decoder grown to $DEC_LAYERS resnets a block (default 2 2 2
        # 2: 4.7 M parameters against 3.5 M, a 24-frame chunk decoded on 2 CPU cores in 327 ms against 218) on the
        # recipe. Students by regression (dmd.weight=0), batch $REG_BATCH (default 8), pairs of 81 frames
        # (STILLS_ARGS=--grey: 4 more inputs). EVAL=1 evaluates both students after (GPU, the shipped VAE); the
        # decoders are measured on the CPU after. Try 11 ran DECODERS=0 E_LR=1e-5 LATENT=128 VAL_INPUT=coffee.
        mkdir -p "$R/a" "$R/b" "$R/c" "$R/e" "$R/f"
        shipped=src/sana_streaming/weights/default
        gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
        # E_LR=RATE: lane e is the shipped student at that rate instead of grown to depth 8 (try 10: depth 8 gave
        # nothing more than depth 4)
        e_name=$([ -n "${E_LR:-}" ] && echo student_reg_lr${E_LR} || echo student_reg_depth8)
        if [ -z "${RESUME:-}" ]; then  # device_run.sh sets PYTHONPATH for its own steps only
            [ -n "${E_LR:-}" ] || PYTHONPATH="$PWD/src" python3 benchmarks/grow_model.py $shipped/model \
                /tmp/student_depth8 --depth 8
            [ "${DECODERS:-1}" = 0 ] || PYTHONPATH="$PWD/src" python3 benchmarks/grow_model.py $shipped/vae \
                /tmp/vae_dec_grown --decoder-layers ${DEC_LAYERS:-2 2 2 2}
            OUT=$R/a PAIRS_FRAMES=81 bash $D pairs
        fi
        batch=${REG_BATCH:-8}
        regress="dmd.weight=0 dmd.regression=1 optim.warmup_steps=50"
        # VAL_INPUT=NAME (a still, e.g. coffee): kept out of the pairs, validated on every $VAL_EVERY (50) steps;
        # the best validated weights come back beside the last ones (NAME_best)
        validation=${VAL_INPUT:+data.val_manifest=/tmp/data/val/manifest.jsonl run.val_every=${VAL_EVERY:-50}}
        if [ -n "${E_LR:-}" ]; then
            student e 0 $shipped/model "$e_name" "$E_LR"
        else
            student e 0 /tmp/student_depth8 "$e_name" "${DEEP_LR:-1e-4}"
        fi
        student f $((1 % gpus)) $shipped/model student_reg_depth4 "${REG_LR:-3e-5}"
        if [ "${DECODERS:-1}" = 1 ]; then  # DECODERS=0: the students alone (try 10: the decoder is saturated)
            decoder b 0 $shipped/vae tiny_vae_dec_warped "vae_train.warped_temporal=${DEC_WARPED:-1.0}"
            decoder a $((1 % gpus)) $shipped/vae tiny_vae_dec ""
            decoder c $((1 % gpus)) /tmp/vae_dec_grown tiny_vae_dec_grown ""
        fi
        [ -z "${LATENT:-}" ] || latent_lanes "$LATENT"  # LATENT="128": latent's lanes beside the students
        wait
        eval_models e/$e_name f/student_reg_depth4 $(cd "$R" && ls -d e/*_best f/*_best 2>/dev/null) ;;
    latent)  # 2 GPUs, a fresh machine, then RESUME=1 on the same machine still warm (COOL=1 in the last call:
        # every lane cooled, as in decay): the decoder has stopped gaining (try 10: 24.96 dB, the same after a
        # cool-down and with a deeper decoder); the latent is the bottleneck. The shipped VAE grown to each latent
        # width in $LATENT (default "64"; at most two: GPU 0, then GPU 1; the trained 32 channels first, decoded
        # as before, benchmarks/grow_model.py --latent-channels), trained whole, beside the shipped VAE trained
        # whole (h, GPU 1: the control, the encoder free too). Pairs of $PAIRS_FRAMES frames (default 65),
        # $CLIPS_PER_INPUT a clip or still (default 12). The VAEs are measured on the CPU after
        # (vae_psnr.py --families). Try 10 ran LANE_SECONDS=95 CLIPS_PER_INPUT=4 with 64 channels.
        shipped=src/sana_streaming/weights/default
        gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
        mkdir -p "$R/g"
        [ -n "${RESUME:-}" ] || OUT=$R/g bash $D pairs
        latent_lanes "${LATENT:-64}"
        wait ;;
    wide)  # 2 GPUs, a fresh machine, then RESUME=1 on the same machine still warm (COOL=1 in the last call, as in
        # decay). Try 10: a deeper decoder did not move the VAE (24.96 dB; 25.7 even on the training clip
        # bigbuckbunny: short of capacity more than of data); try 11: trained whole it moved (25.35 dB, 25.65 with
        # a 128-channel latent), and its encoder's blocks (32, 64, 128 channels) are narrower than the latent they
        # would fill. Width: (g, GPU 0) the shipped
        # VAE with twice the channels in every block (grow_width: equal to it at first; 19.3 M parameters, 39 MB in
        # float16), trained whole; (i, GPU 1) its decoder alone twice as wide (15.3 M), trained on the shipped
        # latents, so every editor stays valid; (h, GPU 1) the shipped VAE trained whole: the control for g. Pairs
        # of $PAIRS_FRAMES frames (default 65). EVAL=1 (the last call): vae_psnr.py --families on every VAE, on the
        # GPU. The two wide VAEs' weights (37 and 29 MiB in 15-MiB parts) do not come back together: BRING="g" or
        # "i" (the control's need not). On an H200 the wide VAEs train as fast as the tiny one (the loader bounds
        # them: 44 samples/s); on 2 CPU cores they cost about 3-4x its time a chunk (benchmarks/NOTES.md, try 11).
        mkdir -p "$R/g" "$R/h" "$R/i"
        shipped=src/sana_streaming/weights/default
        gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
        if [ -z "${RESUME:-}" ]; then
            PYTHONPATH="$PWD/src" python3 benchmarks/grow_model.py $shipped/vae /tmp/vae_w2 --width 2
            PYTHONPATH="$PWD/src" python3 benchmarks/grow_model.py $shipped/vae /tmp/vae_decw2 --width 2 \
                --width-parts decoder
            OUT=$R/g bash $D pairs
        fi
        vae_lane g 0 /tmp/vae_w2 tiny_vae_w2
        decoder i $((1 % gpus)) /tmp/vae_decw2 tiny_vae_decw2 ""
        vae_lane h $((1 % gpus)) $shipped/vae tiny_vae_whole
        wait
        [ -z "${EVAL:-}" ] || OUT=$R VAE_PSNR_ARGS=--families bash $D vae_psnr ;;
    follow)  # 2 GPUs, a fresh machine, then RESUME=1 on the same machine still warm (COOL=1 in the last call, as in
        # decay). Try 11 trained the shipped VAE whole, encoder too, 11,449 steps cooled: 25.35 dB (h), and grown to
        # a 128-channel latent 11,259 steps: 25.65 dB (g), against 24.96. Their latents moved, so the student must
        # follow them: (j, GPU 0) the shipped student grown to 128 channels (grow_model.py --latent-channels 128)
        # on $C128_VAE's latents at $C128_LR (default 1e-4): its new channels' velocity is 0 at first, so the
        # sampler's noise stays in them, and $C128_VAE's decoder reads them. Give a VAE whose new channels'
        # statistics are calibrated (grow_model.py --calibrate .data/clips/*.mp4 --calibrate-from 32): that noise
        # is then at their own scale, and the grown student starts at 23.3 dB on invert and blur (57 frames)
        # against 24.0 for the shipped pair, where uncalibrated (unit scale) it starts at 19.2; (k, GPU 1) the shipped student on $WHOLE_VAE's latents
        # at $REG_LR (default 3e-5: they moved little, and the shipped student through that VAE untrained scores
        # 21.68 dB against 21.74). Both by regression, validated on $VAL_INPUT's pairs as in decay; beside them
        # both VAEs further whole (g on GPU 0, h on GPU 1), each student on the latents of the VAE it started from
        # (an editor one VAE run behind was within 0.1 dB in try 6). EVAL=1 evaluates each student with the VAE it
        # trained on (GPU) and measures the VAEs. Carry the two VAE folders (the tracked tree leaves no room for
        # them: bash benchmarks/slim_tree.sh on before the calls, off after; benchmarks/NOTES.md, try 11).
        # LANES (default "j k l h g"; also m, j's twin with M_ARGS, below) runs only those lanes, spread over the
        # GPUs in that order (lane number i on GPU i mod the GPU count; try 12 ran the default with j, l, g on GPU 0 and k, h on GPU 1). J_INIT: lane j's
        # student from that folder (a student already grown to 128 channels, e.g. try 12's j) instead of the
        # shipped one grown afresh. WHOLE_VAE is needed only when lane k, l or h runs. (Since try 12 "the shipped"
        # student and VAE are try 12's l and h: the figures above are try 11's, for try 9's.)
        lanes=(${LANES:-j k l h g}) W_WIDTH=${W_WIDTH:-2}  # (lane w, below)
        lane_gpu() {  # lane_gpu LANE: LANE's GPU, or a failure when LANES leaves it out
            local i
            for i in "${!lanes[@]}"; do [ "${lanes[$i]}" != "$1" ] || { echo $((i % gpus)); return 0; }; done
            return 1
        }
        shipped=src/sana_streaming/weights/default
        gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
        c128=${C128_VAE:?set C128_VAE to the 128-channel VAE folder} whole=${WHOLE_VAE:-}
        for lane in "${lanes[@]}"; do
            mkdir -p "$R/$lane"
            [[ $lane != [klh] || -n $whole ]] || { echo "lane $lane needs WHOLE_VAE" >&2; exit 2; }
        done
        if [ -z "${RESUME:-}" ]; then
            if { lane_gpu j || lane_gpu m; } >/dev/null && [ -z "${J_INIT:-}" ]; then
                PYTHONPATH="$PWD/src" python3 benchmarks/grow_model.py $shipped/model /tmp/student_c128 \
                    --latent-channels 128
            fi
            for lane in m w; do
                width=${lane^^}_WIDTH lane_init=${lane^^}_INIT
                [ -n "${!width:-}" ] && [ -z "${!lane_init:-}" ] && lane_gpu $lane >/dev/null || continue
                PYTHONPATH="$PWD/src" python3 benchmarks/grow_model.py "${J_INIT:-/tmp/student_c128}" \
                    "/tmp/student_w${!width}" --width "${!width}" || exit 2
            done
            OUT=$R/${lanes[0]} PAIRS_FRAMES=81 bash $D pairs
        fi
        batch=${REG_BATCH:-8}
        regress="dmd.weight=0 dmd.regression=1 optim.warmup_steps=50"
        validation=${VAL_INPUT:+data.val_manifest=/tmp/data/val/manifest.jsonl run.val_every=${VAL_EVERY:-50}}
        evals=() eval_vae=$c128  # with G_MODE=decoder the students are scored through g's new decoder (same latents)
        [ "${G_MODE:-whole}" != decoder ] || ! lane_gpu g >/dev/null || eval_vae=$R/g/tiny_vae_c128
        # (j) and its twin (m): the grown student, each lane with its own overrides (J_ARGS, M_ARGS; the last word
        # wins; no spaces inside one override), e.g. "dmd.regression=0 dmd.pixels=1" (try 13: 659 steps, 21.80 dB
        # on three draws), "dmd.pixels=3 dmd.regression_units=raw" or "optim.train_only=['x_embedder','final_layer']":
        # two losses side by side on the GPU, since the CPU pilots cannot rank them (NOTES, try 13)
        # J_BATCH / M_BATCH: that lane's batch instead of $REG_BATCH (the cool-down's step count follows it)
        # M_WIDTH=N: m's student grown N times wider first (grow_model.py --width N: the same function but for a
        # little noise; made in /tmp, which a RESUME=1 call on the same machine still has), without validation:
        # its float16 weights come back in two parts, and a call brings back 8 files
        # (w): a third twin with W_ARGS, W_BATCH and W_WIDTH (default 2), so that width runs beside j and m
        # (LANES="j m w g h" on nvidia-h200-x4; NO_BEST=1 then leaves the validated lanes' best weights behind)
        # M_INIT / W_INIT: that lane's student from that folder instead of J_INIT (e.g. a lost machine's weights;
        # W_INIT already wide: not grown again, and still without validation)
        for lane in j m w; do
            gpu=$(lane_gpu $lane) || continue
            overrides=${lane^^}_ARGS lane_batch=${lane^^}_BATCH name=student_reg_c128 lane_init=${lane^^}_INIT
            init=${!lane_init:-${J_INIT:-/tmp/student_c128}} width=${lane^^}_WIDTH lane_validation=$validation
            [ $lane = j ] || name+=_$lane
            if [ $lane != j ] && [ -n "${!width:-}" ]; then
                [ -n "${!lane_init:-}" ] || init=/tmp/student_w${!width}
                lane_validation=""
            fi
            regress="$regress ${!overrides:-}" batch=${!lane_batch:-$batch} validation=$lane_validation \
                student $lane "$gpu" "$init" $name "${C128_LR:-1e-4}" "$c128"
            evals+=("$lane/$name@$eval_vae")
        done
        if gpu=$(lane_gpu k); then
            student k "$gpu" $shipped/model student_reg_whole "${REG_LR:-3e-5}" "$whole"
            evals+=("k/student_reg_whole@$whole")
        fi
        # (l) k with the pixel term too (dmd.pixels=$PIXELS, default 1: the decoded rollout against the ground
        # truth's pixels, what eval-model scores), without validation (8 files come back from a call)
        if gpu=$(lane_gpu l); then
            regress="$regress dmd.pixels=${PIXELS:-1}" validation="" \
                student l "$gpu" $shipped/model student_reg_whole_pixels "${REG_LR:-3e-5}" "$whole"
            evals+=("l/student_reg_whole_pixels@$whole")
        fi
        # (g) $C128_VAE further: whole, or with G_MODE=decoder its decoder alone, so that its latents stay those the
        # students train on and the pair composes (try 14: a student through the VAE one whole run ahead of its
        # latents lost 0.1 dB on three draws; whole runs gained about 0.3 dB a session, decoder-only ones less)
        if gpu=$(lane_gpu g); then
            if [ "${G_MODE:-whole}" = decoder ]; then
                decoder g "$gpu" "$c128" tiny_vae_c128 ""
            else
                vae_lane g "$gpu" "$c128" tiny_vae_c128
            fi
        fi
        if gpu=$(lane_gpu h); then vae_lane h "$gpu" "$whole" tiny_vae_whole; fi
        wait
        [ -z "${EVAL:-}" ] || OUT=$R VAE_PSNR_ARGS=--families bash $D vae_psnr &  # beside the evaluations
        eval_models "${evals[@]}" \
            $(cd "$R" && ls -d j/*_best m/*_best 2>/dev/null | sed "s|\$|@$eval_vae|") \
            $(cd "$R" && ls -d k/*_best 2>/dev/null | sed "s|\$|@$whole|")
        wait ;;
    *) echo "unknown phase $phase (sweep, students, steady, temporal, vae65, refine, refine4, c128, edited, edited2, cooldown, students_on, students_more, grow, regress, decay, latent, wide, follow)"; exit 2 ;;
esac
cd "$R" || exit 1
# BRING="g i": only those lanes' weights come back (at most 64 MiB come back from a call), NO_BEST=1: no *_best
# folder's weights; then every weights file
# over 15 MiB in 15-MiB parts, model.safetensors.part00 ... (16 MiB a file: `cat` the parts together)
for lane in */; do
    [ -z "${BRING:-}" ] || [[ " $BRING " == *" ${lane%/} "* ]] || rm -f "$lane"*/model.safetensors
done
[ -z "${NO_BEST:-}" ] || rm -f */*_best/model.safetensors  # (their evaluations stay in the lanes' results)
for weights in */*/model.safetensors; do
    [ ! -f "$weights" ] || [ "$(stat -c %s "$weights")" -le $((15 * 1024 * 1024)) ] ||
        { split -b 15M -d "$weights" "$weights.part" && rm "$weights"; }
done
tar -cf all.tar $(ls -- results.tar */results.tar */*/config.json 2>/dev/null) && rm -f results.tar */results.tar */*/config.json
find . -type f | sort
