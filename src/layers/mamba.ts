/**
 * The `mamba` mixer layer: Mamba-1, the selective state-space model S6 (spec/mixers.md §8.1; arXiv 2312.00752)
 * around the `selective_scan` op. Per token, with E = d_inner = dModel·expand channels, N = dState, R = dtRank:
 *
 *   [x, z] = u W_inᵀ (+ b_in)                      x, z ∈ R^E (the first E outputs are x, the last E are z)
 *   x      = SiLU(CausalDepthwiseConv_W(x) + b_conv)
 *   [δ, Bm, Cm] = x W_xᵀ                          δ ∈ R^R, Bm, Cm ∈ R^N (shared by every channel)
 *   Δ      = softplus(δ W_dtᵀ + b_dt)               ∈ R^E      (the op adds b_dt = delta_bias, then softplus)
 *   A      = −exp(A_log)                            [E, N]
 *   per channel c:  h_t[c,:] = exp(Δ_t[c]·A[c,:]) ⊙ h_{t−1}[c,:] + Δ_t[c]·x_t[c]·Bm_t
 *                   y_t[c]   = Cm_t·h_t[c,:] + D[c]·x_t[c]
 *   y ← y ⊙ SiLU(z);   out = y W_outᵀ (+ b_out)
 *
 * Parameters, one to one with state-spaces/mamba `mamba_ssm/modules/mamba_simple.py: Mamba` (same names and
 * shapes, in PyTorch's state-dict order: a module's own parameters, then its sub-modules; fla's
 * `fla/layers/mamba.py` uses the same names). Inside a LanguageModel they are model.layers.{i}.attn.<name>
 * (mamba's own models call the mixer backbone.layers.{i}.mixer):
 *
 *   ours = reference name   shape              init
 *   A_log                   [E, N]             log(1..N) in every row (S4D-real: A = −(1..N))
 *   D                       [E]                1
 *   in_proj.weight          [2E, dModel]       N(0, initStd)
 *   in_proj.bias            [2E]               0                       only with bias (mamba `bias`, default off)
 *   conv1d.weight           [E, 1, W]          U(±1/√W) (PyTorch Conv1d default)         W = dConv (d_conv)
 *   conv1d.bias             [E]                U(±1/√W)                 convBias (mamba `conv_bias`, default on)
 *   x_proj.weight           [R + 2N, E]        N(0, initStd)            no bias
 *   dt_proj.weight          [E, R]             "random": U(±dtScale/√R); "constant": dtScale/√R
 *   dt_proj.bias            [E]                softplus⁻¹(dt), dt = exp(U(log dtMin, log dtMax)) floored at dtInitFloor
 *   out_proj.weight         [dModel, E]        N(0, initStd/√(2·nLayers))  (spec §16 residual-branch scaling)
 *   out_proj.bias           [dModel]           0                        only with bias
 *
 * Config ↔ mamba: dState ↔ d_state (16), dConv ↔ d_conv (4), expand ↔ expand (2), dtRank ↔ dt_rank ("auto" =
 * ⌈dModel/16⌉), dtMin/dtMax/dtInit/dtScale/dtInitFloor ↔ dt_min/dt_max/dt_init/dt_scale/dt_init_floor,
 * convBias ↔ conv_bias, bias ↔ bias; chunkSize is the op's checkpoint block length (no counterpart).
 * Init: in_proj/x_proj at PyTorch's default U(±1/√fan_in) as mamba leaves them (projInit "normal": N(0, initStd),
 * the spec §16 generic init); out_proj N(0, initStd/√(2·nLayers)) (mamba rescales it at the model level); the
 * dt_proj, A_log and D inits are mamba's.
 * Not supported: mamba's fused fast path (a kernel choice, same numbers), use_fast_path, and varlen/padding masks.
 *
 * How the op is called: selective_scan(u = x, delta = δ W_dtᵀ (no bias), A, Bm, Cm, Dskip = D, z,
 * delta_bias = dt_proj.bias, deltaSoftplus = true) — exactly mamba's selective_scan_fn call; the skip D·x and the
 * SiLU(z) gate happen inside the op. forward runs the op's chunk form (continuing from state.ssm); step runs
 * its recurrent step, O(1) in the number of tokens.
 *
 * State per sequence: { conv [B, W−1, E]: the last W−1 conv inputs (pre-conv x; mamba keeps the last W in a
 * [B, E, W] buffer, whose newest column is the current input), ssm [B, E, N]: h, channel-major (mamba's
 * ssm_state layout) }: E·N + (W−1)·E floats, whatever the length (spec §17: d_inner(N + K − 1)).
 */
