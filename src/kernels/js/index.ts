/** The plain-TypeScript kernel backend: runs everywhere, no start-up cost; the fallback for every other backend. */
import type { Kernels } from "../types.js";
import { matmulFast } from "./matmul.js";
import { mapJs } from "./maps.js";
import { scanBackwardJs, scanForwardJs } from "./scan.js";
import { shortConvBackwardJs, shortConvForwardJs } from "./short_conv.js";
import { logSumExpRows, softmaxRows } from "./rows.js";
import { rmsNormBackwardRowsJs, rmsNormRowsJs } from "./norm.js";
import { unitLowerInverseJs } from "./tri.js";
import { softmaxTileBackwardJs, softmaxTileForwardJs } from "./softmax_tile.js";
import { gateChunkBackwardJs, gateChunkPrepareJs } from "./gate_chunk.js";
import { copyRowsJs } from "./copy_rows.js";
import { deltaChunkBackwardMiddleJs, deltaChunkBackwardPrepJs, deltaChunkStateGradJs } from "./delta_chunk_backward.js";
import { deltaChunkForwardPrepJs } from "./delta_chunk_forward.js";

export { matmulFast } from "./matmul.js";
export { matmulNaive } from "./naive.js";
export { logSumExpRows, softmaxRows } from "./rows.js";
export { mapJs } from "./maps.js";
export { scanBackwardJs, scanForwardJs } from "./scan.js";
export { rmsNormBackwardRowsJs, rmsNormRowsJs } from "./norm.js";
export { unitLowerInverseJs } from "./tri.js";
export { softmaxTileBackwardJs, softmaxTileForwardJs } from "./softmax_tile.js";
export { gateChunkBackwardJs, gateChunkPrepareJs } from "./gate_chunk.js";
export { shortConvBackwardJs, shortConvForwardJs } from "./short_conv.js";
export { copyRowsJs } from "./copy_rows.js";
export { deltaChunkBackwardMiddleJs, deltaChunkBackwardPrepJs, deltaChunkStateGradJs } from "./delta_chunk_backward.js";
export { deltaChunkForwardPrepJs } from "./delta_chunk_forward.js";

export const jsKernels: Kernels = {
  name: "js",
  matmul: matmulFast,
  matmulF64: matmulFast,
  softmaxRows,
  logSumExpRows,
  map: mapJs,
  copyRows: copyRowsJs,
  scanForward: scanForwardJs,
  scanBackward: scanBackwardJs,
  rmsNormRows: rmsNormRowsJs,
  rmsNormBackwardRows: rmsNormBackwardRowsJs,
  unitLowerInverse: unitLowerInverseJs,
  softmaxTileForward: softmaxTileForwardJs,
  softmaxTileBackward: softmaxTileBackwardJs,
  gateChunkPrepare: gateChunkPrepareJs,
  gateChunkBackward: gateChunkBackwardJs,
  shortConvForward: shortConvForwardJs,
  shortConvBackward: shortConvBackwardJs,
  deltaChunkBackwardPrep: deltaChunkBackwardPrepJs,
  deltaChunkBackwardMiddle: deltaChunkBackwardMiddleJs,
  deltaChunkStateGrad: deltaChunkStateGradJs,
  deltaChunkForwardPrep: deltaChunkForwardPrepJs,
};
