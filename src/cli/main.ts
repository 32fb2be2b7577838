/**
 * The `seqmix` command. Each subcommand lives in cli/commands/ and registers itself on the program; later
 * issues add op, train, lab, export. `main` returns the exit code instead of exiting, so it can be tested.
 */
import { Command, CommanderError } from "commander";
import { registerDemo } from "./commands/demo.js";
import { registerOpCommand } from "./commands/op.js";
import { registerTrain } from "./commands/train.js";
import { registerLab } from "./commands/lab.js";

import { packageVersion } from "../version.js";

export { packageVersion };

export function buildProgram(): Command {
  const program = new Command("seqmix")
    .description("Sequence mixers for TypeScript: attention, linear attention, RetNet, GLA, DeltaNet, Mamba, RNNs, test-time memory — and a lab of synthetic tasks")
    .version(packageVersion(), "-v, --version", "print the seqmix version")
    .showHelpAfterError("(run `seqmix --help` for usage)")
    .exitOverride();
  registerDemo(program);
  registerOpCommand(program);
  registerTrain(program);
  registerLab(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`seqmix: ${message}\n`);
    return 1;
  }
}
