#!/usr/bin/env bash
# One call on a lent GPU machine (no network, no PyAV, no MiniLM weights): run from the repository root as
#   bash benchmarks/device_run.sh STEP [STEP ...]
# with OUT set to the folder whose files come back. Each step has its own time box, so one slow step cannot
# eat the others; logs and JSON results go to $OUT. Steps:
#   tests     the GPU test suite (pytest -m gpu)
#   tests_stabilize  the temporal filter's GPU tests alone (tests/engine/test_stabilize.py)
#   stabilizer_cost  the temporal filter's cost a frame on the GPU at 1280x704 and 384x224 (the flow on the CPU apart)
#   speed     the streaming bench ($SPEED_VARIANTS): FP8 + compile + graphs; with the unrolled depthwise conv, the Triton
#             GDN, the one-pass Triton activation quantizer; both VAEs
#   full      the bench's default progression of variants (all-softmax ... Triton + FP8 + compile + graphs)
#   kernels   GDN kernels at the 720p size (alone and inside a compiled block) and the attention backends
#   mpq       mpq-search on the 2B model (synthetic calibration, 2 block ranges)
#   pool      aggregate frames/s of 1, 2 and 4 concurrent streams per GPU (StreamPool, every visible GPU)
#   batch     frames/s of 1, 2 and 4 streams on one GPU with their chunks in one model call, beside one by one
#   train2b   stage 1 of the 2B model (FSDP2, activation checkpointing, 81 frames at 1280x704, random weights)
#             on every visible GPU under torchrun: samples/s and video tokens/s per GPU, peak memory, with FSDP2
#             gathering the weights in float32 and in bfloat16 ($FSDP_PARAM_DTYPES)
#   throughput  the tiny recipes' training steps at their batch sizes and at 4x (synthetic clips): samples/s
#   pairs     the default model's data: $CLIPS_PER_INPUT (12) pairs of $PAIRS_FRAMES (65) frames per input, as
#             arrays, from the carried clips (.data/clips: carry it) and the photographs of benchmarks/stills.py
#             (run it first in every call that trains)
#   long      long videos for the streaming stage, as arrays: the carried clips and the photographs (camera
#             moves of 8 s), each listed with every edit family's instruction
#   vae       the tiny causal VAE (or preset $VAE_PRESET, e.g. tiny-c64) for $VAE_SECONDS seconds (or $VAE_STEPS
#             steps); weights back in float16 ($OUT/$VAE_NAME/, default tiny_vae)
#   vae_decoder  the carried VAE ($VAE_PATH, default .data/tiny_vae) with its decoder trained on for $VAE_SECONDS seconds (or a new
#             decoder: VAE_DECODER=tiny-wide), the encoder (hence the latents of models trained on it) unchanged;
#             weights back in float16 ($OUT/$VAE_NAME/, default tiny_vae)
#   vae_psnr  reconstruction PSNR and warp error of every VAE folder in $OUT, of .data/tiny_vae and of the shipped
#             default model's VAE on the held-out clip (VAE_PSNR_ARGS=--families: each edit family's ground truth too)
#   bidirectional  the tiny bidirectional editor for $BI_SECONDS seconds (or $BI_STEPS steps) on this call's
#             $OUT/tiny_vae, else .data/tiny_vae, and the precomputed .data/text.safetensors (sana-streaming
#             text-features); weights back in float16
#   eval_model  eval-model on $EVAL_MODEL with $VAE_PATH (default .data/tiny_vae) on the held-out clip
#   streaming the tiny streaming student (DMD, Cycle-Reverse weight $CRR, default 0.5) for $ST_SECONDS seconds on
#             the long videos (run `long` first), this call's or the carried (.data/) VAE and bidirectional editor
#             (or $VAE_PATH and $TEACHER); $ST_NAME names it (default tiny_streaming_crr05 for CRR 0.5); ST_MANIFEST
#             another manifest (the pairs' for the regression term: ST_ARGS="dmd.regression=1 dmd.weight=0")
# VAE_BATCH, BI_BATCH and ST_BATCH override the recipes' batch sizes (the tiny models leave an H200 mostly idle);
# VAE_ARGS, BI_ARGS and ST_ARGS add overrides to those trainings' commands (e.g. VAE_ARGS="optim.lr=6e-4");
# Weights come back in float16; a file over 16 MiB does not come back: train_default_model.sh splits such files
# into 15-MiB parts after everything that reads them (model.safetensors.part00 ...: `cat` them together).
# VAE_INIT, BI_INIT and ST_INIT (model folders) continue a VAE, an editor or a student trained in an earlier call;
# VAE_NAME, BI_NAME and ST_NAME name the exported folders (and keep side-by-side runs' folders apart);
# MODEL_PRESET (e.g. tiny-c64) is the editor's and the student's architecture, VAE_PATH their VAE (default: this
# lane's $OUT/tiny_vae, else .data/tiny_vae).
# The step logs and JSON results come back as one archive, results.tar (at most 8 files return from a call);
# Several invocations run side by side, each with its own OUT: on one GPU (tiny models leave it mostly idle), or
# on separate GPUs with CUDA_VISIBLE_DEVICES (benchmarks/train_default_model.sh does the former).
set -u
export PYTHONPATH="$PWD/src:$PWD" PYTHONUNBUFFERED=1
export GIT_COMMIT="${GIT_COMMIT:-unknown}"
OUT="${OUT:?set OUT to the folder that comes back}"
CLI="python3 -m sana_streaming.cli"

