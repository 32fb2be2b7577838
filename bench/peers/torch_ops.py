# The seqmix ops written with PyTorch CPU ops, for `npm run bench -- ops`: forward+backward time of each
# at the given sizes. Attention is plain causal softmax attention (grouped-query, as seqmix's example: Hkv = H/2);
# the linear family and the delta rules use the chunked form (chunk 64) a PyTorch user would write; the
# selective scan is the sequential reference loop (PyTorch has no CPU scan). The math is spec/mixers.md's,
# in our own words. Input distributions follow each op's `example`. Prints one JSON line:
# {"torch": version, "threads": n, "ms": {op: median ms}}.
import json, sys, time
import torch
import torch.nn.functional as F

C = 64  # chunk length of the chunked forms


def heads_first(*xs):
    # [B, T, H, D] -> [B, H, T, D]
    return [x.transpose(1, 2) for x in xs]


def attention(q, k, v):
    T, scale = q.shape[1], q.shape[-1] ** -0.5
    q, k, v = heads_first(q, k, v)
    rep = q.shape[1] // k.shape[1]
    k, v = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
    s = (q @ k.transpose(-1, -2)) * scale
    mask = torch.ones(T, T, dtype=torch.bool).triu(1)
    return torch.softmax(s.masked_fill(mask, float("-inf")), -1) @ v


