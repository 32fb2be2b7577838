/**
 * `seqmix train --task mqar --mixer gla --d-model 64 …`: one training run on a synthetic task with a progress bar
 * (steps, loss, accuracy, tokens/s, ETA), held-out evaluation, early stop at the task's solved threshold, and a
 * checkpoint of the final model (safetensors, written atomically, config in its metadata).
 */
import type { Command } from "commander";
import cliProgress from "cli-progress";
import { saveModel } from "../../models/io.js";
import { LanguageModel } from "../../models/lm.js";
import { getTask } from "../../tasks/index.js";
import { parseTaskConfig } from "../../tasks/types.js";
import { trainOnTask } from "../../train/trainer.js";
import { taskModelConfig } from "../../lab/run.js";
import { getLayer } from "../../layers/registry.js";
import "../../layers/index.js";
import { parseJsonOption, parseNumber, parseInteger } from "../parse.js";

export interface TrainCommandOptions {
  task: string;
  taskConfig?: string;
  mixer: string;
  layerConfig?: string;
  dModel: string;
  layers: string;
  mlp: string;
  lr: string;
  steps: string;
  batchSize: string;
  seed: string;
  evalExamples: string;
  earlyStop: boolean;
  out?: string;
  progress?: boolean;
}

export function runTrainCommand(options: TrainCommandOptions, print: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): void {
  const task = getTask(options.task);
  const taskConfig = parseTaskConfig(task, parseJsonOption("--task-config", options.taskConfig));
  getLayer(options.mixer); // unknown mixer → error listing the known ones
  const layerOptions = parseJsonOption("--layer-config", options.layerConfig) as Record<string, unknown>;
  const nLayers = parseInteger("--layers", options.layers, 1);
  if (options.mlp !== "none" && options.mlp !== "swiglu") throw new Error(`--mlp must be 'none' or 'swiglu', got '${options.mlp}'`);
  const spec = { type: options.mixer, ...layerOptions };
  const model = new LanguageModel(
    taskModelConfig(task, taskConfig, { layers: Array.from({ length: nLayers }, () => spec), dModel: parseInteger("--d-model", options.dModel, 1), mlp: options.mlp }),
    { seed: parseInteger("--seed", options.seed, 0) },
  );
  const steps = parseInteger("--steps", options.steps, 1);
  const out = options.out ?? `seqmix-${task.name}-${options.mixer}.safetensors`;
  print(`${task.describe(taskConfig)}`);
  print(`model: ${nLayers}× ${options.mixer}, d=${model.config.dModel}, ${model.numParameters()} parameters, state ${model.stateSize(task.seqLen(taskConfig))} floats/sequence`);

  const showBar = options.progress ?? Boolean(process.stderr.isTTY);
  const bar = showBar
    ? new cliProgress.SingleBar(
        { format: " {bar} {value}/{total} steps | loss {loss} | acc {acc} | eval {evalv} | {tps} tok/s | ETA {eta_formatted}", hideCursor: true, stream: process.stderr, etaBuffer: 50 },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(steps, 0, { loss: "-", acc: "-", evalv: "-", tps: "-" });
  let result;
  try {
    result = trainOnTask({
      task,
      taskConfig,
      model,
      seed: parseInteger("--seed", options.seed, 0),
      steps,
      batchSize: parseInteger("--batch-size", options.batchSize, 1),
      lr: parseNumber("--lr", options.lr),
      evalExamples: parseInteger("--eval-examples", options.evalExamples, 1),
      earlyStop: options.earlyStop,
      onStep: (s) =>
        bar?.update(s.step, {
          loss: s.loss.toFixed(3),
          acc: s.trainAccuracy === null ? "-" : s.trainAccuracy.toFixed(3),
          evalv: s.lastEval ? s.lastEval.value.toFixed(3) : "-",
          tps: Math.round(s.tokensPerSecond),
        }),
    });
  } finally {
    bar?.stop();
  }
  const f = result.final;
  print(
    `after ${result.steps} steps (${result.wallSeconds.toFixed(1)} s, ${Math.round(result.tokensPerSecond)} tokens/s)${result.stoppedEarly ? ", stopped early: solved" : ""}: ` +
      `held-out ${task.solvedMetric} ${f.value.toFixed(4)} (${f.solved ? "solved" : `not solved; threshold ${task.solvedThreshold}`}), loss ${f.loss.toFixed(4)}`,
  );
  saveModel(model, out);
  print(`checkpoint: ${out}`);
}

export function registerTrain(program: Command): void {
  program
    .command("train")
    .description("train one model on a synthetic task (progress bar, held-out eval, early stop, checkpoint)")
    .requiredOption("--task <name>", "task: mqar, selective_copy, induction_heads, passkey, niah, set_disjointness, parity, modular_counting, s5_composition, icl_linear_regression")
    .option("--task-config <json>", "task config overrides, e.g. '{\"seqLen\": 48, \"numKvPairs\": 8}'")
    .requiredOption("--mixer <type>", "layer type, e.g. attention, gla, deltanet, mamba")
    .option("--layer-config <json>", "layer options, e.g. '{\"useShortConv\": true}'")
    .option("--d-model <n>", "model width", "32")
    .option("--layers <n>", "number of layers", "2")
    .option("--mlp <kind>", "none | swiglu", "none")
    .option("--lr <x>", "peak learning rate (warm-up 5%, cosine to 0)", "3e-3")
    .option("--steps <n>", "training steps", "1000")
    .option("--batch-size <n>", "sequences per step", "32")
    .option("--seed <n>", "seed of the init and the data", "0")
    .option("--eval-examples <n>", "held-out examples", "512")
    .option("--no-early-stop", "train all steps even once solved")
    .option("--out <path>", "checkpoint path (default seqmix-<task>-<mixer>.safetensors)")
    .action((opts: TrainCommandOptions) => runTrainCommand(opts));
}
