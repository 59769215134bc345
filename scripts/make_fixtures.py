#!/usr/bin/python3
"""Writes the PyTorch reference fixtures that tests/test_model_fixtures.c checks the engine
against: tests/fixtures/model_<name>.bin, one per small configuration.

The network is written here from ../shared/docs/NSR.md sections 2-3 (not from the authors' code):
weight-normed convs, NSR convs with a side linear layer on the spatial mean of their input,
softmax over the k groups of each of d cardinals (group-major index i*d + j), per-sample mixed
kernels, the WDSR-style body with skip branch and pixel shuffle. Shared selection: one side layer
per block, computed from the block input by the first conv and reused, table for table, by the
second conv (same reading as src/nn/model.c). Fixed-size regime (NSR.md section 7): a block's
plain F*wm hidden channels are k groups of F*wm/k; hidden channel i*c + o (o = j*(c/d) + t) of the
ReLU output is weighted by the block's gamma[i][j], selected from the block input.

Everything is computed in float64 from float32-representable parameters and inputs, then stored
as float32, so the C test's differences measure the engine's float32 error, not torch's.

Each file holds (name, shape, float32 data) records:
  config               [B, F, wm, k, d, s, shared, lr, T, ste, regime, C, balance]: T the selection's
                       softmax temperature (training and soft inference), ste 1 when training's
                       forward selects hard (argmax) and its backward goes straight through the
                       softmax, regime 0 fixed FLOPs (mixing), 1 fixed size; C the image planes;
                       balance the weight of the load-balancing term added to the training loss:
                       balance / S * sum over the S selections of (k/d) * sum over groups and
                       cardinals of (the softmax weight's mean over the batch)^2
  x, target            a training batch (N, C, h, w) and its (N, C, h*s, w*s) target (C = 3,
                       or 1 for a grey network)
  param.<name>         the parameters (names as in the engine's tensor table)
  gamma.<conv>         each selection of the first forward, (N, k*d)
  out, loss            the first forward's output and L1 loss
  grad.<name>          the gradient of every parameter
  step<t>.<name>       parameters after Adam step t (t = 1, 2, 3; same batch, lr from config)
  loss<t>              the loss of the forward before step t
  infer.x              one image (1, C, h', w') of another size
  infer.soft, infer.hard  the network's output on it with soft and hard selection

Format: b"NSRFIX01", uint32 count, then per record: uint32 name length, name bytes, uint32 ndim,
ndim x uint32 dims, float32 data; all little-endian.

Usage: /usr/bin/python3 scripts/make_fixtures.py   (from the repository root)
"""
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

# name, B, F, wm, k, d, s, shared, N, h, w, infer h, infer w, T, ste, regime[, C (3)[, balance (0)]]
CONFIGS = [
    ("plain_x2", 2, 4, 2, 1, 1, 2, 0, 2, 6, 5, 7, 4, 1.0, 0, 0),
    ("k2d1_x1", 2, 4, 1, 2, 1, 1, 0, 3, 5, 7, 4, 6, 1.0, 0, 0),
    ("k4d4_wm2_x3", 2, 4, 2, 4, 4, 3, 0, 2, 4, 5, 5, 3, 1.0, 0, 0),
    ("k4d4_shared_x2", 2, 8, 1, 4, 4, 2, 1, 2, 6, 6, 5, 7, 1.0, 0, 0),
    ("k2d4_wm2_shared_x1", 1, 4, 2, 2, 4, 1, 1, 3, 5, 5, 6, 5, 1.0, 0, 0),
    ("k4d1_wm2_x2", 3, 4, 2, 4, 1, 2, 0, 2, 5, 4, 4, 4, 1.0, 0, 0),
    ("k4d2_t03_x2", 2, 4, 2, 4, 2, 2, 0, 2, 5, 6, 4, 5, 0.3, 0, 0),
    ("k4d2_ste_x2", 2, 4, 2, 4, 2, 2, 0, 2, 6, 5, 5, 4, 0.5, 1, 0),
    ("k2d4_ste_shared_x1", 1, 8, 1, 2, 4, 1, 1, 3, 5, 5, 4, 4, 2.0, 1, 0),
    ("fixed_k4d2_wm4_x2", 2, 4, 4, 4, 2, 2, 0, 2, 5, 6, 6, 5, 1.0, 0, 1),
    ("fixed_k2d4_ste_x1", 2, 4, 4, 2, 4, 1, 0, 3, 5, 5, 4, 6, 0.5, 1, 1),
    ("grey_k2d2_x2", 2, 4, 2, 2, 2, 2, 0, 2, 5, 6, 6, 4, 1.0, 0, 0, 1),
    ("grey_k4d2_x1", 1, 8, 1, 4, 2, 1, 0, 3, 6, 5, 5, 5, 1.0, 0, 0, 1),
    ("k4d2_balance_x2", 2, 4, 2, 4, 2, 2, 0, 3, 5, 5, 4, 4, 0.5, 0, 0, 3, 0.05),
    ("k4d2_ste_balance_shared_x1", 2, 8, 1, 4, 2, 1, 1, 4, 5, 4, 4, 4, 1.0, 1, 0, 3, 0.05),
    ("fixed_k2d4_ste_balance_x2", 2, 4, 4, 2, 4, 2, 0, 4, 6, 5, 4, 4, 0.5, 1, 1, 3, 0.05),
]
LR = 1e-3


