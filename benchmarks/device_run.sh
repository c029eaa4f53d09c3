#!/usr/bin/env bash
# One call on a lent GPU machine (no network, no PyAV, no MiniLM weights): run from the repository root as
#   bash benchmarks/device_run.sh STEP [STEP ...]
# with OUT set to the folder whose files come back. Each step has its own time box, so one slow step cannot
# eat the others; logs and JSON results go to $OUT. Steps:
#   tests     the GPU test suite (pytest -m gpu)
#   speed     the streaming bench: FP8 + compile + graphs with the PyTorch and the Triton GDN, both VAEs
#   full      the bench's default progression of variants (all-softmax ... Triton + FP8 + compile + graphs)
#   kernels   GDN kernels at the 720p size (alone and inside a compiled block) and the attention backends
#   mpq       mpq-search on the 2B model (synthetic calibration, 2 block ranges)
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

for what in "$@"; do
    case $what in
        tests) step tests 300 python3 -m pytest -q -m gpu tests -p no:cacheprovider \
            --ignore tests/io --ignore tests/test_cli.py --ignore tests/train/data --ignore tests/vae/test_autoencoder.py ;;
        speed) step speed 420 $CLI bench --variants fp8+compile+graphs fp8+triton-gdn+compile+graphs \
            --out "$OUT/bench_h200_speed.json" ;;
        full) step full 560 $CLI bench --out "$OUT/bench_h200.json" ;;
        kernels)
            step gdn 150 python3 benchmarks/gdn_kernels.py --frames 3 5 --out "$OUT/gdn_kernels_h200.json"
            step attention 90 python3 benchmarks/attention_backends.py --out "$OUT/attention_backends_h200.json" ;;
        mpq) step mpq 400 $CLI mpq-search --synthetic --frames 57 --ranges 2 --model sana-streaming-2b-720p \
            --quiet --out "$OUT/mpq_search_2b_h200.json" --out-policy "$OUT/mpq_policy_2b.json" ;;
        *) echo "unknown step $what (tests, speed, full, kernels, mpq)"; exit 2 ;;
    esac
done
