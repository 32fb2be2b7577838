/**
 * The training loop for synthetic tasks (tasks.md §0 defaults): fresh batches every step from the task's train
 * stream, AdamW with decoupled weight decay (none on norms, biases and SSM gate parameters), linear warm-up then
 * cosine decay to 0, gradient clipping, periodic evaluation on a fixed held-out set, and early stopping once the
 * task's solved threshold is met.
 *
 * Everything is a pure function of (model init, task config, seed): batch `s` is `trainBatch(task, cfg, seed, s)`
 * and the eval set is drawn from the seed's disjoint eval stream, so a run is reproducible and can be repeated
 * on a worker thread with the same numbers.
 *
 * A non-finite loss or gradient stops the run with a {@link TrainingDivergedError} that names the step (and the
 * parameter, for a gradient) instead of carrying on with garbage.
 */
import { BufferArena } from "../core/arena.js";
import { noGrad } from "../core/autograd.js";
import { tensor } from "../core/create.js";
import { crossEntropy } from "../core/ops/nn.js";
import { indices } from "../core/ops/shape.js";
import type { Tensor } from "../core/tensor.js";
import type { LanguageModel } from "../models/lm.js";
import { AccuracyMeter, MseMeter, solvedMetricValue, type AccuracySummary, type MseSummary } from "../tasks/metrics.js";
import { evalSet, trainBatch } from "../tasks/streams.js";
import { parseTaskConfig, type AnyTask, type TaskBatch } from "../tasks/types.js";
import { AdamW, decayGroups } from "./adamw.js";
import { clipGradNorm } from "./clip.js";
import { NonFiniteGradError } from "./finite.js";
import { linearWarmupCosine } from "./schedule.js";

export class TrainingDivergedError extends Error {
  override name = "TrainingDivergedError";
  constructor(
    message: string,
    readonly step: number,
  ) {
    super(message);
  }
}

export interface TrainOptions {
  readonly task: AnyTask;
  /** the task config (partial is fine: defaults are filled) */
  readonly taskConfig?: unknown;
  readonly model: LanguageModel;
  /** data seed: train batches and the eval set derive from it */
  readonly seed: number;
  readonly steps: number;
  readonly batchSize: number;
  /** peak learning rate */
  readonly lr: number;
  /** AdamW decoupled weight decay on matrices (default 0.1, tasks.md §0) */
  readonly weightDecay?: number;
  /** fraction of the steps spent warming up linearly (default 0.05) */
  readonly warmupFraction?: number;
  /** max global gradient norm (default 1; 0 disables) */
  readonly clipNorm?: number;
  /** held-out examples (default 512) */
  readonly evalExamples?: number;
  /** evaluation batch size (default 128) */
  readonly evalBatchSize?: number;
  /** evaluate every this many steps (default: 10 evaluations per run); the final evaluation always runs */
  readonly evalEvery?: number;
  /** stop as soon as an evaluation reaches the task's solved threshold (default true) */
  readonly earlyStop?: boolean;
  /** points kept on the loss curve (default 100) */
  readonly curvePoints?: number;
  /** stop after this many seconds of training (0 or absent: no limit); the result says `timedOut` */
  readonly maxSeconds?: number;
  /** called after every step (cheap) */
  readonly onStep?: (info: StepInfo) => void;
}

export interface StepInfo {
  readonly step: number;
  readonly steps: number;
  readonly loss: number;
  readonly lr: number;
  /** scored-position accuracy of the training batch (null for regression) */
  readonly trainAccuracy: number | null;
  readonly tokensPerSecond: number;
  /** latest evaluation, if one ran */
  readonly lastEval: EvalResult | null;
}

export interface EvalResult {
  /** the task's solved metric (tasks.md: accuracy, exact match, scaled accuracy, worst position, MSE) */
  readonly value: number;
  readonly accuracy: number | null;
  readonly loss: number;
  readonly solved: boolean;
  readonly summary: AccuracySummary | MseSummary;
}

export interface CurvePointOut {
  readonly step: number;
  readonly loss: number;
  readonly eval?: number | null;
}

export interface TrainResult {
  readonly steps: number;
  readonly stoppedEarly: boolean;
  /** the run hit `maxSeconds` before its planned steps */
  readonly timedOut: boolean;
  readonly final: EvalResult;
  readonly curve: CurvePointOut[];
  readonly wallSeconds: number;
  readonly tokensPerSecond: number;
}

