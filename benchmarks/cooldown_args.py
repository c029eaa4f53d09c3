"""The overrides that end a resumed run with a linear cool-down filling its next time box:

    python benchmarks/cooldown_args.py /tmp/runs/student_reg_depth4 400 8
    -> run.steps=1412 optim.cooldown=0.2635

A run continued call after call in time boxes (run.time_limit_s) at a constant rate cools down only if its steps
end first (`optim.cooldown` is a share of run.steps). From the run's latest checkpoint (its step) and the last
rate its log.jsonl gives (samples a second over the batch size), this sets run.steps to what the next SECONDS
reach (at --fill of that rate, so the steps end inside the box) and the cool-down to those steps. Prints nothing
for a run that has no checkpoint or no logged rate yet (then the run goes on at its constant rate).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sana_streaming.train.checkpoint import latest_checkpoint


def cooldown_overrides(run_dir: Path, seconds: float, batch: int, fill: float = 0.9) -> str:
    checkpoint = latest_checkpoint(run_dir)
    log = run_dir / "log.jsonl"
    if checkpoint is None or not log.is_file():
        return ""
    rates = [json.loads(line).get("samples_per_s") for line in log.read_text().splitlines() if line.strip()]
    rates = [r for r in rates if r]
    if not rates:
        return ""
    done = json.loads((checkpoint / "step.json").read_text())["step"]
    more = max(1, int(rates[-1] / batch * seconds * fill))
    total = done + more
    return f"run.steps={total} optim.cooldown={more / total:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("seconds", type=float, help="the next time box (run.time_limit_s)")
    parser.add_argument("batch", type=int, help="the run's data.batch_size")
    parser.add_argument("--fill", type=float, default=0.9, help="share of the box the steps are planned to fill")
    args = parser.parse_args()
    overrides = cooldown_overrides(args.run_dir, args.seconds, args.batch, args.fill)
    print(overrides)
    print(f"{args.run_dir}: {overrides or 'no checkpoint or rate yet: no cool-down'}", file=sys.stderr)


if __name__ == "__main__":
    main()
