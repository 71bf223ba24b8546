"""Accelerators we know, in one table: the planner's `--gpu` choices and the peak behind the
training metrics' MFU (matched on torch's device name). Torch-free, like the planner."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Accelerator:
    peak_tflops: float             # dense bf16 tensor-core peak, no sparsity (fp16 for the V100: no bf16)
    memory_gib: float              # HBM sizes are binary
    name_parts: tuple[str, ...]    # all of them appear in torch.cuda.get_device_name()


# From the vendors' data sheets. Order matters for matching: the more specific name first.
GPUS: dict[str, Accelerator] = {
    "h100-pcie": Accelerator(756.0, 80, ("H100 PCIe",)),
    "h100": Accelerator(989.0, 80, ("H100",)),
    "h800": Accelerator(989.0, 80, ("H800",)),
    "h200": Accelerator(989.0, 141, ("H200",)),
    "a100-40gb": Accelerator(312.0, 40, ("A100", "40GB")),
    "a100": Accelerator(312.0, 80, ("A100",)),
    "a800": Accelerator(312.0, 80, ("A800",)),
    "l40s": Accelerator(362.0, 48, ("L40S",)),
    "l4": Accelerator(121.0, 24, ("L4",)),
    "a10g": Accelerator(125.0, 24, ("A10G",)),
    "rtx4090": Accelerator(165.0, 24, ("RTX 4090",)),
    "v100": Accelerator(125.0, 32, ("V100",)),
    "mi300x": Accelerator(1307.0, 192, ("MI300X",)),
}


def peak_flops(device_name: str | None) -> float | None:
    """Per-device peak FLOP/s for MFU; None (MFU not reported) for CPUs and unknown devices."""
    if not device_name:
        return None
    for gpu in GPUS.values():
        if all(part in device_name for part in gpu.name_parts):
            return gpu.peak_tflops * 1e12
    return None