def chunks(x):
    # [B, H, T, D] -> [B, H, T/C, C, D]
    return x.reshape(x.shape[0], x.shape[1], x.shape[2] // C, C, x.shape[-1])


def decay_chunked(q, k, v, g=None):
    """Linear attention with an optional log decay g ([B,H,T,K], or [B,H,T,1] for a scalar per head)."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    q, k, v = (chunks(x) for x in heads_first(q, k, v))
    q = q * K ** -0.5
    causal = torch.ones(C, C, dtype=torch.bool).tril()
    S = q.new_zeros(B, H, K, V)
    out = []
    if g is not None:
        b = chunks(heads_first(g)[0]).cumsum(-2)  # log decay from the chunk start to each position
    for i in range(T // C):
        qi, ki, vi = q[:, :, i], k[:, :, i], v[:, :, i]
        if g is None:
            a = (qi @ ki.transpose(-1, -2)).masked_fill(~causal, 0)
            out.append(a @ vi + qi @ S)
            S = S + ki.transpose(-1, -2) @ vi
        else:
            bi = b[:, :, i]
            qd, kd = qi * bi.exp(), ki * (-bi).exp()
            a = (qd @ kd.transpose(-1, -2)).masked_fill(~causal, 0)
            out.append(a @ vi + qd @ S)
            last = bi[:, :, -1:]
            S = S * last.transpose(-1, -2).exp() + (ki * (last - bi).exp()).transpose(-1, -2) @ vi
    return torch.cat(out, 2)


def delta_chunked(q, k, v, beta, g=None):
    """(Gated) delta rule, WY form per chunk: u = (I+L)^-1 (beta*v) - (I+L)^-1 (beta*gamma*k) S0."""
    B, T, H, K = q.shape
    V = v.shape[-1]
    q, k, v = (chunks(x) for x in heads_first(q, k, v))
    beta = chunks(beta.transpose(1, 2).unsqueeze(-1))
    q = q * K ** -0.5
    kb, vb = k * beta, v * beta
    strict = torch.ones(C, C, dtype=torch.bool).tril(-1)
    causal = torch.ones(C, C, dtype=torch.bool).tril()
    if g is None:
        gamma = None
        L = (kb @ k.transpose(-1, -2)).masked_fill(~strict, 0)
    else:
        b = chunks(g.transpose(1, 2).unsqueeze(-1)).cumsum(-2)  # [B,H,n,C,1]
        gamma = b.exp()
        rel = (b - b.transpose(-1, -2)).masked_fill(~causal, float("-inf")).exp()  # gamma_t / gamma_s
        L = (kb @ k.transpose(-1, -2)) * rel.masked_fill(~strict, 0)
    I = torch.eye(C).expand_as(L)
    U = torch.linalg.solve_triangular(I + L, vb, upper=False)
    W = torch.linalg.solve_triangular(I + L, kb if gamma is None else kb * gamma, upper=False)
    S = q.new_zeros(B, H, K, V)
    out = []
    for i in range(T // C):
        qi, ki = q[:, :, i], k[:, :, i]
        u = U[:, :, i] - W[:, :, i] @ S
        a = qi @ ki.transpose(-1, -2)
        if gamma is None:
            out.append(qi @ S + a.masked_fill(~causal, 0) @ u)
            S = S + ki.transpose(-1, -2) @ u
        else:
            gi, ri = gamma[:, :, i], rel[:, :, i]
            out.append((qi * gi) @ S + (a * ri) @ u)
            last = gi[:, :, -1:]
            S = S * last + (ki * (last / gi)).transpose(-1, -2) @ u
    return torch.cat(out, 2)


def selective_scan(u, delta, A, Bm, Cm, Dskip, z, delta_bias):
    delta = delta + delta_bias
    h = u.new_zeros(u.shape[0], u.shape[2], A.shape[1])
    ys = []
    for t in range(u.shape[1]):
        d = delta[:, t, :, None]
        h = torch.exp(d * A) * h + d * u[:, t, :, None] * Bm[:, t, None, :]
        ys.append((h * Cm[:, t, None, :]).sum(-1))
    y = torch.stack(ys, 1) + u * Dskip
    return y * F.silu(z)


def l2n(x):
    return x / (x.norm(dim=-1, keepdim=True) + 1e-6)


def inputs(op, B, T, H, K, V):
    r = lambda *s: torch.randn(*s)
    u = lambda lo, hi, *s: torch.rand(*s) * (hi - lo) + lo
    if op == "attention":
        return [r(B, T, H, K), r(B, T, H // 2, K), r(B, T, H // 2, V)]
    if op == "linear_attn":
        return [F.elu(r(B, T, H, K)) + 1, F.elu(r(B, T, H, K)) + 1, r(B, T, H, V)]
    if op == "simple_gla":
        return [r(B, T, H, K), r(B, T, H, K), r(B, T, H, V), u(-0.5, -0.01, B, T, H, 1)]
    if op == "gla":
        return [r(B, T, H, K), r(B, T, H, K), r(B, T, H, V), u(-0.5, -0.01, B, T, H, K)]
    if op == "delta_rule":
        return [l2n(r(B, T, H, K)), l2n(r(B, T, H, K)), r(B, T, H, V), u(0.05, 0.95, B, T, H)]
    if op == "gated_delta_rule":
        return [l2n(r(B, T, H, K)), l2n(r(B, T, H, K)), r(B, T, H, V), u(0.05, 0.95, B, T, H), u(-0.5, -0.01, B, T, H)]
    if op == "selective_scan":
        D, N = H * V, K
        A = -u(0.5, 1.5, D, N) * torch.arange(1, N + 1).float()
        return [r(B, T, D), u(0.05, 0.5, B, T, D), A, r(B, T, N), r(B, T, N), r(D), r(B, T, D), u(-0.1, 0.1, D)]
    raise ValueError(op)


FORWARD = {
    "attention": attention,
    "linear_attn": decay_chunked,
    "simple_gla": decay_chunked,
    "gla": decay_chunked,
    "delta_rule": delta_chunked,
    "gated_delta_rule": delta_chunked,
    "selective_scan": selective_scan,
}


def time_fwd_bwd(op, sizes):
    xs = [x.requires_grad_() for x in inputs(op, *sizes)]
    def step():
        o = FORWARD[op](*xs)
        o.backward(torch.ones_like(o))
        for x in xs:
            x.grad = None
    step()
    times = []
    for _ in range(3):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1000)
    return sorted(times)[1]


if __name__ == "__main__":
    B, T, H, K, V, chunk, THREADS = (int(x) for x in sys.argv[1:8])
    C = chunk
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    ms = {op: time_fwd_bwd(op, (B, T, H, K, V)) for op in sys.argv[8].split(",")}
    print(json.dumps({"torch": torch.__version__, "threads": THREADS, "ms": ms}))
