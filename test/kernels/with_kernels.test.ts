/** `withKernels` makes a backend active for one call and restores the previous one, also when the call throws. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { getKernels, jsKernels, withKernels, type Kernels } from "../../src/kernels/index.js";

test("withKernels: active inside, restored after a return and after a throw", () => {
  const before = getKernels();
  const other: Kernels = { ...jsKernels, name: "other" };
  assert.equal(withKernels(other, () => getKernels().name), "other");
  assert.equal(getKernels(), before);
  assert.throws(() => withKernels(other, () => { throw new Error("inside"); }), /inside/);
  assert.equal(getKernels(), before);
});
