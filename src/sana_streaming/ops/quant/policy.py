"""Mixed-precision policies and ``quantize_``: swap linear layers of a model for low-precision ones, from outside.

Layer groups follow the paper's analysis (paper_notes.md 3.10): self-attention q/k/v/o, attention gates,
cross-attention q/kv/o, FFN input/output 1x1 convs and the FFN temporal conv, each over a block range.
A module is quantized when it is linear-like: ``nn.Linear``, or a module with ``matrix`` and ``bias``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from sana_streaming.ops.quant.fp8 import Float8Linear, NVFP4EmulatedLinear, fp8_supported

GROUPS: dict[str, str] = {
    "sa_q": r"attn\.q",
    "sa_k": r"attn\.k",
    "sa_v": r"attn\.v",
    "sa_o": r"attn\.proj",
    "gates": r"attn\.(output_gate|beta_proj|gate_proj)",
    "ca_q": r"cross_attn\.q_linear",
    "ca_kv": r"cross_attn\.kv_linear",
    "ca_o": r"cross_attn\.proj",
    "ffn_in": r"mlp\.inverted_conv",
    "ffn_out": r"mlp\.point_conv",
    "ffn_temporal": r"mlp\.t_conv",
}
PRECISIONS = ("bf16", "fp8", "nvfp4")


@dataclass(frozen=True)
class Rule:
    """Layers of ``group`` in blocks [first_block, last_block] run in ``precision``."""

    group: str
    precision: str
    first_block: int = 0
    last_block: int = 10**6

    def matches(self, name: str) -> bool:
        found = re.fullmatch(rf"blocks\.(\d+)\.{GROUPS[self.group]}", name)
        return found is not None and self.first_block <= int(found.group(1)) <= self.last_block


@dataclass(frozen=True)
class QuantPolicy:
    """Ordered rules; the first matching rule decides a layer's precision, unmatched layers stay bf16."""

    name: str
    rules: tuple[Rule, ...]

    def precision_of(self, name: str) -> str:
        return next((rule.precision for rule in self.rules if rule.matches(name)), "bf16")


_MAIN_GROUPS = tuple(g for g in GROUPS if g != "gates")

POLICIES: dict[str, QuantPolicy] = {
    "bf16": QuantPolicy("bf16", ()),
    "fp8": QuantPolicy("fp8", tuple(Rule(g, "fp8") for g in _MAIN_GROUPS)),
    # The paper's final policy (Table 4 / paper_notes 3.10); NVFP4 needs Blackwell (see quantize_'s fallback).
    "paper": QuantPolicy(
        "paper",
        (
            *(Rule(g, "nvfp4") for g in ("sa_q", "sa_k", "ca_o", "ffn_temporal")),
            *(Rule(g, "nvfp4", first_block=6) for g in ("ffn_in", "ffn_out")),
            *(Rule(g, "fp8") for g in ("sa_v", "sa_o", "ca_q", "ca_kv", "ffn_in", "ffn_out")),
        ),
    ),
}


def get_policy(name: str) -> QuantPolicy:
    """A preset by name, or a policy file (JSON, as ``save_policy`` and ``sana-streaming mpq-search`` write)."""
    if name in POLICIES:
        return POLICIES[name]
    if name.endswith(".json"):
        return load_policy(name)
    raise ValueError(f"unknown precision policy {name!r}; choose one of: {', '.join(POLICIES)}, or a .json file")


def save_policy(policy: QuantPolicy, path: str | Path) -> None:
    rules = [dataclasses.asdict(rule) for rule in policy.rules]
    Path(path).write_text(json.dumps({"name": policy.name, "rules": rules}, indent=2) + "\n")


def load_policy(path: str | Path) -> QuantPolicy:
    """Read a policy file; errors are one line naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        rules = tuple(Rule(**rule) for rule in data["rules"])
    except FileNotFoundError:
        raise ValueError(f"precision policy file not found: {path}") from None
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a precision policy ({err})") from None
    for rule in rules:
        if rule.group not in GROUPS or rule.precision not in PRECISIONS:
            raise ValueError(f"{path}: unknown group {rule.group!r} or precision {rule.precision!r}")
    return QuantPolicy(str(data.get("name", path.stem)), rules)


def linear_parts(module: nn.Module):
    """(matrix, bias) of a linear-like layer (``nn.Linear``, or a module with ``matrix`` and ``bias``), else None."""
    if isinstance(module, nn.Linear):
        return module.weight, module.bias
    if hasattr(module, "matrix"):
        return module.matrix, module.bias
    return None


def quantize_(model: nn.Module, policy: QuantPolicy | str, *, nvfp4: str = "emulate") -> dict[str, str]:
    """Replace, in place, every linear-like layer of ``model`` that ``policy`` puts in fp8 or nvfp4.

    Args:
        nvfp4: what NVFP4 layers become: "emulate" (exact NVFP4 rounding, no speed-up; for error studies) or
            "fp8" (run them in FP8, the fastest option on Hopper).

    Returns:
        {layer name: precision} of every layer the policy touched.
    """
    return {name: precision for name, (_, precision) in _swap(model, policy, nvfp4).items()}


@contextlib.contextmanager
def quantized(model: nn.Module, policy: QuantPolicy | str, *, nvfp4: str = "emulate") -> Iterator[dict[str, str]]:
    """``quantize_`` for the duration of a ``with`` block, then the original layers are put back (no model copy:
    what a search over many policies needs)."""
    originals = _swap(model, policy, nvfp4)
    try:
        yield {name: precision for name, (_, precision) in originals.items()}
    finally:
        for name, (module, _) in originals.items():
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, module)


def _swap(model: nn.Module, policy: QuantPolicy | str, nvfp4: str) -> dict[str, tuple[nn.Module, str]]:
    """Swap in the low-precision layers; {name: (original module, precision)}."""
    if nvfp4 not in ("emulate", "fp8"):
        raise ValueError(f"nvfp4 must be 'emulate' or 'fp8', got {nvfp4!r}")
    policy = get_policy(policy) if isinstance(policy, str) else policy
    done: dict[str, tuple[nn.Module, str]] = {}
    for name, module in list(model.named_modules()):
        precision = policy.precision_of(name)
        parts = linear_parts(module)
        if precision == "bf16" or parts is None:
            continue
        if precision == "nvfp4" and nvfp4 == "fp8":
            precision = "fp8"
        layer = Float8Linear(*parts) if precision == "fp8" else NVFP4EmulatedLinear(*parts)
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, layer.to(parts[0].device))
        done[name] = (module, precision)
    return done


__all__ = [
    "GROUPS",
    "POLICIES",
    "PRECISIONS",
    "QuantPolicy",
    "Rule",
    "fp8_supported",
    "get_policy",
    "linear_parts",
    "load_policy",
    "quantize_",
    "quantized",
    "save_policy",
]
