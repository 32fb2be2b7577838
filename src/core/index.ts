/** The tensor core: tensors, autodiff, ops, PRNG and gradcheck. */
export { Tensor, type TensorLike } from "./tensor.js";
export { type DType, type FloatArray, DTYPES } from "./dtype.js";
export { type Shape, shapeString, sizeOf, broadcastShapes } from "./shape.js";
export { noGrad, enableGrad, isGradEnabled, type BackwardOptions } from "./autograd.js";
export { BufferArena, outsideArena, activeArena, type ArenaOptions, type ArenaStats } from "./arena.js";
export { Random, type RandomState, deterministicLog } from "./random.js";
export { tensor, zeros, ones, full, zerosLike, onesLike, scalar, arange, randn, rand, type CreateOptions } from "./create.js";
export { gradcheck, GradcheckError, type GradcheckOptions, type GradcheckReport } from "./gradcheck.js";
export {
  add, sub, mul, div, neg, pow, exp, log, sqrt, rsqrt, abs, square, tanh, sigmoid, silu, gelu, relu, elu,
  softplus, logsigmoid, where, maximum, minimum, clamp, cast,
} from "./ops/elementwise.js";
export { matmul } from "./ops/matmul.js";
export { sum, mean, max, logsumexp, softmax, logSoftmax, cumsum, sumTo } from "./ops/reduce.js";
export {
  reshape, permute, transpose, slice, expand, unsqueeze, squeeze, contiguous, concat, stack, pad,
  indexSelect, gather, oneHot, tril, triu, indices, type Indices,
} from "./ops/shape.js";
export { rmsNorm, layerNorm, crossEntropy, swiglu, causalConv1d, dropout, type CrossEntropyOptions } from "./ops/nn.js";
export { withGradMulti } from "./multi.js";
export { record } from "./autograd.js";
