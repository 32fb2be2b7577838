/**
 * One finished run of a sweep, as stored in `DIR/results.jsonl` (one JSON object per line, appended when the
 * run ends). The report and the terminal table read only these records, so a results file is a complete,
 * self-describing account of a sweep. Numbers that do not exist are `null` (JSON has no NaN).
 */

/** A point of the training curve (train loss averaged since the previous point; eval metric where evaluated). */
export interface CurvePoint {
  readonly step: number;
  /** mean training loss over the steps since the previous point */
  readonly loss: number;
  /** the task's headline metric on the held-out set, when an evaluation ran at this step */
  readonly eval?: number | null;
}

/** The headline metric at one evaluation length (length extrapolation) or one slice of a task. */
export interface SliceResult {
  /** e.g. "T=96", "(4,16)", "depth 0.5" */
  readonly label: string;
  /** input length of the slice */
  readonly seqLen: number;
  readonly value: number | null;
  /** recurrent state floats per sequence at this length (attention's KV cache grows with it) */
  readonly stateFloats: number;
}

export type RunStatus = "ok" | "diverged" | "error";

export interface RunRecord {
  /** stable identity of the run spec (hash of everything below that defines the run); resume key */
  readonly id: string;
  /** the sweep (preset name or config file name) */
  readonly sweep: string;
  /** task registry name, e.g. "mqar" */
  readonly task: string;
  /** a label telling task variants apart within a sweep (e.g. "small-first+jrt"); the task name if none */
  readonly taskLabel: string;
  /** the full parsed task config */
  readonly taskConfig: Record<string, unknown>;
  /** mixer label as shown in the report (e.g. "gla", "swa-8", "mamba-lti") */
  readonly mixer: string;
  /** the model config the run was built from (LMConfig JSON) */
  readonly model: Record<string, unknown>;
  readonly dModel: number;
  readonly lr: number;
  readonly seed: number;
  /** parameters of the model */
  readonly params: number;
  /** recurrent state floats per sequence summed over layers at the training length (tasks.md §1, mixers.md §17) */
  readonly stateFloats: number;
  /** the task's solved metric name: accuracy | exactMatch | scaledAccuracy | minPositionAccuracy | normalizedMse */
  readonly metric: string;
  /** final held-out value of `metric` at the training length (null when the run failed) */
  readonly value: number | null;
  /** micro-averaged accuracy on held-out scored positions (null for regression) */
  readonly accuracy: number | null;
  /** held-out loss (cross-entropy, or MSE for regression) */
  readonly evalLoss: number | null;
  /** true when `value` passes the task's threshold */
  readonly solved: boolean;
  /** steps planned and steps run (fewer when stopped early at the target) */
  readonly stepsPlanned: number;
  readonly steps: number;
  readonly batchSize: number;
  /** ended before stepsPlanned because the held-out metric reached the solved threshold */
  readonly stoppedEarly: boolean;
  /** ended before stepsPlanned because the sweep's per-run wall-clock cap was hit */
  readonly timedOut: boolean;
  readonly curve: readonly CurvePoint[];
  /** held-out metric at longer lengths than trained, and/or named slices */
  readonly slices: readonly SliceResult[];
  readonly wallSeconds: number;
  readonly tokensPerSecond: number;
  readonly status: RunStatus;
  /** what went wrong when status is not ok */
  readonly error?: string;
  /** seqmix version and the time the run ended (ISO) */
  readonly version: string;
  readonly finishedAt: string;
}