import { z } from "zod";
import type { DType } from "../core/dtype.js";
import type { Random } from "../core/random.js";
import type { Tensor } from "../core/tensor.js";
import { zeros } from "../core/create.js";
import { matmul } from "../core/ops/matmul.js";
import { slice, squeeze, transpose, unsqueeze } from "../core/ops/shape.js";
import { Linear } from "../nn/linear.js";
import { ShortConv } from "../nn/shortconv.js";
import { constant, uniform } from "../nn/init.js";
import { parseOptions } from "../ops/options.js";
import { runOp } from "../ops/run.js";
import { selectiveScan, type SelectiveScanOptions } from "../ops/selective_scan/index.js";
import type { LayerDefinition } from "./registry.js";
import { MixerLayer, type LayerContext, type LayerForwardOptions, type LayerState } from "./types.js";

/** "layers[i] (type)": the prefix the registry gives config errors; construction errors use it too. */
export function layerWhere(type: string, context: Pick<LayerContext, "layerIdx">): string {
  return `layers[${context.layerIdx}] (${type})`;
}

/** round(dModel·expand) when it is a positive integer, else an error naming expand and dModel. */
export function innerWidth(type: string, context: Pick<LayerContext, "dModel" | "layerIdx">, expand: number): number {
  const w = context.dModel * expand;
  const r = Math.round(w);
  if (Math.abs(w - r) > 1e-9 * Math.max(1, w) || r < 1) {
    throw new Error(`${layerWhere(type, context)}: d_inner = dModel·expand = ${context.dModel}·${expand} = ${w} must be a positive integer`);
  }
  return r;
}

/** The Δ range options shared by mamba and mamba2 (mamba's dt_min, dt_max, dt_init_floor). */
export const dtRangeFields = {
  /** smallest initial step size Δ (mamba dt_min) */
  dtMin: z.number().positive().default(0.001),
  /** largest initial step size Δ (mamba dt_max) */
  dtMax: z.number().positive().default(0.1),
  /** initial Δ values are floored here (mamba dt_init_floor) */
  dtInitFloor: z.number().positive().default(1e-4),
};

/** dtMin ≤ dtMax: an error naming both. */
export function checkDtRange(type: string, context: Pick<LayerContext, "layerIdx">, dtMin: number, dtMax: number): void {
  if (dtMin > dtMax) throw new Error(`${layerWhere(type, context)}: dtMin=${dtMin} must be ≤ dtMax=${dtMax}`);
}

/**
 * mamba's Δ-bias init: dt = exp(U(0,1)·(log dtMax − log dtMin) + log dtMin), floored at dtInitFloor, stored as
 * softplus⁻¹(dt) = dt + log(1 − e^(−dt)), so softplus(bias) starts log-uniform in [dtMin, dtMax].
 */
export function inverseSoftplusDt(n: number, dtMin: number, dtMax: number, floor: number, rng: Random, dtype: DType): Tensor {
  const t = zeros([n], { dtype });
  const lo = Math.log(dtMin);
  const hi = Math.log(dtMax);
  for (let i = 0; i < n; i++) {
    const dt = Math.max(Math.exp(rng.uniform() * (hi - lo) + lo), floor);
    t.data[i] = dt + Math.log(-Math.expm1(-dt));
  }
  return t;
}

