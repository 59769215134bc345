#!/usr/bin/python3
"""PyTorch's side of `nsr bench model`: the same network, with the same weights, doing the same
work as nsr, timed in the same run (nsr starts this script as a child).

The network is the project's own PyTorch model of NSR.md (scripts/make_fixtures.py: weight-normed
convs, the side layer on the spatial mean, softmax over groups per cardinal, per-sample mixed
kernels run as one grouped convolution over the batch, as the reference code does), in float32.
Its weights come from the .nsr file nsr saved (docs/model-format.md, read below), the inputs and
nsr's own answers from a second file in the same format.

  inference  the reference's tiled mode (NSR.md section 5) on infer.x, all tiles as one batch,
             soft selection, under torch.no_grad(); compared with nsr's infer.out
  training   one step on train.x / train.target: forward, L1 loss, backward, Adam (lr 1e-3,
             betas 0.9/0.999, eps 1e-8); the first step's loss and gradients are compared with
             nsr's train.loss / train.grads (engine order = the file's tensor order)

With --upscale TILE (`nsr bench upscale`) it does the main job's network instead: auto tiling
(src/run/tiling.c) of upscale.x in tiles of side TILE, each crop through the whole network,
cross-faded with the same weights, soft selection, under torch.no_grad(); compared with nsr's
upscale.out.

Prints lines "key value ..." on standard output, which nsr reads:
  version V
  infer MIN_MS MEDIAN_MS MAX_ABS_DIFF MAX_ABS_OUTPUT
  train MIN_MS MEDIAN_MS LOSS_ABS_DIFF GRAD_MAX_ABS_DIFF GRAD_MAX_ABS
  upscale MIN_MS MEDIAN_MS MAX_ABS_DIFF MAX_ABS_OUTPUT      (with --upscale)
or "unavailable REASON" when torch cannot be imported.

Usage: bench_torch.py --model M.nsr --data D.nsr [--threads N] [--reps R] [--upscale TILE]
"""
import argparse
import os
import statistics
import struct
import sys
import time
import zlib

TILE, PAD, STRIDE, STRIP_WEIGHT = 48, 4, 32, 0.3  # NSR.md section 5
KEEP = TILE - 2 * PAD


