"""Ask where tensors live on J5: the memory hierarchy and its peaks, every home of a tensor
(DDR, SRAM tiles), what is resident while a layer runs, and a tensor's aligned shape and padding.
"""

from __future__ import annotations

import npusim
from npusim import zoo

# ResNet-18 at 200x200: widths like 100, 50 and 25 are not multiples of J5's row alignment,
# so the layout queries below have padding to show.
SIZE = 200


def kib(n: int) -> str:
    if n >= 2**30:
        return f"{n / 2**30:,.1f} GiB"
    return f"{n / 2**10:,.1f} KiB"


def main() -> int:
    model = zoo.build("resnet18", size=SIZE, weights="light")   # structure only: no weights
    mm = npusim.memory_layout(model, "j5", precision="int8", fusion="dp")
    tl = mm.timeline
    print(f"resnet18 {SIZE}x{SIZE} on j5: {tl.latency_ms:.3f} ms per frame scheduled, "
          f"DDR {mm.ddr_bytes / 1e6:.2f} MB/frame")

    print("\n1. the memory hierarchy (capacity, most bytes live at once, address space used)")
    for lv in mm.hierarchy():
        print(f"  {lv.name:5} {lv.kind:5} capacity {kib(lv.capacity_bytes):>16}  peak "
              f"{kib(lv.peak_bytes):>12} at {lv.peak_at_ms * 1e3:7.2f} us  arena "
              f"{kib(lv.arena_bytes):>12}  {lv.buffers} buffers")

    tensor = "/layer2/layer2.0/relu/Relu_1_output_0"
    print(f"\n2. where {tensor} lives (every buffer that holds part of it)")
    for p in mm.tensor(tensor):
        print(f"  {p.level:4} {p.kind:10} 0x{p.address:08x} {kib(p.size_bytes):>10} "
              f"from {p.start_ms * 1e3:7.2f} to {p.end_ms * 1e3:7.2f} us")

    layer = "/layer3/layer3.0/conv1/Conv"
    start_ms, end_ms = mm.window(layer)
    resident = mm.resident_during(layer, level="sram")
    by_kind: dict[str, int] = {}
    for p in resident:
        by_kind[p.kind] = by_kind.get(p.kind, 0) + p.size_bytes
    print(f"\n3. resident in SRAM while {layer} runs [{start_ms * 1e3:.2f}, {end_ms * 1e3:.2f}) "
          f"us: {len(resident)} buffers, {kib(sum(by_kind.values()))}")
    for kind, nbytes in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:12} {kib(nbytes):>12}")

    print("\n4. J5 native layout: valid shape (ONNX order) -> aligned shape (native order)")
    most_padded = sorted(mm.layouts, key=lambda lay: (-lay.padding_bytes, lay.tensor))[:2]
    for name in ("input", *(lay.tensor for lay in most_padded if lay.tensor != "input")):
        lay = mm.layout(name)
        aligned = dict(zip(lay.dims, lay.aligned_shape))
        share = 100 * lay.padding_bytes / lay.aligned_bytes
        print(f"  {name}: {lay.valid_shape} -> {lay.format} {aligned}, padding "
              f"{lay.padding_bytes} bytes ({share:.1f}%) [{lay.rule}]")
    print("padding overhead by level: " + ", ".join(
        f"{level} {kib(nbytes)} ({100 * frac:.1f}%)"
        for level, (nbytes, frac) in mm.padding_overhead().items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
