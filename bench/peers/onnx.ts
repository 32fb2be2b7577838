/**
 * onnxruntime-node as a matmul peer: a one-node ONNX graph (Y = MatMul(A, B), float32) written by hand in
 * protobuf wire format (onnx.proto: ModelProto → GraphProto → NodeProto / ValueInfoProto), so no onnx
 * tooling is needed, run through an InferenceSession with a given intra-op thread count.
 */
import { callsPerSecond, loadPeer } from "./load.js";

interface OrtTensor { readonly data: unknown }
interface OrtSession { run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }
interface Ort {
  InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: "float32", data: Float32Array, dims: number[]) => OrtTensor;
}

function varint(v: number): number[] {
  const out: number[] = [];
  while (v > 127) {
    out.push((v & 127) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
const int = (field: number, v: number): number[] => [(field << 3) | 0, ...varint(v)];
const bytes = (field: number, b: number[]): number[] => [(field << 3) | 2, ...varint(b.length), ...b];
const str = (field: number, s: string): number[] => bytes(field, [...new TextEncoder().encode(s)]);

/** ValueInfoProto of a float32 tensor with a fixed shape. */
function tensorInfo(name: string, dims: number[]): number[] {
  const shape = dims.flatMap((d) => bytes(1, int(1, d))); // TensorShapeProto.dim { dim_value }
  const tensorType = [...int(1, 1), ...bytes(2, shape)]; // elem_type FLOAT = 1, shape
  return [...str(1, name), ...bytes(2, bytes(1, tensorType))]; // name, TypeProto { tensor_type }
}

export function matmulModel(m: number, n: number, k: number): Uint8Array {
  const node = [...str(1, "A"), ...str(1, "B"), ...str(2, "Y"), ...str(3, "mm"), ...str(4, "MatMul")];
  const graph = [...bytes(1, node), ...str(2, "g"), ...bytes(11, tensorInfo("A", [m, k])), ...bytes(11, tensorInfo("B", [k, n])), ...bytes(12, tensorInfo("Y", [m, n]))];
  const opset = [...str(1, ""), ...int(2, 13)];
  return new Uint8Array([...int(1, 8), ...bytes(8, opset), ...bytes(7, graph)]);
}

/** GFLOP/s of onnxruntime's MatMul per thread count, or undefined when onnxruntime-node is not installed. */
export async function onnxMatmul(m: number, n: number, k: number, threads: number): Promise<number | undefined> {
  const ort = loadPeer<Ort>("onnxruntime-node");
  if (!ort) return undefined;
  const session = await ort.InferenceSession.create(matmulModel(m, n, k), { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all" });
  const feeds = { A: new ort.Tensor("float32", new Float32Array(m * k).fill(0.5), [m, k]), B: new ort.Tensor("float32", new Float32Array(k * n).fill(0.25), [k, n]) };
  return (2 * m * n * k * (await callsPerSecond(() => session.run(feeds)))) / 1e9;
}
