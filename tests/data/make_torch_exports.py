import torch, torch.nn as nn, torch.nn.functional as F, sys, warnings
warnings.filterwarnings("ignore")
torch.manual_seed(0)

class Det(nn.Module):  # small detector-ish: conv stem, FPN upsample bilinear, groupnorm head, sigmoid, concat
    def __init__(s):
        super().__init__()
        s.c1 = nn.Conv2d(3, 16, 3, 2, 1); s.b1 = nn.BatchNorm2d(16)
        s.c2 = nn.Conv2d(16, 32, 3, 2, 1); s.gn = nn.GroupNorm(4, 32)
        s.lat = nn.Conv2d(32, 16, 1); s.head = nn.Conv2d(16, 8, 3, 1, 1)
        s.dw = nn.Conv2d(16, 16, 3, 1, 1, groups=16); s.ct = nn.ConvTranspose2d(16, 16, 2, 2)
    def forward(s, x):
        a = F.silu(s.b1(s.c1(x)))
        b = F.gelu(s.gn(s.c2(a)))
        up = F.interpolate(s.lat(b), scale_factor=2, mode="bilinear", align_corners=False)
        y = torch.cat([up + a, s.ct(s.dw(a))[:, :, ::2, ::2]], 1)
        return torch.sigmoid(s.head(y[:, :16])), F.adaptive_avg_pool2d(y, 1).flatten(1)

class Enc(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb = nn.Embedding(100, 64)
        s.layer = nn.TransformerEncoderLayer(64, 4, 128, batch_first=True, dropout=0.0)
        s.mha = nn.MultiheadAttention(64, 4, batch_first=True)
        s.ln = nn.LayerNorm(64)
    def forward(s, ids):
        h = s.emb(ids)
        h = s.layer(h)
        a, _ = s.mha(h, h, h, need_weights=False)
        return s.ln(h + a).mean(dim=1)

def export(m, args, name, dynamic):
    m.eval()
    for dynamo in (False, True):
        path = f"{name}_{'dynamo' if dynamo else 'ts'}.onnx"
        try:
            if dynamo:
                torch.onnx.export(m, args, path, dynamo=True, dynamic_shapes=dynamic[1])
            else:
                torch.onnx.export(m, args, path, dynamo=False, opset_version=17, dynamic_axes=dynamic[0],
                                  input_names=dynamic[2])
            print("exported", path)
        except Exception as e:
            print("EXPORT FAIL", path, type(e).__name__, str(e)[:200])

export(Det(), (torch.randn(1, 3, 64, 64),), "torch_det", ({"x": {0: "batch", 2: "h", 3: "w"}}, None, ["x"]))
export(Enc(), (torch.randint(0, 100, (1, 16)),), "torch_enc", ({"ids": {0: "batch", 1: "seq"}}, ({1: torch.export.Dim("seq", min=2, max=512)},), ["ids"]))
