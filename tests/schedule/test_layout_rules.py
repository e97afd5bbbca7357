"""Layout rules from the profiles: J5 NHWC padding (FACTS.md), DLA CHW32 / CHW16."""

from __future__ import annotations

import pytest

import npusim
from npusim.ir import Precision
from npusim.hw.layout import layout_rule, pad_channel_bytes, tensor_layout


@pytest.fixture(scope="module")
def j5():
    return npusim.load_chip("j5")


@pytest.fixture(scope="module")
def dla():
    return npusim.load_chip("orin-agx-dla")


# J5, NHWC: C > 4 pads the C bytes to 256k + {0, 16, 32, 64, 128}; C <= 4 aligns H to 2 and
# W to 32. Shapes are ONNX NCHW; aligned shapes are NHWC.
@pytest.mark.parametrize("c, aligned_c, h, w, aligned_h, aligned_w", [
    (3, 3, 7, 7, 8, 32),        # C <= 4: H 7 -> 8, W 7 -> 32, C untouched
    (8, 16, 7, 7, 7, 7),        # 8 bytes -> 16 (k = 0, r = 16)
    (64, 64, 7, 7, 7, 7),       # 64 is 0 + 64
    (200, 256, 7, 7, 7, 7),     # 200 > 128 -> 256 (k = 1, r = 0)
    (513, 528, 7, 7, 7, 7),     # 513 > 512 -> 512 + 16
])
def test_j5_aligned_shapes_int8(j5, c, aligned_c, h, w, aligned_h, aligned_w):
    lay = tensor_layout("t", (1, c, h, w), 1, layout_rule(j5, "bpu", Precision.INT8))
    assert lay.format == "NHWC"
    assert lay.valid_shape == (1, c, h, w)
    assert lay.dims == ("N", "H", "W", "C")
    assert lay.aligned_shape == (1, aligned_h, aligned_w, aligned_c)
    assert lay.strides_bytes == (aligned_h * aligned_w * aligned_c, aligned_w * aligned_c,
                                 aligned_c, 1)
    assert lay.valid_bytes == c * h * w
    assert lay.padding_bytes == aligned_h * aligned_w * aligned_c - c * h * w


def test_j5_int16_pads_channel_bytes(j5):
    # 8 int16 channels are 16 bytes: already 0 + 16; 100 channels are 200 bytes -> 256 -> 128
    rule = layout_rule(j5, "bpu", Precision.INT16)
    assert tensor_layout("t", (1, 8, 2, 2), 2, rule).aligned_shape == (1, 2, 2, 8)
    assert tensor_layout("t", (1, 100, 2, 2), 2, rule).aligned_shape == (1, 2, 2, 128)


def test_pad_channel_bytes_is_the_smallest_form_not_below():
    residues = [0, 16, 32, 64, 128]
    for c_bytes in range(5, 2000):
        padded = pad_channel_bytes(c_bytes, 256, residues)
        assert padded >= c_bytes and padded % 256 in residues
        assert all(x % 256 not in residues or x == 0 for x in range(c_bytes, padded))


def test_dla_chw32_int8_and_chw16_fp16(dla):
    int8 = tensor_layout("t", (1, 3, 10, 10), 1, layout_rule(dla, "dla", Precision.INT8))
    assert int8.format == "CHW32"
    assert int8.aligned_shape == (1, 1, 10, 10, 32)  # 3 channels fill one 32-channel atom
    assert int8.strides_bytes == (3200, 3200, 320, 32, 1)
    assert int8.padding_bytes == 3200 - 300
    fp16 = tensor_layout("t", (1, 40, 4, 4), 2, layout_rule(dla, "dla", Precision.FP16))
    assert fp16.format == "CHW16"
    assert fp16.aligned_shape == (1, 3, 4, 4, 16)   # 40 channels -> 48 = 3 atoms of 16
    assert fp16.aligned_bytes == 48 * 16 * 2


def test_gpu_has_no_padding():
    gpu = npusim.load_chip("orin-agx-gpu")
    lay = tensor_layout("t", (1, 3, 5, 7), 1, layout_rule(gpu, "gpu", Precision.INT8))
    assert lay.padding_bytes == 0 and lay.aligned_shape == (1, 3, 5, 7)


def test_a_scalar_tensor_has_a_layout(j5, dla):
    # a rank-0 activation (silero-vad's sample-rate branch) is one element, 1x1x1x1
    for chip, unit in ((j5, "bpu"), (dla, "dla"), (npusim.load_chip("orin-agx-gpu"), "gpu")):
        lay = tensor_layout("sr", (), 1, layout_rule(chip, unit, Precision.INT8))
        assert lay.valid_bytes == 1 and lay.aligned_bytes >= 1


def test_memory_map_shows_valid_and_aligned_shape_of_a_zoo_tensor():
    mm = npusim.memory_layout("zoo:resnet50", "j5", fusion="greedy")
    lay = mm.layout("input")  # 1x3x224x224: C = 3 -> W 224 is a multiple of 32, H even
    assert lay.valid_shape == (1, 3, 224, 224)
    assert lay.aligned_shape == (1, 224, 224, 3)
    assert lay.padding_bytes == 0
    with pytest.raises(npusim.NpusimError, match="no activation named 'nope'"):
        mm.layout("nope")