/** A Linear with weight N(0, std) and zero bias (spec §16). */
export function normalLinear(inF: number, outF: number, std: number, bias: boolean, rng: Random, dtype: DType): Linear {
  const l = new Linear(inF, outF, { rng, dtype, bias, init: "normal", std });
  l.bias?.data.fill(0);
  return l;
}

/** A layer state entry has the expected shape, else a RangeError naming it. */
export function checkStateEntry(type: string, state: LayerState, key: string, want: readonly number[]): void {
  const t = state[key];
  if (t === undefined || t.ndim !== want.length || t.shape.some((d, i) => d !== want[i])) {
    throw new RangeError(`${type}: state.${key} must have shape [${want.join(",")}] (from initState or forward), got ${t ? `[${t.shape.join(",")}]` : "nothing"}`);
  }
}

export const mambaConfig = z
  .object({
    /** state entries per channel N (mamba d_state) */
    dState: z.number().int().min(1).default(16),
    /** kernel width of the causal depthwise conv (mamba d_conv) */
    dConv: z.number().int().min(1).default(4),
    /** d_inner = dModel·expand channels (mamba expand) */
    expand: z.number().positive().default(2),
    /** rank R of the Δ projection; "auto" = ⌈dModel/16⌉ (mamba dt_rank) */
    dtRank: z.union([z.literal("auto"), z.number().int().min(1)]).default("auto"),
    ...dtRangeFields,
    /** dt_proj.weight init: "random" U(±dtScale/√R) or "constant" dtScale/√R (mamba dt_init) */
    dtInit: z.enum(["random", "constant"]).default("random"),
    /** scale of that init (mamba dt_scale) */
    dtScale: z.number().positive().default(1),
    /** bias on conv1d (mamba conv_bias) */
    convBias: z.boolean().default(true),
    /** biases on in_proj and out_proj (mamba bias) */
    bias: z.boolean().default(false),
    /** block length of the selective_scan chunk form in forward (checkpoint spacing; numbers do not depend on it) */
    chunkSize: z.number().int().min(1).max(4096).default(64),
    /**
     * false: the time-invariant (LTI, S4D-real-like) ablation of Mamba's §4.1 selective-copying experiment — Δ, B
     * and C do not depend on the input: Δ = softplus(dt_bias) per channel, B and C learned vectors [N] shared by
     * every channel and step (x_proj and dt_proj are not created). Same scan, same state.
     */
    selective: z.boolean().default(true),
    /**
     * init of in_proj and x_proj: "uniform" = PyTorch's nn.Linear default U(±1/√fan_in), which mamba_simple.py
     * leaves them at (its reference init; tasks.md §1 measured that Mamba learns MQAR much faster with it);
     * "normal" = N(0, initStd) as the spec §16 generic block
     */
    projInit: z.enum(["uniform", "normal"]).default("uniform"),
  })
  .strict();

export type MambaLayerConfig = z.output<typeof mambaConfig>;

export class MambaLayer extends MixerLayer {
  readonly type = "mamba";
  /** E = d_inner */
  readonly dInner: number;
  /** N */
  readonly dState: number;
  /** R */
  readonly dtRank: number;
  readonly A_log: Tensor;
  readonly D: Tensor;
  readonly in_proj: Linear;
  readonly conv1d: ShortConv;
  /** selective only */
  readonly x_proj: Linear | null;
  readonly dt_proj: Linear | null;
  /** LTI ablation only (selective: false): Δ bias [E], B [N], C [N] */
  readonly dt_bias: Tensor | null;
  readonly B: Tensor | null;
  readonly C: Tensor | null;
  readonly out_proj: Linear;
  private readonly stepOptions: SelectiveScanOptions;

