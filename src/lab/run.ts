/**
 * One run of a sweep: build the model for the task, train it (src/train/trainer.ts), evaluate it on the extra
 * evaluations (longer lengths, slices) and return the {@link RunRecord} that goes into results.jsonl.
 * A run that diverges or throws still returns a record (status "diverged" / "error" with the message), so a
 * sweep never loses its other results to one bad configuration.
 */
import { LanguageModel } from "../models/lm.js";
import type { LMConfigInput } from "../models/config.js";
import { getTask } from "../tasks/index.js";
import { evalSet } from "../tasks/streams.js";
import { parseTaskConfig, type AnyTask } from "../tasks/types.js";
import { evaluate, finiteOrNull, trainOnTask, TrainingDivergedError, type StepInfo } from "../train/trainer.js";
import type { RunRecord, SliceResult } from "./record.js";
import type { RunSpec } from "./sweep.js";
import { packageVersion } from "../version.js";

/** The model config of a run: the task's vocabulary (or real-valued read-in) and read-out, the run's schedule. */
export function taskModelConfig(task: AnyTask, taskConfig: unknown, spec: Pick<RunSpec, "layers" | "dModel" | "mlp">): LMConfigInput {
  const config = parseTaskConfig(task, taskConfig);
  const io =
    task.inputDim !== undefined
      ? { inputDim: task.inputDim(config), numClasses: task.numClasses(config) }
      : { vocabSize: task.vocabSize(config), numClasses: task.numClasses(config) };
  return { ...io, dModel: spec.dModel, layers: [...spec.layers], mlp: spec.mlp, tieEmbeddings: false };
}

/** Builds the run's model; the init seed is the run's seed (the data streams fork from it separately). */
export function buildRunModel(spec: RunSpec): LanguageModel {
  return new LanguageModel(taskModelConfig(getTask(spec.task), spec.taskConfig, spec), { seed: spec.seed });
}

export type RunProgress = Pick<StepInfo, "step" | "steps" | "loss" | "tokensPerSecond"> & { evalValue: number | null };

export function executeRun(spec: RunSpec, onProgress?: (p: RunProgress) => void): RunRecord {
  const task = getTask(spec.task);
  const start = performance.now();
  const base = {
    id: spec.id,
    sweep: spec.sweep,
    task: spec.task,
    taskLabel: spec.taskLabel,
    taskConfig: spec.taskConfig,
    mixer: spec.mixer,
    dModel: spec.dModel,
    lr: spec.lr,
    seed: spec.seed,
    metric: task.solvedMetric,
    stepsPlanned: spec.steps,
    batchSize: spec.batchSize,
    version: packageVersion(),
  };
  let model: LanguageModel | null = null;
  let lastStep = 0;
  try {
    model = buildRunModel(spec);
    const trainLength = task.seqLen(parseTaskConfig(task, spec.taskConfig));
    const result = trainOnTask({
      task,
      taskConfig: spec.taskConfig,
      model,
      seed: spec.seed,
      steps: spec.steps,
      batchSize: spec.batchSize,
      lr: spec.lr,
      weightDecay: spec.weightDecay,
      evalExamples: spec.evalExamples,
      evalEvery: Math.max(1, Math.ceil(spec.steps / spec.evalsPerRun)),
      earlyStop: spec.earlyStop,
      maxSeconds: spec.maxRunSeconds,
      onStep: (info) => {
        lastStep = info.step;
        onProgress?.({ step: info.step, steps: info.steps, loss: info.loss, tokensPerSecond: info.tokensPerSecond, evalValue: info.lastEval?.value ?? null });
      },
    });
    const slices: SliceResult[] = spec.evals.map((e) => {
      const config = parseTaskConfig(task, { ...spec.taskConfig, ...e.config });
      const r = evaluate(model!, task, config, evalSet(task, config, spec.seed, spec.evalExamples, 128));
      const seqLen = task.seqLen(config);
      return { label: e.label, seqLen, value: finiteOrNull(r.value), stateFloats: model!.stateSize(seqLen) };
    });
    return {
      ...base,
      model: model.config as unknown as Record<string, unknown>,
      params: model.numParameters(),
      stateFloats: model.stateSize(trainLength),
      value: finiteOrNull(result.final.value),
      accuracy: result.final.accuracy === null ? null : finiteOrNull(result.final.accuracy),
      evalLoss: finiteOrNull(result.final.loss),
      solved: result.final.solved,
      steps: result.steps,
      stoppedEarly: result.stoppedEarly,
      timedOut: result.timedOut,
      curve: result.curve,
      slices,
      wallSeconds: (performance.now() - start) / 1000,
      tokensPerSecond: result.tokensPerSecond,
      status: "ok",
      finishedAt: new Date().toISOString(),
    };
  } catch (e) {
    const diverged = e instanceof TrainingDivergedError;
    return failedRecord(spec, diverged ? "diverged" : "error", e instanceof Error ? e.message : String(e), {
      metric: task.solvedMetric,
      ...(model
        ? {
            model: model.config as unknown as Record<string, unknown>,
            params: model.numParameters(),
            stateFloats: model.stateSize(task.seqLen(parseTaskConfig(task, spec.taskConfig))),
          }
        : {}),
      steps: diverged ? (e as TrainingDivergedError).step : lastStep,
      wallSeconds: (performance.now() - start) / 1000,
    });
  }
}

/** The record of a run that did not finish: no metric values, the reason in `error`; `known` fills what is known. */
export function failedRecord(
  spec: RunSpec,
  status: "diverged" | "error",
  error: string,
  known: Partial<Pick<RunRecord, "metric" | "model" | "params" | "stateFloats" | "steps" | "wallSeconds">> = {},
): RunRecord {
  return {
    id: spec.id,
    sweep: spec.sweep,
    task: spec.task,
    taskLabel: spec.taskLabel,
    taskConfig: spec.taskConfig,
    mixer: spec.mixer,
    model: { layers: spec.layers, dModel: spec.dModel },
    dModel: spec.dModel,
    lr: spec.lr,
    seed: spec.seed,
    params: 0,
    stateFloats: 0,
    metric: "",
    value: null,
    accuracy: null,
    evalLoss: null,
    solved: false,
    stepsPlanned: spec.steps,
    steps: 0,
    batchSize: spec.batchSize,
    stoppedEarly: false,
    timedOut: false,
    curve: [],
    slices: [],
    wallSeconds: 0,
    tokensPerSecond: 0,
    ...known,
    status,
    error,
    version: packageVersion(),
    finishedAt: new Date().toISOString(),
  };
}
