/**
 * The op contract (design.md "Op contract"). An op is a parameter-free function of named tensors in the
 * [B, T, H, D] layout with three forms that agree to a stated tolerance:
 *   naive      — a loop over time written for clarity; differentiable through autodiff; the reference in tests
 *   chunk      — the training form (parallel or chunkwise) with a hand-written backward
 *   recurrent  — init + step, O(1) memory in T (attention: a KV cache that grows with T, or with the window)
 * Every op takes an optional `initial_state` input and returns its final state when `outputFinalState` is set,
 * so a sequence can be fed in pieces. A state is one tensor per op (its layout is documented by the op).
 */
import type { z } from "zod";
import type { Tensor } from "../core/tensor.js";
import type { DType } from "../core/dtype.js";
import type { Random } from "../core/random.js";

export type OpMode = "naive" | "chunk" | "recurrent";
export const OP_MODES: readonly OpMode[] = ["naive", "chunk", "recurrent"];

export interface InputSpec {
  /** the tensor name in the contract and in `seqmix op` files (q, k, v, gk, beta, initial_state, …) */
  readonly name: string;
  /** shape in symbols, for documentation and errors, e.g. "[B,T,H,K]" */
  readonly shape: string;
  /** may be omitted */
  readonly optional?: boolean;
  /** has the time axis at position 1, so the recurrent form feeds it one step at a time */
  readonly perStep: boolean;
}

export type OpInputs = Readonly<Record<string, Tensor | undefined>>;

export interface OpOutputs {
  /** the output (named `o` in files; `y` in the Mamba paper) */
  readonly o: Tensor;
  /** present when options.outputFinalState is true */
  readonly finalState?: Tensor;
}

/** Options every op accepts. */
export interface CommonOptions {
  /** also return the state after the last step */
  outputFinalState: boolean;
  /** chunk (tile) length of the chunk form */
  chunkSize: number;
}

export interface RecurrentForm<O> {
  /** The state before the first token, for inputs shaped like `inputs` (full sequences). */
  init(inputs: OpInputs, options: O): Tensor;
  /**
   * One step: `inputs` holds the per-step inputs at one time index (time axis removed, e.g. q_t [B,H,K]) and
   * the other inputs whole. Returns o_t (e.g. [B,H,V]) and the next state.
   */
  step(state: Tensor, inputs: OpInputs, options: O): { o: Tensor; state: Tensor };
}

export interface OpDefinition<O extends CommonOptions = CommonOptions> {
  readonly name: string;
  /** one line for `seqmix op --list` and errors */
  readonly summary: string;
  /** the spec section, e.g. "spec/mixers.md §1" */
  readonly spec: string;
  readonly inputs: readonly InputSpec[];
  /** the state layout in symbols, e.g. "[B,H,K,V]" */
  readonly stateShape: string;
  /** zod schema of the options; parsing fills the defaults and rejects unknown keys */
  readonly options: z.ZodType<O, unknown>;
  /** Checks presence, shapes and dtypes of the inputs; throws errors naming the tensor and the expected shape. */
  validate(inputs: OpInputs, options: O): void;
  naive(inputs: OpInputs, options: O): OpOutputs;
  chunk(inputs: OpInputs, options: O): OpOutputs;
  readonly recurrent: RecurrentForm<O>;
  /** Floats per sequence carried between steps after `tokens` tokens (constant for recurrent ops). */
  stateSize(shapes: Readonly<Record<string, readonly number[]>>, options: O, tokens: number): number;
  /**
   * Valid random inputs of the given sizes (gates in their legal ranges), without initial_state, for tests,
   * benches and `seqmix op --example`. Sizes default to small odd values.
   */
  example(rng: Random, dtype: DType, sizes?: Partial<ExampleSizes>): Record<string, Tensor>;
}

export interface ExampleSizes {
  B: number;
  T: number;
  H: number;
  K: number;
  V: number;
}

/** Type-erased op, as stored in the registry. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyOp = OpDefinition<any>;