def read_nsr(path):
    """The metadata and the f32 tensors of a .nsr file (docs/model-format.md), as numpy arrays."""
    import numpy as np

    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"NSRM" or len(data) < 20:
        raise ValueError(f"{path}: not an nsr model file")
    if zlib.crc32(data[:-4]) != struct.unpack_from("<I", data, len(data) - 4)[0]:
        raise ValueError(f"{path}: checksum mismatch")
    version, nmeta, ntensor = struct.unpack_from("<III", data, 4)
    if version != 1:
        raise ValueError(f"{path}: format version {version}, this reader knows 1")
    pos = 16

    def take(fmt):
        nonlocal pos
        values = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return values

    def name():
        nonlocal pos
        (n,) = take("<I")
        pos += n
        return data[pos - n:pos].decode()

    meta, tensors = {}, {}
    for _ in range(nmeta):
        key = name()
        (kind,) = take("<I")
        if kind == 1:
            (meta[key],) = take("<q")
        elif kind == 2:
            (meta[key],) = take("<d")
        elif kind == 3:
            meta[key] = name()
        else:
            raise ValueError(f"{path}: metadata '{key}' has unknown type {kind}")
    for _ in range(ntensor):
        key = name()
        dtype, ndim = take("<II")
        if dtype != 1:
            raise ValueError(f"{path}: tensor '{key}' is not f32")
        dims = take(f"<{ndim}Q")
        offset, size = take("<QQ")
        tensors[key] = np.frombuffer(data, "<f4", size // 4, offset).reshape(dims)
    return meta, tensors


def tiles(h, w):
    """(top, left, weight) of the tiles of an h x w input in the padded image, as NSR.md
    section 5 and src/run/tiling.c: a centred grid of weight 1, then the top, right, bottom and
    left strips of weight 0.3."""
    nh = (h + 2 * PAD - TILE) // STRIDE + 1
    nw = (w + 2 * PAD - TILE) // STRIDE + 1
    crop_h = h + 2 * PAD - ((nh - 1) * STRIDE + TILE)
    crop_w = w + 2 * PAD - ((nw - 1) * STRIDE + TILE)
    far_y, far_x = h + 2 * PAD - TILE, w + 2 * PAD - TILE
    t = [(crop_h // 2 + i * STRIDE, crop_w // 2 + j * STRIDE, 1.0) for i in range(nh) for j in range(nw)]
    t += [(0, j * STRIDE, STRIP_WEIGHT) for j in range(nw)]
    t += [(i * STRIDE, far_x, STRIP_WEIGHT) for i in range(nh)]
    t += [(far_y, crop_w + j * STRIDE, STRIP_WEIGHT) for j in range(nw)]
    t += [(crop_h + i * STRIDE, 0, STRIP_WEIGHT) for i in range(nh)]
    return t


def infer_tiled(net, x):
    """The reference's tiled inference of x (1, 3, h, w): the body on the tiles (one batch),
    overlaps averaged, the skip branch on the whole image; inputs under 192 run whole."""
    import torch
    import torch.nn.functional as F

    h, w = x.shape[2:]
    if h < 4 * TILE or w < 4 * TILE:
        return net.forward(x)
    x0 = x - 0.5
    padded = F.pad(x0, (PAD, PAD, PAD, PAD), mode="reflect")
    ts = tiles(h, w)
    body = net.body(torch.cat([padded[:, :, y:y + TILE, z:z + TILE] for y, z, _ in ts]))
    acc = x.new_zeros(body.shape[1], h, w)
    wsum = x.new_zeros(1, h, w)
    for (y, z, weight), b in zip(ts, body):
        acc[:, y:y + KEEP, z:z + KEEP] += weight * b[:, PAD:PAD + KEEP, PAD:PAD + KEEP]
        wsum[:, y:y + KEEP, z:z + KEEP] += weight
    out = (acc / wsum)[None] + (net.conv("skip", x0) if net.s > 1 else x0)
    return F.pixel_shuffle(out, net.s) + 0.5


AUTO_BLEND = 16  # src/run/tiling.c


def plan_axis(length, tile, overlap, r, s):
    """Auto tiling along one axis, as plan_axis in src/run/tiling.c: the tiles' starts, their
    common size and each tile's weight per HR pixel (float32, summing to 1 over the tiles)."""
    import numpy as np

    n = 1 if length <= tile else (length - overlap + (tile - overlap) - 1) // (tile - overlap)
    size = length if n == 1 else (length + (n - 1) * overlap + n - 1) // n
    start = [0 if n == 1 else i * (length - size) // (n - 1) for i in range(n)]
    weight = np.ones((n, size * s))
    total = np.zeros(length * s)
    for i in range(n):
        y = start[i] * s + np.arange(size * s) + 0.5
        if i > 0:
            z0, z1 = (start[i] + r) * s, (start[i - 1] + size - r) * s
            weight[i] *= np.clip((y - z0) / (z1 - z0), 0, 1)
        if i < n - 1:
            z0, z1 = (start[i + 1] + r) * s, (start[i] + size - r) * s
            weight[i] *= np.clip((z1 - y) / (z1 - z0), 0, 1)
        total[start[i] * s:(start[i] + size) * s] += weight[i]
    weight = weight.astype(np.float32)
    for i in range(n):
        weight[i] /= total[start[i] * s:(start[i] + size) * s].astype(np.float32)
    return start, size, weight


def infer_auto(net, x, tile):
    """Auto tiling of x (1, C, h, w), as infer_auto in src/run/tiling.c: overlapping crops each
    through the whole network, cross-faded; one tile in both axes is the whole image."""
    import torch

    h, w, s = x.shape[2], x.shape[3], net.s
    r = max(2 * net.B + 2, 2 if s > 1 else 0)  # the receptive radius: 3x3 body convs, 5x5 skip
    overlap = 2 * r + AUTO_BLEND
    ys, th, wy = plan_axis(h, tile, overlap, r, s)
    xs, tw, wx = plan_axis(w, tile, overlap, r, s)
    if len(ys) == 1 and len(xs) == 1:
        return net.forward(x)
    out = x.new_zeros(1, x.shape[1], h * s, w * s)
    for i, y0 in enumerate(ys):
        for j, x0 in enumerate(xs):
            t = net.forward(x[:, :, y0:y0 + th, x0:x0 + tw])
            weight = torch.from_numpy(wy[i])[:, None] * torch.from_numpy(wx[j])[None, :]
            out[:, :, y0 * s:(y0 + th) * s, x0 * s:(x0 + tw) * s] += weight * t
    return out


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--upscale", type=int, default=0, metavar="TILE")
    args = ap.parse_args()
    try:
        import numpy  # noqa: F401 (the reader needs it)
        import torch
        import torch.nn.functional as F
    except ImportError as e:
        print(f"unavailable {sys.executable}: {e}")
        return 0
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_fixtures  # the project's PyTorch model of NSR.md

    torch.set_default_dtype(torch.float32)  # make_fixtures works in float64
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print("version", torch.__version__.split("+")[0], flush=True)

    meta, weights = read_nsr(args.model)
    _, data = read_nsr(args.data)
    arch = [int(meta["nsr." + k]) for k in
            ("blocks", "features", "width_mult", "groups", "cardinals", "scale", "shared_selection")]
    net = make_fixtures.Net(*arch, regime=int(meta.get("nsr.regime", 0)),
                            C=1 if int(meta.get("nsr.channels", 3)) == 1 else 3)
    for name in net.params:
        net.params[name] = torch.from_numpy(weights[name].copy()).requires_grad_(True)
    params = list(net.params.values())
    tensor = lambda key: torch.from_numpy(data[key].copy())

    if args.upscale:
        return upscale(net, tensor, args)

    # inference: compare once, then time
    x = tensor("infer.x")
    with torch.no_grad():
        out = infer_tiled(net, x)
    out_diff = (out - tensor("infer.out")).abs().max().item()
    out_max = out.abs().max().item()

    # training: the first step's loss and gradients against nsr's, then timed steps
    tx, target = tensor("train.x"), tensor("train.target")
    opt = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)

    def train_step():
        opt.zero_grad()
        loss = F.l1_loss(net.forward(tx), target)
        loss.backward()
        opt.step()
        return loss

    opt.zero_grad()
    loss = F.l1_loss(net.forward(tx), target)
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in params])
    loss_diff = abs(loss.item() - float(data["train.loss"][0]))
    grad_diff = (grads - tensor("train.grads")).abs().max().item()
    grad_max = grads.abs().max().item()
    opt.step()

    def infer():
        with torch.no_grad():
            infer_tiled(net, x)

    infer_ms, train_ms = [], []
    for _ in range(args.reps):  # interleaved like nsr's rounds
        infer_ms.append(timed(infer))
        train_ms.append(timed(train_step))
    print("infer", min(infer_ms), statistics.median(infer_ms), out_diff, out_max)
    print("train", min(train_ms), statistics.median(train_ms), loss_diff, grad_diff, grad_max)
    return 0


def upscale(net, tensor, args):
    """--upscale: the main job's network, compared once, then timed."""
    import torch

    x = tensor("upscale.x")

    def run():
        with torch.no_grad():
            return infer_auto(net, x, args.upscale)

    out = run()
    out_diff = (out - tensor("upscale.out")).abs().max().item()
    out_max = out.abs().max().item()
    ms = [timed(run) for _ in range(args.reps)]
    print("upscale", min(ms), statistics.median(ms), out_diff, out_max)
    return 0


if __name__ == "__main__":
    sys.exit(main())