def f32(t):
    """Rounds to float32 and back: the values the C side starts from."""
    return t.float().double()


def weight_norm(v, g):
    # NSR.md section 2: W[o] = g[o] V[o] / ||V[o]||, norm over c_in*K*K
    norm = v.flatten(1).norm(dim=1)
    return v * (g / norm).view(-1, 1, 1, 1)


class Net:
    def __init__(self, B, Fe, wm, k, d, s, shared, T=1.0, ste=0, regime=0, C=3):
        self.T, self.ste, self.fixed_size = T, ste, regime == 1 and k > 1
        self.softs = []  # the selections' softmax weights since the last forward (balance_term)
        self.B, self.F, self.wm, self.k, self.d, self.s, self.shared = B, Fe, wm, k, d, s, shared
        self.params = {}  # name -> leaf tensor, in the engine's order
        self.convs = []   # (prefix, cin, cout, K, groups, cards)

        self.add_conv("head", C, Fe, 3, 1, 1, False, 1.0)
        for b in range(B):
            if self.fixed_size:  # the plain block's convs, k groups of F*wm/k hidden channels
                self.add_conv(f"blocks.{b}.conv1", Fe, Fe * wm // k, 3, k, d, True, 2.0)
                self.add_conv(f"blocks.{b}.conv2", Fe * wm, Fe, 3, 1, 1, False, 1.0 / B ** 0.5)
                continue
            self.add_conv(f"blocks.{b}.conv1", Fe, Fe * wm, 3, k, d, k > 1, 2.0)
            self.add_conv(f"blocks.{b}.conv2", Fe * wm, Fe, 3, k, d, k > 1 and not shared,
                          1.0 / B ** 0.5)
        self.add_conv("tail", Fe, C * s * s, 3, 1, 1, False, 1.0)
        if s > 1:
            self.add_conv("skip", C, C * s * s, 5, 1, 1, False, 1.0)

    def add_conv(self, prefix, cin, cout, K, groups, cards, side, g0):
        """The reference init (V ~ U(+-1/sqrt(fan_in)), g = g0, Linear default for the side
        layer), then perturbed: g by up to 20% and biases by up to 0.1, so that every gradient
        path carries distinct values."""
        stored, fan_in = groups * cout, cin * K * K
        bound = 1 / fan_in ** 0.5
        p = self.params
        p[prefix + ".v"] = (torch.rand(stored, cin, K, K) * 2 - 1) * bound
        p[prefix + ".g"] = g0 * (1 + 0.2 * (torch.rand(stored) * 2 - 1))
        p[prefix + ".b"] = 0.1 * (torch.rand(stored) * 2 - 1)
        if side:
            sb = 1 / cin ** 0.5
            p[prefix + ".A"] = (torch.rand(groups * cards, cin) * 2 - 1) * sb
            p[prefix + ".a"] = (torch.rand(groups * cards) * 2 - 1) * sb
        for name in [n for n in p if n.startswith(prefix + ".")]:
            p[name] = f32(p[name]).requires_grad_(True)
        self.convs.append((prefix, cin, cout, K, groups, cards))

    def select(self, prefix, x, hard):
        # NSR.md section 2, steps 1-3: pool, linear, softmax over groups per cardinal, here of
        # z / T; hard: the argmax one-hot, whose gradient (ste, training) is the softmax's
        A, a = self.params[prefix + ".A"], self.params[prefix + ".a"]
        z = (x.mean(dim=(2, 3)) @ A.t() + a).view(x.shape[0], self.k, self.d)
        soft = torch.softmax(z / self.T, dim=1)
        self.softs.append(soft)
        if not hard:
            return soft
        one_hot = F.one_hot(z.argmax(dim=1), self.k).permute(0, 2, 1).to(z.dtype)
        return one_hot + (soft - soft.detach())

    def conv(self, prefix, x, gamma=None):
        _, cin, cout, K, groups, cards = next(c for c in self.convs if c[0] == prefix)
        p = self.params
        W = weight_norm(p[prefix + ".v"], p[prefix + ".g"])
        if groups == 1:
            return F.conv2d(x, W, p[prefix + ".b"], padding=K // 2)
        # step 4: output channel o = j*(cout/d) + t mixes group i's stored channel i*cout + o
        N, _, H, Wd = x.shape
        j = torch.arange(cout) // (cout // cards)
        gam = gamma[:, :, j]  # (N, k, cout)
        wmix = torch.einsum("nko,koixy->noixy", gam, W.view(groups, cout, cin, K, K))
        bmix = torch.einsum("nko,ko->no", gam, p[prefix + ".b"].view(groups, cout))
        # step 5: one conv per sample, as a grouped conv over the batch
        out = F.conv2d(x.reshape(1, N * cin, H, Wd), wmix.reshape(N * cout, cin, K, K),
                       bmix.reshape(-1), padding=K // 2, groups=N)
        return out.view(N, cout, H, Wd)

    def fixed_block(self, b, h, hard, gammas):
        """A fixed-size block: every hidden channel computed, each weighted by its group's and
        cardinal's gamma (one-hot with hard selection)."""
        c1, c2 = f"blocks.{b}.conv1", f"blocks.{b}.conv2"
        p = self.params
        g = self.select(c1, h, hard)  # (N, k, d)
        if gammas is not None:
            gammas[c1] = g
        r = torch.relu(F.conv2d(h, weight_norm(p[c1 + ".v"], p[c1 + ".g"]), p[c1 + ".b"], padding=1))
        c = self.F * self.wm // self.k
        weight = g[:, :, torch.arange(c) // (c // self.d)].reshape(h.shape[0], -1)  # (N, k*c)
        return h + self.conv(c2, r * weight[:, :, None, None])

    def body(self, x0, hard=False, gammas=None):
        """Head, blocks and tail of x0 = x - 0.5: the part that tiled inference runs per tile."""
        h = self.conv("head", x0)
        for b in range(self.B):
            if self.fixed_size:
                h = self.fixed_block(b, h, hard, gammas)
                continue
            c1, c2 = f"blocks.{b}.conv1", f"blocks.{b}.conv2"
            g1 = g2 = None
            if self.k > 1:
                g1 = self.select(c1, h, hard)
            r = torch.relu(self.conv(c1, h, g1))
            if self.k > 1:
                g2 = g1 if self.shared else self.select(c2, r, hard)
            if gammas is not None and self.k > 1:
                gammas[c1] = g1
                if not self.shared:
                    gammas[c2] = g2
            h = h + self.conv(c2, r, g2)
        return self.conv("tail", h)

    def forward(self, x, hard=False, gammas=None):
        self.softs = []  # every selection's softmax weights, for balance_term
        x0 = x - 0.5
        body = self.body(x0, hard, gammas) + (self.conv("skip", x0) if self.s > 1 else x0)
        return F.pixel_shuffle(body, self.s) + 0.5


    def balance_term(self):
        """The load-balancing term of the last forward, before its weight: the mean over the
        selections of (k/d) * sum over groups and cardinals of the batch-mean weight squared."""
        if not self.softs:
            return torch.zeros((), dtype=torch.float64)
        terms = [(self.k / self.d) * (soft.mean(dim=0) ** 2).sum() for soft in self.softs]
        return sum(terms) / len(terms)


def write_fixture(path, records):
    with open(path, "wb") as f:
        f.write(b"NSRFIX01")
        f.write(struct.pack("<I", len(records)))
        for name, t in records:
            a = np.ascontiguousarray(t.detach().cpu().numpy(), dtype="<f4")
            if a.ndim == 0:
                a = a.reshape(1)
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb)
            f.write(struct.pack("<I", a.ndim) + struct.pack(f"<{a.ndim}I", *a.shape))
            f.write(a.tobytes())


def make(cfg, seed):
    name, B, Fe, wm, k, d, s, shared, N, h, w, ih, iw, T, ste, regime = cfg[:16]
    C = cfg[16] if len(cfg) > 16 else 3
    balance = cfg[17] if len(cfg) > 17 else 0.0
    # records are snapshots: parameters and gradients change in place later
    snap = lambda t: t.detach().clone()
    torch.manual_seed(seed)
    net = Net(B, Fe, wm, k, d, s, shared, T, ste, regime, C)
    x = f32(torch.rand(N, C, h, w))
    target = f32(torch.rand(N, C, h * s, w * s))
    xi = f32(torch.rand(1, C, ih, iw))
    rec = [("config", torch.tensor([B, Fe, wm, k, d, s, shared, LR, T, ste, regime, C, balance])), ("x", x),
           ("target", target)]
    rec += [("param." + n, snap(t)) for n, t in net.params.items()]
    with torch.no_grad():
        rec += [("infer.x", xi), ("infer.soft", net.forward(xi)),
                ("infer.hard", net.forward(xi, hard=True))]
    opt = torch.optim.Adam(list(net.params.values()), lr=LR, betas=(0.9, 0.999), eps=1e-8)
    for step in range(1, 4):
        opt.zero_grad()
        gammas = {}
        out = net.forward(x, hard=bool(ste), gammas=gammas)
        loss = torch.nn.L1Loss()(out, target) + balance * net.balance_term()
        loss.backward()
        if step == 1:
            rec += [("gamma." + n, g) for n, g in gammas.items()]
            rec += [("out", snap(out)), ("loss", snap(loss))]
            rec += [("grad." + n, snap(t.grad)) for n, t in net.params.items()]
        rec.append((f"loss{step}", snap(loss)))
        opt.step()
        rec += [(f"step{step}.{n}", snap(t)) for n, t in net.params.items()]
    return name, rec


def main():
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
    os.makedirs(root, exist_ok=True)
    for i, cfg in enumerate(CONFIGS):
        name, rec = make(cfg, 1000 + i)
        path = os.path.join(root, f"model_{name}.bin")
        write_fixture(path, rec)
        print(f"{path}: {len(rec)} tensors, {os.path.getsize(path)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