  constructor(readonly dModel: number, readonly config: MambaLayerConfig, context: LayerContext) {
    super();
    const E = innerWidth("mamba", context, config.expand);
    checkDtRange("mamba", context, config.dtMin, config.dtMax);
    const N = config.dState;
    const R = config.dtRank === "auto" ? Math.ceil(dModel / 16) : config.dtRank;
    this.dInner = E;
    this.dState = N;
    this.dtRank = R;
    const { rng, dtype, initStd, nLayers } = context;

    const aLog = zeros([E, N], { dtype });
    for (let c = 0; c < E; c++) for (let n = 0; n < N; n++) aLog.data[c * N + n] = Math.log(n + 1);
    this.A_log = this.param("A_log", aLog);
    this.D = this.param("D", constant([E], 1, dtype));
    const proj = (inF: number, outF: number, bias: boolean) =>
      config.projInit === "normal" ? normalLinear(inF, outF, initStd, bias, rng, dtype) : new Linear(inF, outF, { rng, dtype, bias });
    this.in_proj = this.module("in_proj", proj(dModel, 2 * E, config.bias));
    this.conv1d = this.module("conv1d", new ShortConv(E, config.dConv, { rng, dtype, bias: config.convBias, activation: "silu" }));
    if (config.selective) {
      this.x_proj = this.module("x_proj", proj(E, R + 2 * N, false));
      const dtStd = config.dtScale / Math.sqrt(R);
      const dtProj = new Linear(R, E, { rng, dtype, bias: true, init: "zeros" });
      if (config.dtInit === "random") dtProj.weight.data.set(uniform([E, R], -dtStd, dtStd, rng, dtype).data);
      else dtProj.weight.data.fill(dtStd);
      dtProj.bias!.data.set(inverseSoftplusDt(E, config.dtMin, config.dtMax, config.dtInitFloor, rng, dtype).data);
      this.dt_proj = this.module("dt_proj", dtProj);
      this.dt_bias = this.B = this.C = null;
    } else {
      this.x_proj = this.dt_proj = null;
      this.dt_bias = this.param("dt_bias", inverseSoftplusDt(E, config.dtMin, config.dtMax, config.dtInitFloor, rng, dtype));
      this.B = this.param("B", constant([N], 1, dtype));
      this.C = this.param("C", uniform([N], -1 / Math.sqrt(N), 1 / Math.sqrt(N), rng, dtype));
    }
    this.out_proj = this.module("out_proj", normalLinear(E, dModel, initStd / Math.sqrt(2 * nLayers), config.bias, rng, dtype));
    this.stepOptions = parseOptions(selectiveScan.name, selectiveScan.options, { deltaSoftplus: true, chunkSize: config.chunkSize });
  }

  private get dtype(): DType {
    return this.A_log.dtype;
  }

  /** A = −exp(A_log) [E, N] */
  A(): Tensor {
    return this.A_log.exp().neg();
  }

  private stateShapes(batch: number): Record<string, number[]> {
    return { conv: [batch, this.config.dConv - 1, this.dInner], ssm: [batch, this.dInner, this.dState] };
  }

  initState(batch: number): LayerState {
    const out: Record<string, Tensor> = {};
    for (const [key, shape] of Object.entries(this.stateShapes(batch))) out[key] = zeros(shape, { dtype: this.dtype });
    return out;
  }

  /** E·N + (W−1)·E floats per sequence, constant in the number of tokens. */
  stateSize(_tokens?: number): number {
    return this.dInner * this.dState + (this.config.dConv - 1) * this.dInner;
  }

  private checkState(state: LayerState, batch: number): void {
    for (const [key, want] of Object.entries(this.stateShapes(batch))) checkStateEntry(this.type, state, key, want);
  }

  private checkInput(x: Tensor, rank: 2 | 3): void {
    if (x.ndim !== rank || x.shape[rank - 1] !== this.dModel) {
      throw new RangeError(`mamba: x must have shape ${rank === 3 ? "[B,T," : "[B,"}${this.dModel}], got [${x.shape.join(",")}]`);
    }
  }

