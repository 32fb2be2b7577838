# The seqmix 2-layer language model of `npm run bench -- train` rebuilt in PyTorch CPU, with the same layer
# shapes (parameter counts printed beside seqmix's): embeddings tied to the output head, pre-norm blocks
# (RMSNorm, mixer, RMSNorm, SwiGLU MLP; no MLP for mamba), final RMSNorm. Mixers follow seqmix's layers:
# attention (4 heads, RoPE), gla (low-rank log-sigmoid gate / 16, per-head RMSNorm with swish output gate),
# deltanet (short convs + SiLU, L2-normalised q/k, sigmoid beta, per-head RMSNorm), mamba (in_proj, conv,
# x_proj, dt_proj with softplus, selective scan, D skip, SiLU(z) gate). The ops are those of torch_ops.py.
# One training step = forward, cross-entropy, backward, AdamW. Prints one JSON line:
# {"torch": version, "threads": n, "tokens_per_s": {mixer: median}, "params": {mixer: count}}.
import json, math, os, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_ops import attention, decay_chunked, delta_chunked, selective_scan  # noqa: E402

D, VOCAB, HEADS = 128, 256, 4


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def lin(i, o, bias=False):
    return nn.Linear(i, o, bias=bias)


def rope(x):
    # x [B, T, H, Dh]: rotate pairs (first half, second half) by position · theta^(-2i/Dh)
    T, Dh = x.shape[1], x.shape[-1]
    freqs = torch.outer(torch.arange(T, dtype=torch.float32), 10000.0 ** (-torch.arange(0, Dh, 2).float() / Dh))
    cos, sin = freqs.cos()[None, :, None, :], freqs.sin()[None, :, None, :]
    a, b = x[..., : Dh // 2], x[..., Dh // 2 :]
    return torch.cat([a * cos - b * sin, a * sin + b * cos], -1)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (lin(D, D) for _ in range(4))

    def forward(self, x):
        B, T, _ = x.shape
        split = lambda t: t.view(B, T, HEADS, D // HEADS)
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        o = attention(rope(q), rope(k), v)  # [B, H, T, Dh]
        return self.o_proj(o.transpose(1, 2).reshape(B, T, D))


class GLA(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.g_proj = lin(D, D // 2), lin(D, D // 2), lin(D, D), lin(D, D)
        self.gk_proj = nn.Sequential(lin(D, 16), lin(16, D // 2, bias=True))
        self.o_proj, self.g_norm = lin(D, D), RMSNorm(D // HEADS)

    def forward(self, x):
        B, T, _ = x.shape
        hk = lambda t: t.view(B, T, HEADS, -1)
        gk = F.logsigmoid(self.gk_proj(x)) / 16
        o = decay_chunked(hk(self.q_proj(x)), hk(self.k_proj(x)), hk(self.v_proj(x)), hk(gk)).transpose(1, 2)
        o = self.g_norm(o) * F.silu(hk(self.g_proj(x)))
        return self.o_proj(o.reshape(B, T, D))


class ShortConv(nn.Module):
    def __init__(self, d, size=4, bias=False):
        super().__init__()
        self.conv = nn.Conv1d(d, d, size, groups=d, padding=size - 1, bias=bias)

    def forward(self, x):  # causal depthwise conv over time, x [B, T, d]
        return self.conv(x.transpose(1, 2))[..., : x.shape[1]].transpose(1, 2)


class DeltaNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (lin(D, D) for _ in range(4))
        self.b_proj = lin(D, HEADS)
        self.q_conv1d, self.k_conv1d, self.v_conv1d = ShortConv(D), ShortConv(D), ShortConv(D)
        self.o_norm = RMSNorm(D // HEADS)

    def forward(self, x):
        B, T, _ = x.shape
        hk = lambda t: t.view(B, T, HEADS, -1)
        l2 = lambda t: t / (t.norm(dim=-1, keepdim=True) + 1e-6)
        q = l2(hk(F.silu(self.q_conv1d(self.q_proj(x)))))
        k = l2(hk(F.silu(self.k_conv1d(self.k_proj(x)))))
        v = hk(F.silu(self.v_conv1d(self.v_proj(x))))
        o = delta_chunked(q, k, v, torch.sigmoid(self.b_proj(x))).transpose(1, 2)
        return self.o_proj(self.o_norm(o).reshape(B, T, D))


class Mamba(nn.Module):
    def __init__(self, d_state=16, expand=2):
        super().__init__()
        di, self.dt_rank, self.n = expand * D, math.ceil(D / 16), d_state
        self.in_proj, self.out_proj = lin(D, 2 * di), lin(di, D)
        self.conv1d = ShortConv(di, bias=True)
        self.x_proj, self.dt_proj = lin(di, self.dt_rank + 2 * d_state), lin(self.dt_rank, di, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1).float()).repeat(di, 1))
        self.D = nn.Parameter(torch.ones(di))

    def forward(self, x):
        u, z = self.in_proj(x).chunk(2, -1)
        u = F.silu(self.conv1d(u))
        dt, Bm, Cm = self.x_proj(u).split([self.dt_rank, self.n, self.n], -1)
        delta = F.softplus(self.dt_proj(dt))
        y = selective_scan(u, delta, -torch.exp(self.A_log), Bm, Cm, self.D, z, torch.zeros_like(self.D))
        return self.out_proj(y)


class SwiGLU(nn.Module):
    def __init__(self, hidden=341):
        super().__init__()
        self.gate_proj, self.up_proj, self.down_proj = lin(D, hidden), lin(D, hidden), lin(hidden, D)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


MIXERS = {"attention": Attention, "gla": GLA, "deltanet": DeltaNet, "mamba": Mamba}


class Model(nn.Module):
    def __init__(self, mixer):
        super().__init__()
        self.embeddings = nn.Embedding(VOCAB, D)
        self.mixers = nn.ModuleList(MIXERS[mixer]() for _ in range(2))
        self.norms = nn.ModuleList(RMSNorm(D) for _ in range(2))
        self.mlps = nn.ModuleList(SwiGLU() for _ in range(2)) if mixer != "mamba" else None
        self.mlp_norms = nn.ModuleList(RMSNorm(D) for _ in range(2)) if mixer != "mamba" else None
        self.norm = RMSNorm(D)

    def forward(self, tokens):
        x = self.embeddings(tokens)
        for i in range(2):
            x = x + self.mixers[i](self.norms[i](x))
            if self.mlps is not None:
                x = x + self.mlps[i](self.mlp_norms[i](x))
        return self.norm(x) @ self.embeddings.weight.T


def tokens_per_second(mixer, B, T):
    model = Model(mixer)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, VOCAB, (B, T))
    targets = torch.randint(0, VOCAB, (B * T,))
    times = []
    for rep in range(4):
        t = time.perf_counter()
        loss = F.cross_entropy(model(tokens).reshape(B * T, VOCAB), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if rep > 0:
            times.append(time.perf_counter() - t)
    return B * T / sorted(times)[1], sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    B, T, THREADS = (int(x) for x in sys.argv[1:4])
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    results = {m: tokens_per_second(m, B, T) for m in sys.argv[4].split(",")}
    print(json.dumps({"torch": torch.__version__, "threads": THREADS,
                      "tokens_per_s": {m: r[0] for m, r in results.items()}, "params": {m: r[1] for m, r in results.items()}}))