step() {  # step NAME SECONDS COMMAND...
    local name=$1 seconds=$2
    shift 2
    echo "== $name (at most ${seconds}s)"
    timeout "$seconds" "$@" > "$OUT/$name.log" 2>&1
    echo "== $name: exit $? after ${SECONDS}s"
    grep -v -i "warn" "$OUT/$name.log" | tail -n 12
}

fresh() {  # fresh RUN_DIR: a run starts from its init, not from the checkpoints an earlier call left in /tmp on a
    # machine that stayed warm (the trainer resumes from RUN_DIR's latest checkpoint); RESUME=1 keeps them
    [ -n "${RESUME:-}" ] || rm -rf "$1"
}

export_half() {  # export_half vae|dit RUN_DIR DEST [FOLDER]: RUN_DIR/FOLDER's weights (default final) in float16
    # (a file must stay under 16 MiB)
    [ -n "${4:-}" ] || cp "$2/log.jsonl" "$3_log.jsonl"
    python3 -c "
import sys, torch
from sana_streaming.models.transformer import SanaStreamingTransformer
from sana_streaming.vae.autoencoder import VideoAutoencoder
kind = VideoAutoencoder if sys.argv[1] == 'vae' else SanaStreamingTransformer
kind.from_pretrained(sys.argv[2] + '/' + sys.argv[4], dtype=torch.float16).save_pretrained(sys.argv[3])
" "$1" "$2" "$3" "${4:-final}"
}

stills() {  # photographs from scikit-image, scikit-learn and matplotlib as .npy stills (make-pairs films them);
    # STILLS_ARGS=--grey adds scikit-image's grey photographs
    python3 benchmarks/stills.py /tmp/data/stills ${STILLS_ARGS:-}
}