  /**
   * x [B,T,D] → the op inputs (with the time axis) and the conv FIFO after these tokens, continuing from
   * `convState` (the W−1 conv inputs before x) when given.
   */
  private prepare(x: Tensor, convState: Tensor | null): { inputs: Record<string, Tensor>; conv: Tensor } {
    const E = this.dInner;
    const N = this.dState;
    const R = this.dtRank;
    const xz = this.in_proj.forward(x);
    const c = this.conv1d.forward(slice(xz, 2, 0, E), convState);
    const u = c.y;
    if (!this.x_proj || !this.dt_proj) {
      // LTI ablation: nothing below depends on x (Δ = softplus(dt_bias) once the op adds the bias)
      const [Bsz, T] = [u.shape[0]!, u.shape[1]!];
      return {
        inputs: {
          u,
          delta: zeros([Bsz, T, E], { dtype: u.dtype }),
          A: this.A(),
          Bm: this.B!.reshape(1, 1, N).expand(Bsz, T, N),
          Cm: this.C!.reshape(1, 1, N).expand(Bsz, T, N),
          Dskip: this.D,
          z: slice(xz, 2, E, 2 * E),
          delta_bias: this.dt_bias!,
        },
        conv: c.state,
      };
    }
    const xdbl = this.x_proj.forward(u);
    const delta = matmul(slice(xdbl, 2, 0, R), transpose(this.dt_proj.weight));
    return {
      inputs: {
        u,
        delta,
        A: this.A(),
        Bm: slice(xdbl, 2, R, R + N),
        Cm: slice(xdbl, 2, R + N, R + 2 * N),
        Dskip: this.D,
        z: slice(xz, 2, E, 2 * E),
        delta_bias: this.dt_proj.bias!,
      },
      conv: c.state,
    };
  }

  forward(x: Tensor, options: LayerForwardOptions = {}): { y: Tensor; state?: LayerState } {
    this.checkInput(x, 3);
    const prev = options.state ?? null;
    if (prev) this.checkState(prev, x.shape[0]!);
    const outputState = options.outputState ?? false;
    const { inputs, conv } = this.prepare(x, prev ? prev.conv! : null);
    const r = runOp(selectiveScan, { ...inputs, ...(prev ? { initial_state: prev.ssm! } : {}) }, "chunk", {
      deltaSoftplus: true,
      chunkSize: this.config.chunkSize,
      outputFinalState: outputState,
    });
    const y = this.out_proj.forward(r.o);
    return outputState ? { y, state: { conv, ssm: r.finalState! } } : { y };
  }

  step(x: Tensor, state: LayerState): { y: Tensor; state: LayerState } {
    this.checkInput(x, 2);
    this.checkState(state, x.shape[0]!);
    const { inputs, conv } = this.prepare(unsqueeze(x, 1), state.conv!);
    const at: Record<string, Tensor> = {};
    for (const spec of selectiveScan.inputs) {
      const t = inputs[spec.name];
      if (t !== undefined) at[spec.name] = spec.perStep ? squeeze(t, 1) : t;
    }
    const r = selectiveScan.recurrent.step(state.ssm!, at, this.stepOptions);
    return { y: this.out_proj.forward(r.o), state: { conv, ssm: r.state } };
  }
}

export const mambaLayer: LayerDefinition<MambaLayerConfig> = {
  type: "mamba",
  summary: "Mamba-1 selective SSM (state-spaces/mamba Mamba): in_proj → short conv + SiLU → selective scan (Δ, B, C from x) ⊙ SiLU(z) → out_proj",
  config: mambaConfig as unknown as z.ZodType<MambaLayerConfig, unknown>,
  smallConfig: { dState: 4, dConv: 3, expand: 1.5, dtRank: 3, bias: true, chunkSize: 4 },
  create: (config, context) => new MambaLayer(context.dModel, config, context),
};