/** Tensor inputs of a batch for the model: token ids, or real features [B,T,inputDim]. */
export function batchInputs(batch: TaskBatch, dtype: "f32" | "f64"): ReturnType<typeof indices> | Tensor {
  const [B, T] = batch.shape;
  return batch.kind === "tokens" ? indices(batch.inputs, [B, T]) : tensor(batch.inputs, [B, T, batch.inputDim], { dtype });
}

/** The training loss of a batch: cross-entropy over scored positions, or masked MSE for real-valued tasks. */
export function batchLoss(logits: Tensor, batch: TaskBatch): Tensor {
  const [B, T] = batch.shape;
  if (batch.kind === "tokens") return crossEntropy(logits.reshape(B * T, logits.shape[2]!), batch.targets);
  const count = batch.mask.reduce((n, m) => n + m, 0);
  if (count === 0) return logits.sum().mul(0);
  const target = tensor(batch.targets, [B * T], { dtype: logits.dtype });
  const mask = tensor(Float32Array.from(batch.mask), [B * T], { dtype: logits.dtype });
  const err = logits.reshape(B * T).sub(target).mul(mask);
  return err.square().sum().div(count);
}

/** Evaluates a model on batches with the task's metric (no gradients, eval mode restored afterwards). */
export function evaluate(model: LanguageModel, task: AnyTask, taskConfig: unknown, batches: readonly TaskBatch[]): EvalResult {
  const config = parseTaskConfig(task, taskConfig);
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => {
      const acc = new AccuracyMeter();
      const mse = new MseMeter();
      let lossSum = 0;
      let lossWeight = 0;
      for (const batch of batches) {
        const { logits } = model.forward(batchInputs(batch, model.config.dtype));
        const scored = batch.kind === "tokens" ? batch.targets.reduce((n, t) => n + (t !== -100 ? 1 : 0), 0) : batch.mask.reduce((n, m) => n + m, 0);
        lossSum += batchLoss(logits, batch).item() * scored;
        lossWeight += scored;
        if (batch.kind === "tokens") acc.add(logits, batch.targets, batch.shape);
        else mse.add(logits, batch.targets, batch.mask, batch.shape);
      }
      const summary = task.metric === "mse" ? mse.summary() : acc.summary();
      const value = solvedMetricValue(task, config, summary);
      const solved = task.solvedMetric === "normalizedMse" ? value < task.solvedThreshold : value >= task.solvedThreshold;
      return {
        value,
        accuracy: "accuracy" in summary ? summary.accuracy : null,
        loss: lossWeight > 0 ? lossSum / lossWeight : NaN,
        solved,
        summary,
      };
    });
  } finally {
    if (wasTraining) model.train();
  }
}

/** Parameter names that AdamW must not decay: vectors (norms, biases) and the SSM gate parameters (tasks.md §0). */
export function isNoDecay(name: string, p: Tensor): boolean {
  return p.ndim < 2 || /(^|\.)(A_log|dt_bias|D)$/.test(name);
}

function trainAccuracy(logits: Tensor, batch: TaskBatch): number | null {
  if (batch.kind !== "tokens") return null;
  return new AccuracyMeter().add(logits, batch.targets, batch.shape).summary().accuracy;
}