for what in "$@"; do
    case $what in
        tests) step tests "${TESTS_SECONDS:-300}" python3 -m pytest -q -m gpu tests -p no:cacheprovider \
            --ignore tests/io --ignore tests/test_cli.py --ignore tests/train/data --ignore tests/vae/test_autoencoder.py ;;
        tests_stabilize) step tests_stabilize "${TESTS_SECONDS:-120}" python3 -m pytest -q -m gpu \
            tests/engine/test_stabilize.py -p no:cacheprovider ;;
        stabilizer_cost)  # the temporal filter's cost a frame on the GPU (benchmarks/stabilizer_cost.py)
            step stabilizer_cost 120 python3 benchmarks/stabilizer_cost.py --device cuda --clip .data/heldout/bikes.mp4 \
                --out "$OUT/stabilizer_cost_h200.json" ;;
        speed) step speed 420 $CLI bench --variants ${SPEED_VARIANTS:-fp8+compile+graphs fp8+compile+graphs+unrolled-dwconv \
            fp8+triton-gdn+compile+graphs fp8+triton-quant+compile+graphs} --out "$OUT/bench_h200_speed.json" ;;
        full) step full 560 $CLI bench --out "$OUT/bench_h200.json" ;;
        kernels)
            step gdn 150 python3 benchmarks/gdn_kernels.py --frames 3 5 --out "$OUT/gdn_kernels_h200.json"
            step attention 90 python3 benchmarks/attention_backends.py --out "$OUT/attention_backends_h200.json" ;;
        mpq) step mpq "${MPQ_SECONDS:-400}" $CLI mpq-search --synthetic --frames 57 --ranges 2 --model sana-streaming-2b-720p \
            --quiet --out "$OUT/mpq_search_2b_h200.json" --out-policy "$OUT/mpq_policy_2b.json" ;;
        pool)  # every visible GPU (CUDA_VISIBLE_DEVICES chooses); POOL_STREAMS streams per GPU
            gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
            devices=$(seq -f "cuda:%g" 0 $((gpus - 1)))
            step "pool_x$gpus" "${POOL_SECONDS:-540}" python3 benchmarks/pool_throughput.py --devices $devices \
                --streams-per-device ${POOL_STREAMS:-1 2 4} --compile ${POOL_ARGS:-} --out "$OUT/pool_throughput_h200x$gpus.json" ;;
        batch)  # BATCH_STREAMS streams on one GPU, their chunks in one model call (push_together) beside one by one
            step batch "${BATCH_SECONDS:-540}" python3 benchmarks/batch_throughput.py --device cuda:0 \
                --streams ${BATCH_STREAMS:-1 2 4} --compile --out "$OUT/batch_throughput_h200.json" ;;
        train2b)  # one process per visible GPU; TRAIN2B_OMP sets each one's CPU threads (default: a share of the cores)
            gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
            name=train_throughput_2b_h200x$gpus${TRAIN2B_OMP:+_omp$TRAIN2B_OMP}
            step "train2b_x$gpus${TRAIN2B_OMP:+_omp$TRAIN2B_OMP}" "${TRAIN2B_SECONDS:-540}" \
                env ${TRAIN2B_OMP:+OMP_NUM_THREADS=$TRAIN2B_OMP} torchrun --standalone --nproc_per_node "$gpus" \
                benchmarks/train_throughput.py --scale 2b --steps "${TRAIN2B_STEPS:-3}" --warmup 1 \
                --fsdp-param-dtypes ${FSDP_PARAM_DTYPES:-float32 bfloat16} ${TRAIN2B_ARGS:-} --out "$OUT/$name.json" ;;
        throughput)  # the tiny recipes' steps at their batch and 4x it (synthetic data): is a step launch-bound?
            step throughput "${THROUGHPUT_SECONDS:-240}" python3 benchmarks/train_throughput.py --batch-times 1 4 \
                --steps 5 --warmup 2 --no-checkpointing ${THROUGHPUT_ARGS:-} --out "$OUT/train_throughput_batch_h200.json" ;;
        pairs)  # VAL_INPUT=NAME: that still is kept out of the pairs, its own in /tmp/data/val (data.val_manifest)
            stills
            if [ -n "${VAL_INPUT:-}" ]; then
                mkdir -p /tmp/data/val_input && mv "/tmp/data/stills/$VAL_INPUT.npy" /tmp/data/val_input/
                step val_pairs 120 $CLI make-pairs /tmp/data/val_input/*.npy --out /tmp/data/val --clip-format npy \
                    --clips-per-input "${CLIPS_PER_INPUT:-12}" --frames "${PAIRS_FRAMES:-65}" --quiet \
                    --workers "${PAIRS_WORKERS:-$(nproc)}"
            fi
            # one process took 191 s for try 13's 20 inputs x 12 clips of 81 frames, past this step's old 180 s
            step pairs "${PAIRS_SECONDS:-300}" $CLI make-pairs .data/clips/*.mp4 /tmp/data/stills/*.npy --out /tmp/data/pairs \
                --clip-format npy --clips-per-input "${CLIPS_PER_INPUT:-12}" --frames "${PAIRS_FRAMES:-65}" --quiet \
                --workers "${PAIRS_WORKERS:-$(nproc)}" ;;
        long)  # every clip and still with every family's instruction (the stills filmed over 8 s)
            stills
            step long 120 $CLI make-pairs .data/clips/*.mp4 /tmp/data/stills/*.npy --long --clip-format npy \
                --families-per-video 14 --out /tmp/data/long --quiet ;;
        vae)  # trains for VAE_SECONDS (or VAE_STEPS, whichever ends first), then exports what it reached
            name=${VAE_NAME:-tiny_vae}
            fresh "/tmp/runs/$name"
            step "${name}_train" $((${VAE_SECONDS:-420} + 90)) $CLI train recipes/tiny_vae.toml \
                data.manifest=/tmp/data/pairs/manifest.jsonl run.out_dir="/tmp/runs/$name" \
                run.steps="${VAE_STEPS:-20000}" run.time_limit_s="${VAE_SECONDS:-420}" run.save_every=1000 \
                ${VAE_PRESET:+vae.preset=$VAE_PRESET} ${VAE_BATCH:+data.batch_size=$VAE_BATCH} \
                ${VAE_INIT:+vae.path=$VAE_INIT optim.warmup_steps=100} ${VAE_ARGS:-} --quiet
            export_half vae "/tmp/runs/$name" "$OUT/$name" ;;
        vae_decoder)  # the carried .data/tiny_vae with its decoder trained on (or a new one: VAE_DECODER=tiny-wide)
            name=${VAE_NAME:-tiny_vae}
            fresh "/tmp/runs/${name}_decoder"
            step "${name}_decoder_train" $((${VAE_SECONDS:-420} + 90)) $CLI train recipes/tiny_vae.toml \
                data.manifest=/tmp/data/pairs/manifest.jsonl vae.path="${VAE_PATH:-.data/tiny_vae}" "vae_train.mode='decoder'" \
                "vae_train.decoder='${VAE_DECODER:-}'" run.out_dir="/tmp/runs/${name}_decoder" \
                run.steps="${VAE_STEPS:-20000}" run.time_limit_s="${VAE_SECONDS:-420}" run.save_every=1000 \
                optim.warmup_steps=100 ${VAE_BATCH:+data.batch_size=$VAE_BATCH} ${VAE_ARGS:-} --quiet
            export_half vae "/tmp/runs/${name}_decoder" "$OUT/$name" ;;
        vae_psnr)  # every VAE folder under $OUT and .data/tiny_vae on the held-out clip (.data/heldout/bikes.mp4)
            step vae_psnr 300 python3 benchmarks/vae_psnr.py $(ls -d "$OUT"/*/ "$OUT"/*/*/ .data/tiny_vae \
                src/sana_streaming/weights/default/vae 2>/dev/null | while read -r f; do
                grep -qs latent_channels "$f/config.json" && echo "$f"; done) --clip .data/heldout/bikes.mp4 \
                ${VAE_PSNR_ARGS:-} --out "$OUT/vae_psnr.json" ;;
        bidirectional)  # on the VAE of this call's vae step if there was one, else the carried .data/tiny_vae
            vae_path=.data/tiny_vae
            [ -f "$OUT/tiny_vae/config.json" ] && vae_path="$OUT/tiny_vae"
            vae_path=${VAE_PATH:-$vae_path} name=${BI_NAME:-tiny_bidirectional}
            fresh "/tmp/runs/$name"
            step bi_train $((${BI_SECONDS:-480} + 60)) $CLI train recipes/tiny_bidirectional.toml \
                data.manifest=/tmp/data/pairs/manifest.jsonl vae.path="$vae_path" \
                "text.encoder='features:.data/text.safetensors'" run.out_dir="/tmp/runs/$name" \
                run.steps="${BI_STEPS:-20000}" run.time_limit_s="${BI_SECONDS:-480}" run.save_every=500 \
                ${BI_BATCH:+data.batch_size=$BI_BATCH} ${BI_INIT:+model.init=$BI_INIT optim.warmup_steps=50} \
                ${MODEL_PRESET:+model.preset=$MODEL_PRESET} ${BI_ARGS:-} --quiet
            export_half dit "/tmp/runs/$name" "$OUT/$name" ;;
        streaming)  # the student on this call's or the carried VAE and editor; CRR weight $CRR (default 0.5)
            vae_path=.data/tiny_vae teacher=${TEACHER:-.data/tiny_bidirectional} crr="${CRR:-0.5}"
            [ -f "$OUT/tiny_vae/config.json" ] && vae_path="$OUT/tiny_vae"
            vae_path=${VAE_PATH:-$vae_path}
            [ -z "${TEACHER:-}" ] && [ -f "$OUT/tiny_bidirectional/config.json" ] && teacher="$OUT/tiny_bidirectional"
            name=${ST_NAME:-tiny_streaming_crr${crr//./}}
            fresh "/tmp/runs/$name"
            step "${name}_train" $((${ST_SECONDS:-480} + 90)) $CLI train recipes/tiny_streaming.toml \
                data.manifest="${ST_MANIFEST:-/tmp/data/long/manifest.jsonl}" vae.path="$vae_path" dmd.teacher="$teacher" \
                dmd.reverse_weight="$crr" "text.encoder='features:.data/text.safetensors'" \
                run.out_dir="/tmp/runs/$name" run.steps="${ST_STEPS:-20000}" run.time_limit_s="${ST_SECONDS:-480}" \
                run.save_every=200 ${ST_BATCH:+data.batch_size=$ST_BATCH} ${ST_INIT:+model.init=$ST_INIT} \
                ${MODEL_PRESET:+model.preset=$MODEL_PRESET} ${ST_ARGS:-} --quiet
            export_half dit "/tmp/runs/$name" "$OUT/$name"
            if [ -f "/tmp/runs/$name/best/validation.json" ]; then  # data.val_manifest: the best validated too
                cp "/tmp/runs/$name/best/validation.json" "$OUT/${name}_best_validation.json"
                export_half dit "/tmp/runs/$name" "$OUT/${name}_best" best
            fi ;;
        eval_model)  # `sana-streaming eval-model` on $EVAL_MODEL (a student's folder) with VAE_PATH, on the GPU;
            # EVAL_DRAWS=3: three draws averaged (one draw's mean moves by a few tenths of a dB)
            name=$(basename "${EVAL_MODEL:?set EVAL_MODEL}")
            step "eval_$name" 300 $CLI eval-model --model "$EVAL_MODEL" --vae "${VAE_PATH:-.data/tiny_vae}" \
                --text-encoder features:.data/text.safetensors --clip .data/heldout/bikes.mp4 --quiet \
                ${EVAL_DRAWS:+--draws $EVAL_DRAWS} \
                --out "$OUT/eval_$name.json" ;;
        *) echo "unknown step $what (tests, tests_stabilize, stabilizer_cost, speed, full, kernels, mpq, pool, batch, train2b, throughput, pairs, long, vae, vae_decoder, vae_psnr, bidirectional, streaming, eval_model)"; exit 2 ;;
    esac
done

# At most 8 files come back from a call: the step logs and JSON results travel as one archive, results.tar
# (the step logs' tails are printed above; the weights' folders come back as they are).
cd "$OUT" || exit 1
files=$(ls -- *.log *_log.jsonl *.json *.txt 2>/dev/null)
[ -n "$files" ] && tar -rf results.tar $files && rm -f $files  # appended: several runs in one call
exit 0
