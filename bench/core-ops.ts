/**
 * `node dist/bench/core-ops.js`: forward+backward of the tensor-core ops a training step of the 2-layer d=128 LM
 * (B=64, T=256) spends its non-matmul time in, each fused form next to its unfused composition, at the step's
 * shapes (f32, one thread). Prints the median ms and the ratio composition / fused.
 */
import { Tensor } from "../src/core/tensor.js";
import { Random } from "../src/core/random.js";
import { randn } from "../src/core/create.js";
import { add, mul, rsqrt, silu, sigmoid } from "../src/core/ops/elementwise.js";
import { mean, logSoftmax, sum } from "../src/core/ops/reduce.js";
import { causalConv1d, crossEntropy, rmsNorm, swiglu } from "../src/core/ops/nn.js";
import { gather, indices, pad, reshape, slice } from "../src/core/ops/shape.js";
import { printTable, timeMs } from "./timing.js";

const [B, T, D, H, V] = [64, 256, 128, 341, 256];
const N = B * T;
const rng = new Random(0);
const leaf = (shape: number[], std = 1): Tensor => randn(shape, rng, { std }).requireGrad();

/** Median ms of f(inputs) followed by backward with a ones seed. */
function fwdBwd(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[]): number {
  return timeMs(() => {
    for (const x of inputs) x.grad = null;
    const y = f(...inputs);
    y.backward(y.size === 1 ? undefined : new Tensor(new Float32Array(y.size).fill(1), y.shape));
  }, { reps: 5, budgetMs: 8000 });
}

const rows: string[][] = [];
function compare(name: string, fused: (...xs: Tensor[]) => Tensor, composition: ((...xs: Tensor[]) => Tensor) | null, inputs: Tensor[]): void {
  const a = fwdBwd(fused, inputs);
  const b = composition ? fwdBwd(composition, inputs) : NaN;
  rows.push([name, a.toFixed(1), Number.isNaN(b) ? "-" : b.toFixed(1), Number.isNaN(b) ? "-" : (b / a).toFixed(2)]);
}

const targets = Int32Array.from({ length: N }, () => rng.integer(0, V));
const gate = leaf([N, H], 2);
const up = leaf([N, H]);
compare("swiglu [16384,341]", swiglu, (a, u) => mul(silu(a), u), [gate, up]);
const x = leaf([N, D]);
const w = leaf([D]);
compare("rmsNorm [16384,128]", (a, b) => rmsNorm(a, b), (a, b) => mul(mul(a, rsqrt(add(mean(mul(a, a), -1, true), 1e-5))), b), [x, w]);
const logits = leaf([N, V], 2);
compare(
  "crossEntropy [16384,256]",
  (l) => crossEntropy(l, targets),
  (l) => mul(sum(gather(logSoftmax(l, -1), 1, indices(targets, [N, 1]))), -1 / N),
  [logits],
);
compare("silu [16384,341]", silu, null, [gate]);
compare("sigmoid [16384,341]", sigmoid, null, [gate]);
compare("bias add [16384,128] + [128]", add, null, [x, w]);
const cx = leaf([B, T, 2 * D]);
const cw = leaf([2 * D, 4]);
const cb = leaf([2 * D]);
compare("causalConv1d [64,256,256] W=4", causalConv1d, (xx, ww, bb) => {
  const xp = pad(xx, [[0, 0], [3, 0], [0, 0]]);
  let acc: Tensor = bb;
  for (let j = 0; j < 4; j++) acc = add(acc, mul(slice(xp, 1, j, j + T), reshape(slice(ww, 1, j, j + 1), [-1])));
  return acc;
}, [cx, cw, cb]);

console.log(`core ops, forward + backward, f32, median ms — node ${process.version}`);
printTable(["op", "fused ms", "composition ms", "ratio"], rows);