/** Runs the loop; returns the final evaluation, the curve and the throughput. */
export function trainOnTask(options: TrainOptions): TrainResult {
  const { task, model, seed, steps, batchSize, lr } = options;
  if (!Number.isSafeInteger(steps) || steps < 1) throw new RangeError(`train: steps must be a positive integer, got ${steps}`);
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`train: batchSize must be a positive integer, got ${batchSize}`);
  if (!(lr > 0) || !Number.isFinite(lr)) throw new RangeError(`train: lr must be a positive number, got ${lr}`);
  const config = parseTaskConfig(task, options.taskConfig ?? {});
  const evalEvery = options.evalEvery ?? Math.max(1, Math.ceil(steps / 10));
  const earlyStop = options.earlyStop ?? true;
  const curveEvery = Math.max(1, Math.ceil(steps / (options.curvePoints ?? 100)));
  const clipNorm = options.clipNorm ?? 1;

  const evalBatches = evalSet(task, config, seed, options.evalExamples ?? 512, options.evalBatchSize ?? 128);
  const optimizer = new AdamW(decayGroups(model.namedParameters(), options.weightDecay ?? 0.1, isNoDecay), { lr, betas: [0.9, 0.999] });
  const warmupSteps = Math.min(steps, Math.max(1, Math.round((options.warmupFraction ?? 0.05) * steps)));
  const lrAt = linearWarmupCosine({ peakLr: lr, warmupSteps, totalSteps: steps, minLr: 0 });
  const params = model.parameters();
  const arena = new BufferArena();

  const curve: CurvePointOut[] = [];
  let lossSinceLast = 0;
  let stepsSinceLast = 0;
  let lastEval: EvalResult | null = null;
  let tokens = 0;
  const start = performance.now();
  let step = 0;
  let stoppedEarly = false;
  let timedOut = false;
  const maxMs = (options.maxSeconds ?? 0) * 1000;
  model.train();
  try {
    while (step < steps) {
      const batch = trainBatch(task, config, seed, step, batchSize);
      const stepLr = lrAt(step);
      optimizer.setLr(stepLr);
      // One step in the arena: its activations, gradients and scratch are the previous step's buffers again.
      // Nothing made inside may be used after run() returns, so the values needed later are read inside.
      const { lossValue, trainAcc } = arena.run(() => {
        const { logits } = model.forward(batchInputs(batch, model.config.dtype));
        const loss = batchLoss(logits, batch);
        const lossValue = loss.item();
        if (!Number.isFinite(lossValue)) {
          throw new TrainingDivergedError(`training loss is ${lossValue} at step ${step} (lr ${stepLr.toExponential(2)}); the run diverged`, step);
        }
        optimizer.zeroGrad();
        loss.backward();
        if (clipNorm > 0) clipGradNorm(params, clipNorm);
        try {
          optimizer.step();
        } catch (e) {
          if (e instanceof NonFiniteGradError) throw new TrainingDivergedError(`at step ${step}: ${e.message}`, step);
          throw e;
        }
        return { lossValue, trainAcc: options.onStep ? trainAccuracy(logits, batch) : NaN };
      });
      tokens += batch.shape[0] * batch.shape[1];
      step++;
      lossSinceLast += lossValue;
      stepsSinceLast++;
      const evalNow = step % evalEvery === 0 || step === steps;
      if (evalNow) lastEval = evaluate(model, task, config, evalBatches);
      if (step % curveEvery === 0 || evalNow) {
        curve.push({ step, loss: lossSinceLast / stepsSinceLast, ...(evalNow ? { eval: finiteOrNull(lastEval!.value) } : {}) });
        lossSinceLast = 0;
        stepsSinceLast = 0;
      }
      const seconds = (performance.now() - start) / 1000;
      const onStep = options.onStep;
      if (onStep) onStep({
        step,
        steps,
        loss: lossValue,
        lr: stepLr,
        trainAccuracy: trainAcc,
        tokensPerSecond: tokens / Math.max(seconds, 1e-9),
        lastEval,
      });
      if (evalNow && earlyStop && lastEval!.solved && step < steps) {
        stoppedEarly = true;
        break;
      }
      if (maxMs > 0 && performance.now() - start > maxMs && step < steps) {
        timedOut = true;
        break;
      }
    }
  } finally {
    arena.clear(); // gives the arena's buffers back (the wasm backend's shared memory among them)
  }
  const evaluatedLast = curve.length > 0 && curve[curve.length - 1]!.step === step && curve[curve.length - 1]!.eval !== undefined;
  const final = evaluatedLast && lastEval ? lastEval : evaluate(model, task, config, evalBatches);
  if (!evaluatedLast) curve.push({ step, loss: stepsSinceLast > 0 ? lossSinceLast / stepsSinceLast : curve.at(-1)?.loss ?? NaN, eval: finiteOrNull(final.value) });
  const wallSeconds = (performance.now() - start) / 1000;
  return { steps: step, stoppedEarly, timedOut, final, curve, wallSeconds, tokensPerSecond: tokens / Math.max(wallSeconds, 1e-9) };
}

export function finiteOrNull(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}
