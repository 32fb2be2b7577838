/** @tensorflow/tfjs-backend-wasm as a matmul peer (SIMD; single-threaded in Node). */
import { callsPerSecond, loadPeer } from "./load.js";

interface TfTensor { dispose(): void; dataSync(): ArrayLike<number> }
interface Tf {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  tensor2d(values: Float32Array, shape: [number, number]): TfTensor;
  matMul(a: TfTensor, b: TfTensor): TfTensor;
}

let backend: Promise<Tf | undefined> | undefined;

async function loadTf(): Promise<Tf | undefined> {
  const tf = loadPeer<Tf>("@tensorflow/tfjs-core");
  if (!tf || !loadPeer<unknown>("@tensorflow/tfjs-backend-wasm")) return undefined;
  if (!(await tf.setBackend("wasm"))) return undefined;
  await tf.ready();
  return tf;
}

/** GFLOP/s of tfjs-backend-wasm's matMul (result read back), or undefined when it is not installed. */
export async function tfjsMatmul(m: number, n: number, k: number): Promise<number | undefined> {
  backend ??= loadTf();
  const tf = await backend;
  if (!tf) return undefined;
  const a = tf.tensor2d(new Float32Array(m * k).fill(0.5), [m, k]);
  const b = tf.tensor2d(new Float32Array(k * n).fill(0.25), [k, n]);
  const rate = await callsPerSecond(() => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  });
  a.dispose();
  b.dispose();
  return (2 * m * n * k * rate) / 1e9;
}
