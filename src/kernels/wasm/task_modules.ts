/**
 * The modules that define tasks (`defineTask` in ../parallel.ts). Every worker imports this list when it
 * starts, so that it knows each task by name; a module that defines a task must be listed here. Static
 * imports, so that bundlers include them in the worker's bundle.
 */
import "../probe_task.js";
import "../../ops/attention/chunk.js";
import "../../ops/selective_scan/chunk.js";
import "../../ops/delta_common/engine.js";
import "../../ops/decay_chunk/engine.js";
import "../../ops/decay_chunk/vector_gate.js";
import "../../core/ops/norm_rows.js";
import "../../core/ops/elementwise.js";
import "../../core/ops/map_task.js";
import "../../layers/delta_branch.js";
